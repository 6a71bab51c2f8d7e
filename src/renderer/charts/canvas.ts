import { useEffect, useState, type MouseEvent, type RefObject } from "react";

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

/** Rows of units (labelled on the left) × columns of cells: how the units × images heatmaps draw. */
export function drawUnitRows(
  ctx: CanvasRenderingContext2D,
  o: {
    labels: readonly string[];
    labelPx: number;
    width: number;
    rowPx: number;
    columns: number;
    /** The fill of unit `row`'s cell in column `column`. */
    cellColor: (row: number, column: number) => string;
    labelColor?: (row: number) => string;
  },
): void {
  const cellW = Math.max(1, o.width - o.labelPx) / Math.max(1, o.columns);
  o.labels.forEach((label, i) => {
    ctx.fillStyle = o.labelColor?.(i) ?? "#333";
    ctx.fillText(label, 2, i * o.rowPx + o.rowPx / 2);
    for (let c = 0; c < o.columns; c++) {
      ctx.fillStyle = o.cellColor(i, c);
      ctx.fillRect(o.labelPx + c * cellW, i * o.rowPx, Math.ceil(cellW), o.rowPx - 1);
    }
  });
}

/** The unit row and column under the pointer in a `drawUnitRows` canvas, or null over the labels or outside. */
export function unitRowAt(
  e: MouseEvent<HTMLCanvasElement>,
  o: { labelPx: number; width: number; rowPx: number; rows: number; columns: number },
): { row: number; column: number } | null {
  const rect = e.currentTarget.getBoundingClientRect();
  const x = e.clientX - rect.left - o.labelPx;
  const row = Math.floor((e.clientY - rect.top) / o.rowPx);
  const column = Math.floor((x / Math.max(1, o.width - o.labelPx)) * o.columns);
  if (x < 0 || row < 0 || row >= o.rows || column < 0 || column >= o.columns) return null;
  return { row, column };
}
