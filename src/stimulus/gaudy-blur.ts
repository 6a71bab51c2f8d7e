import type { RgbImage } from "./image.js";
import { gaudy } from "./generators.js";

/** Separable Gaussian blur per channel (edges clamped); sigma in pixels, 0 returns a copy. */
export function gaussianBlur(image: RgbImage, sigmaPx: number): RgbImage {
  const { width: w, height: h } = image;
  if (!(sigmaPx > 0)) return { width: w, height: h, pixels0to255: image.pixels0to255.slice() };
  const radius = Math.ceil(3 * sigmaPx);
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigmaPx * sigmaPx)),
  );
  const sum = kernel.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  const tmp = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++)
          s += kernel[k + radius]! * image.pixels0to255[(y * w + Math.min(w - 1, Math.max(0, x + k))) * 3 + c]!;
        tmp[(y * w + x) * 3 + c] = s;
      }
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++)
          s += kernel[k + radius]! * tmp[(Math.min(h - 1, Math.max(0, y + k)) * w + x) * 3 + c]!;
        out[(y * w + x) * 3 + c] = Math.round(Math.min(255, Math.max(0, s)));
      }
  return { width: w, height: h, pixels0to255: out };
}

/** Gaudy image after an optional Gaussian blur: smoother blobs of saturated colour. */
export function gaudyBlurred(image: RgbImage, sigmaPx: number): RgbImage {
  return gaudy(gaussianBlur(image, sigmaPx));
}
