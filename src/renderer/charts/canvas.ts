import { useEffect, useState, type RefObject } from "react";

/** Width of a box, following resizes. */
export function useWidth(ref: RefObject<HTMLElement | null>, initial = 800): number {
  const [width, setWidth] = useState(initial);
  useEffect(() => {
    const box = ref.current;
    if (box === null) return;
    const observer = new ResizeObserver((entries) => {
      const w = Math.floor(entries[0]?.contentRect.width ?? initial);
      if (w > 0) setWidth(w);
    });
    observer.observe(box);
    return () => observer.disconnect();
  }, [ref, initial]);
  return width;
}

/** Sizes a canvas for the screen's pixel ratio and returns its 2D context in CSS pixels. */
export function prepareCanvas(
  canvas: HTMLCanvasElement,
  width: number,
  height: number,
): CanvasRenderingContext2D | null {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.floor(width * ratio);
  canvas.height = Math.floor(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  if (ctx === null) return null;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  return ctx;
}

/** Width of labels in the canvas font, so none is cut off. */
export function labelWidth(labels: string[], max = 220): number {
  const ctx = document.createElement("canvas").getContext("2d");
  if (ctx === null) return 90;
  ctx.font = "11px system-ui, sans-serif";
  const widest = Math.max(0, ...labels.map((l) => ctx.measureText(l).width));
  return Math.min(max, Math.ceil(widest) + 8);
}

/** Diagonal hatching over a cell: how incomplete counts are marked in every canvas view. */
export function hatch(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number): void {
  ctx.save();
  ctx.beginPath();
  ctx.rect(x, y, w, h);
  ctx.clip();
  ctx.strokeStyle = "rgba(230, 60, 20, 0.95)";
  ctx.lineWidth = 1.5;
  for (let d = -h; d < w; d += 5) {
    ctx.beginPath();
    ctx.moveTo(x + d, y + h);
    ctx.lineTo(x + d + h, y);
    ctx.stroke();
  }
  ctx.restore();
}
