// Parametric pictures drawn from their parameters: gratings and discs ("dots"). The random families
// of generators.ts and the tuning sweeps of sweeps.ts both draw through these.
import type { RgbImage } from "./image.js";

export function blankImage(size: number, grey = 128): RgbImage {
  return { width: size, height: size, pixels0to255: new Uint8Array(size * size * 3).fill(grey) };
}

export function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/**
 * A sinusoidal grating on mid-grey: luminance 128 + 127·contrast·sin(2π·f·u + phase)·colour, where u
 * is the position along the direction `thetaRad` (0: the bars are vertical, luminance changes along
 * x) in image sides and f the cycles per image side.
 */
export function drawGrating(
  size: number,
  thetaRad: number,
  cyclesPerImage: number,
  phaseRad: number,
  contrast: number,
  colour: readonly number[] = [1, 1, 1],
): RgbImage {
  const img = blankImage(size);
  const c = Math.cos(thetaRad);
  const s = Math.sin(thetaRad);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = (x * c + y * s) / size;
      const v = Math.sin(2 * Math.PI * cyclesPerImage * u + phaseRad) * contrast;
      for (let ch = 0; ch < 3; ch++) img.pixels0to255[(y * size + x) * 3 + ch] = clamp255(128 + 127 * v * colour[ch]!);
    }
  }
  return img;
}

export interface GratingSpec {
  /** Direction of the luminance change, degrees (0..180; 0: vertical bars). */
  orientationDeg: number;
  cyclesPerImage: number;
  phaseRad: number;
  /** 0..1. */
  contrast: number;
}

/** An achromatic grating of the given parameters. */
export function gratingImage(size: number, spec: GratingSpec): RgbImage {
  return drawGrating(size, (spec.orientationDeg * Math.PI) / 180, spec.cyclesPerImage, spec.phaseRad, spec.contrast);
}

/** A filled disc; centre and radius in pixels. */
export interface Disc {
  cx: number;
  cy: number;
  r: number;
  rgb: readonly number[];
}

/**
 * Paints a disc into `img`: every pixel whose centre is within r of the disc's centre. `halfOpen`
 * leaves out the last row and column of the bounding box where cy + r or cx + r is a whole number:
 * how the random dots family (generators.ts) has always drawn, kept so its seeded pictures stay the same.
 */
export function paintDisc(img: RgbImage, d: Disc, halfOpen = false): void {
  const size = img.width;
  const end = (v: number): number => (halfOpen ? Math.ceil(v) : Math.floor(v) + 1);
  for (let y = Math.max(0, Math.floor(d.cy - d.r)); y < Math.min(img.height, end(d.cy + d.r)); y++)
    for (let x = Math.max(0, Math.floor(d.cx - d.r)); x < Math.min(size, end(d.cx + d.r)); x++)
      if ((x - d.cx) ** 2 + (y - d.cy) ** 2 <= d.r * d.r)
        for (let ch = 0; ch < 3; ch++) img.pixels0to255[(y * size + x) * 3 + ch] = d.rgb[ch]!;
}

/** Discs on a uniform background, painted in order. */
export function dotsImage(size: number, background: number, discs: readonly Disc[]): RgbImage {
  const img = blankImage(size, background);
  for (const d of discs) paintDisc(img, d);
  return img;
}
