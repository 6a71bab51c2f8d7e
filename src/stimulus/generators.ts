import type { RgbImage } from "./image.js";
import { blankImage as blank, drawGrating, paintDisc, type Disc } from "./parametric.js";
import { Random } from "./random.js";

export type GeneratorName = "gratings" | "noise" | "dots";

/** Makes `count` images of a built-in family, deterministic from the seed. */
export function generateImages(generator: GeneratorName, count: number, size: number, seed: number): RgbImage[] {
  return generateWithParameters(generator, count, size, seed).map((g) => g.image);
}

/** What a generated picture shows, in the lab's terms (for tuning curves); sizes are fractions of the image side. */
export type GeneratorParameters =
  | { generator: "gratings"; orientationDeg: number; cyclesPerImage: number; phaseRad: number; contrast: number }
  | {
      generator: "dots";
      dots: number;
      meanRadius: number;
      centroidX: number;
      centroidY: number;
      eccentricity: number;
    }
  | { generator: "noise"; blockPx: number };

/** The images of {@link generateImages} with the parameters each was drawn with (same seed, same images). */
export function generateWithParameters(
  generator: GeneratorName,
  count: number,
  size: number,
  seed: number,
): { image: RgbImage; params: GeneratorParameters }[] {
  const rng = new Random(seed);
  const out: { image: RgbImage; params: GeneratorParameters }[] = [];
  for (let i = 0; i < count; i++) {
    if (generator === "gratings") out.push(grating(size, rng));
    else if (generator === "noise") out.push(noise(size, rng));
    else out.push(dots(size, rng));
  }
  return out;
}

function grating(size: number, rng: Random): { image: RgbImage; params: GeneratorParameters } {
  const theta = rng.next() * Math.PI;
  const cyclesPerImage = 1 + rng.next() * 7;
  const phase = rng.next() * 2 * Math.PI;
  const contrast = 0.3 + 0.7 * rng.next();
  const colour = [0.5 + rng.next() / 2, 0.5 + rng.next() / 2, 0.5 + rng.next() / 2];
  const img = drawGrating(size, theta, cyclesPerImage, phase, contrast, colour);
  const orientationDeg = (theta * 180) / Math.PI;
  return { image: img, params: { generator: "gratings", orientationDeg, cyclesPerImage, phaseRad: phase, contrast } };
}

function noise(size: number, rng: Random): { image: RgbImage; params: GeneratorParameters } {
  // Blocky coloured noise: pixel noise alone drives V4-like units weakly.
  const img = blank(size);
  const block = 1 + rng.int(8);
  for (let by = 0; by < size; by += block) {
    for (let bx = 0; bx < size; bx += block) {
      const rgb = [rng.int(256), rng.int(256), rng.int(256)];
      for (let y = by; y < Math.min(size, by + block); y++)
        for (let x = bx; x < Math.min(size, bx + block); x++)
          for (let ch = 0; ch < 3; ch++) img.pixels0to255[(y * size + x) * 3 + ch] = rgb[ch]!;
    }
  }
  return { image: img, params: { generator: "noise", blockPx: block } };
}

function dots(size: number, rng: Random): { image: RgbImage; params: GeneratorParameters } {
  const img = blank(size, rng.int(2) === 0 ? 128 : 0);
  const n = 1 + rng.int(12);
  let sumX = 0;
  let sumY = 0;
  let sumR = 0;
  for (let d = 0; d < n; d++) {
    const cx = rng.next() * size;
    const cy = rng.next() * size;
    const r = size * (0.02 + rng.next() * 0.08);
    sumX += cx;
    sumY += cy;
    sumR += r;
    const disc: Disc = { cx, cy, r, rgb: [rng.int(256), rng.int(256), rng.int(256)] };
    paintDisc(img, disc, true);
  }
  const centroidX = sumX / n / size;
  const centroidY = sumY / n / size;
  const eccentricity = Math.hypot(centroidX - 0.5, centroidY - 0.5);
  const meanRadius = sumR / n / size;
  return { image: img, params: { generator: "dots", dots: n, meanRadius, centroidX, centroidY, eccentricity } };
}

/** Gaudy image (Cowley et al. 2023): each channel thresholded at its own mean to 0 or 255. */
export function gaudy(image: RgbImage): RgbImage {
  const n = image.width * image.height;
  const means = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let ch = 0; ch < 3; ch++) means[ch]! += image.pixels0to255[i * 3 + ch]!;
  for (let ch = 0; ch < 3; ch++) means[ch]! /= n;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = image.pixels0to255[i * 3 + ch]! > means[ch]! ? 255 : 0;
  return { width: image.width, height: image.height, pixels0to255: out };
}
