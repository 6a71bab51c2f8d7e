import type { RgbImage } from "./image.js";

/** One photometer reading: the displayed level (0..255, one channel or grey) and the luminance measured (cd/m²). */
export interface LuminanceReading {
  level0to255: number;
  luminance: number;
}

/** Display model L(v) = black + (white - black) * (v / 255)^gamma. */
export interface GammaFit {
  gamma: number;
  black: number;
  white: number;
  /** Root-mean-square error of the fit, cd/m². */
  rmse: number;
}

function predict(fit: Omit<GammaFit, "rmse">, level: number): number {
  return fit.black + (fit.white - fit.black) * Math.pow(level / 255, fit.gamma);
}

/**
 * Fits the gamma of a display from photometer readings: black and white from the extreme levels,
 * gamma by a log-log least-squares start refined by golden-section search on the squared error.
 */
export function fitGamma(readings: readonly LuminanceReading[]): GammaFit {
  if (readings.length < 3)
    throw new Error(`fitGamma: need at least 3 readings (black, white and one between), got ${readings.length}`);
  const sorted = [...readings].sort((a, b) => a.level0to255 - b.level0to255);
  const black = sorted[0]!.luminance;
  const white = sorted[sorted.length - 1]!.luminance;
  if (!(white > black))
    throw new Error(
      `fitGamma: the brightest level (${white} cd/m²) must be brighter than the darkest (${black} cd/m²); check ` +
        `the photometer readings`,
    );
  const sse = (gamma: number): number =>
    sorted.reduce((s, r) => s + (predict({ gamma, black, white }, r.level0to255) - r.luminance) ** 2, 0);
  let lo = 0.2;
  let hi = 5;
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = hi - phi * (hi - lo);
  let b = lo + phi * (hi - lo);
  for (let i = 0; i < 80; i++) {
    if (sse(a) < sse(b)) hi = b;
    else lo = a;
    a = hi - phi * (hi - lo);
    b = lo + phi * (hi - lo);
  }
  const gamma = (lo + hi) / 2;
  return { gamma, black, white, rmse: Math.sqrt(sse(gamma) / sorted.length) };
}

/**
 * The lookup table that makes displayed luminance linear in the requested level: entry v is the
 * drive level whose luminance is closest to black + (white - black) * v / 255.
 */
export function linearizingLut(fit: GammaFit): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.max(0, Math.min(255, Math.round(255 * Math.pow(v / 255, 1 / fit.gamma))));
  return lut;
}

/** Per-channel lookup tables for a display; identity when the display is not calibrated. */
export interface DisplayCalibration {
  red: Uint8Array;
  green: Uint8Array;
  blue: Uint8Array;
}

export function identityCalibration(): DisplayCalibration {
  const lut = Uint8Array.from({ length: 256 }, (_, i) => i);
  return { red: lut, green: lut.slice(), blue: lut.slice() };
}

export function calibrationFromFits(fits: { red: GammaFit; green: GammaFit; blue: GammaFit }): DisplayCalibration {
  return { red: linearizingLut(fits.red), green: linearizingLut(fits.green), blue: linearizingLut(fits.blue) };
}

/** What the display emits for an image: every pixel through its channel's lookup table. */
export function applyCalibration(image: RgbImage, calibration: DisplayCalibration): RgbImage {
  for (const [name, lut] of Object.entries(calibration) as [string, Uint8Array][]) {
    if (lut.length !== 256)
      throw new Error(`applyCalibration: the ${name} lookup table must have 256 entries, has ${lut.length}`);
  }
  const src = image.pixels0to255;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i += 3) {
    out[i] = calibration.red[src[i]!]!;
    out[i + 1] = calibration.green[src[i + 1]!]!;
    out[i + 2] = calibration.blue[src[i + 2]!]!;
  }
  return { width: image.width, height: image.height, pixels0to255: out };
}
