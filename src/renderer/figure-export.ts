/**
 * Saving a figure as PNG or SVG in the browser. Vector charts (recharts' SVG) are serialized as
 * they are, and rasterized for PNG; canvas figures give their pixels for PNG, and an SVG that
 * wraps those pixels (a bitmap, said so in its title). Only data: URLs are used (the page's CSP).
 */

const svgNs = "http://www.w3.org/2000/svg";

function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function svgText(svg: SVGSVGElement, title: string): { text: string; width: number; height: number } {
  const box = svg.getBoundingClientRect();
  const width = Math.ceil(box.width);
  const height = Math.ceil(box.height);
  const copy = svg.cloneNode(true) as SVGSVGElement;
  copy.setAttribute("xmlns", svgNs);
  copy.setAttribute("width", String(width));
  copy.setAttribute("height", String(height));
  copy.setAttribute("viewBox", `0 0 ${width} ${height}`);
  copy.setAttribute("font-family", "system-ui, sans-serif");
  const bg = document.createElementNS(svgNs, "rect");
  bg.setAttribute("width", "100%");
  bg.setAttribute("height", "100%");
  bg.setAttribute("fill", "#ffffff");
  copy.insertBefore(bg, copy.firstChild);
  const t = document.createElementNS(svgNs, "title");
  t.textContent = title;
  copy.insertBefore(t, copy.firstChild);
  return { text: new XMLSerializer().serializeToString(copy), width, height };
}

function canvasToPng(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the canvas gave no PNG"))), "image/png"),
  );
}

async function svgToPng(svg: { text: string; width: number; height: number }, scale = 2): Promise<Blob> {
  const img = new Image();
  let binary = "";
  for (const b of new TextEncoder().encode(svg.text)) binary += String.fromCharCode(b);
  const url = `data:image/svg+xml;base64,${btoa(binary)}`;
  await new Promise<void>((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error("the SVG could not be drawn"));
    img.src = url;
  });
  const canvas = document.createElement("canvas");
  canvas.width = svg.width * scale;
  canvas.height = svg.height * scale;
  const ctx = canvas.getContext("2d");
  if (ctx === null) throw new Error("no 2D canvas");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  return canvasToPng(canvas);
}

/** The figure's main drawing: its first chart SVG (recharts' or its own svg.figure-surface), else a canvas. */
function drawingOf(root: HTMLElement): { svg?: SVGSVGElement; canvas?: HTMLCanvasElement } {
  const svg = root.querySelector<SVGSVGElement>("svg.recharts-surface, svg.figure-surface");
  if (svg !== null) return { svg };
  const canvas = root.querySelector<HTMLCanvasElement>("canvas");
  return canvas === null ? {} : { canvas };
}

export async function exportFigure(
  root: HTMLElement,
  format: "png" | "svg",
  baseName: string,
  title: string,
): Promise<string> {
  const { svg, canvas } = drawingOf(root);
  const name = `${baseName}.${format}`;
  if (svg !== undefined) {
    const s = svgText(svg, title);
    download(format === "svg" ? new Blob([s.text], { type: "image/svg+xml" }) : await svgToPng(s), name);
    return name;
  }
  if (canvas !== undefined) {
    if (format === "png") {
      download(await canvasToPng(canvas), name);
      return name;
    }
    const w = canvas.clientWidth || canvas.width;
    const h = canvas.clientHeight || canvas.height;
    const text =
      `<svg xmlns="${svgNs}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
      `<title>${escapeXml(title)} (bitmap)</title>` +
      `<image width="${w}" height="${h}" href="${canvas.toDataURL("image/png")}"/></svg>`;
    download(new Blob([text], { type: "image/svg+xml" }), name);
    return name;
  }
  throw new Error("this figure has nothing drawn yet");
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!);
}
