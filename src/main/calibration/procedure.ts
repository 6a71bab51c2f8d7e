/**
 * A photometer calibration of the stimulus display: full-field patches at N levels per gun (the other guns at 0) and
 * for grey, measured with the photometer through identity tables; PsychoPy's gamma model L = a + k·v^γ fitted per
 * gun and for grey (src/stimulus/calibration.ts); the inverse lookup tables; then a validation sweep of grey levels
 * shown through those tables, whose largest distance from the straight line is reported as a fraction of the maximum
 * luminance. Nothing is written here: the caller writes the result only when every step succeeded.
 */
import {
  fitGamma,
  linearizingLut,
  type DisplayCalibration,
  type GammaFit,
  type LuminanceReading,
} from "../../stimulus/calibration.js";
import type { DisplayCalibrationFits } from "../protocol/schema.js";
import type { Photometer } from "./pr655.js";

export type Rgb = [number, number, number];

/** Where the patches are shown: the stimulus window (or, in simulation, the virtual display). */
export interface PatchDisplay {
  /** Shows a full-field patch of `rgb` (through the current tables when `useLut`) and resolves once it is up. */
  showPatch(rgb: Rgb, useLut: boolean): Promise<void>;
  /** The tables `useLut` patches go through from now on. */
  setTables(tables: DisplayCalibration): Promise<void>;
}

export interface CalibrationRun {
  photometer: Photometer;
  display: PatchDisplay;
  /** Levels measured per gun and for grey (default 9, at least 3), spread evenly over 0..255. */
  levels?: number;
  /** Grey levels of the validation sweep (default 9). */
  validationLevels?: number;
  /** Largest accepted validation deviation, fraction of the maximum luminance (default 0.02). */
  tolerance?: number;
  now?: Date;
  log?: (line: string) => void;
}

export interface CalibrationResult {
  calibration: DisplayCalibrationFits;
  readings: Record<"red" | "green" | "blue" | "grey", LuminanceReading[]>;
  /** Whether the validation sweep was within the tolerance. */
  valid: boolean;
}

export function evenLevels(n: number): number[] {
  if (!Number.isInteger(n) || n < 3 || n > 256)
    throw new Error(`--levels must be a whole number from 3 to 256, not ${n}`);
  return Array.from({ length: n }, (_, i) => Math.round((255 * i) / (n - 1)));
}

function round(fit: GammaFit): GammaFit {
  const r = (x: number, d: number): number => Number(x.toFixed(d));
  return { gamma: r(fit.gamma, 4), black: r(fit.black, 4), white: r(fit.white, 4), rmse: r(fit.rmse, 5) };
}

/** Largest distance of a sweep from the line through its ends, as a fraction of its maximum. */
export function linearityDeviation(readings: readonly LuminanceReading[]): number {
  const sorted = [...readings].sort((a, b) => a.level0to255 - b.level0to255);
  const lo = sorted[0]!;
  const hi = sorted[sorted.length - 1]!;
  const max = Math.max(...sorted.map((r) => r.luminance));
  if (!(max > 0) || hi.level0to255 === lo.level0to255) return Infinity;
  let worst = 0;
  for (const r of sorted) {
    const t = (r.level0to255 - lo.level0to255) / (hi.level0to255 - lo.level0to255);
    worst = Math.max(worst, Math.abs(r.luminance - (lo.luminance + t * (hi.luminance - lo.luminance))));
  }
  return worst / max;
}

export async function runCalibration(run: CalibrationRun): Promise<CalibrationResult> {
  const { photometer, display } = run;
  const log = run.log ?? (() => {});
  const levels = evenLevels(run.levels ?? 9);
  const guns = { red: 0, green: 1, blue: 2, grey: -1 } as const;
  const identity = Uint8Array.from({ length: 256 }, (_, i) => i);
  await display.setTables({ red: identity, green: identity.slice(), blue: identity.slice() });
  const readings = { red: [], green: [], blue: [], grey: [] } as CalibrationResult["readings"];
  for (const [name, gun] of Object.entries(guns) as [keyof typeof guns, number][]) {
    for (const level of levels) {
      const rgb: Rgb = gun < 0 ? [level, level, level] : [0, 0, 0];
      if (gun >= 0) rgb[gun] = level;
      await display.showPatch(rgb, false);
      const luminance = await photometer.measureLuminance();
      readings[name].push({ level0to255: level, luminance });
      log(`${name} ${level}: ${luminance.toFixed(3)} cd/m²`);
    }
  }
  const fits = {
    red: fitGamma(readings.red),
    green: fitGamma(readings.green),
    blue: fitGamma(readings.blue),
    grey: fitGamma(readings.grey),
  };
  const tables: DisplayCalibration = {
    red: linearizingLut(fits.red),
    green: linearizingLut(fits.green),
    blue: linearizingLut(fits.blue),
  };
  await display.setTables(tables);
  const sweep: LuminanceReading[] = [];
  for (const level of evenLevels(run.validationLevels ?? 9)) {
    await display.showPatch([level, level, level], true);
    sweep.push({ level0to255: level, luminance: await photometer.measureLuminance() });
  }
  const maxDeviation = linearityDeviation(sweep);
  const tolerance = run.tolerance ?? 0.02;
  const calibration: DisplayCalibrationFits = {
    red: round(fits.red),
    green: round(fits.green),
    blue: round(fits.blue),
    grey: round(fits.grey),
    lut: { red: Array.from(tables.red), green: Array.from(tables.green), blue: Array.from(tables.blue) },
    date: (run.now ?? new Date()).toISOString(),
    photometer: { type: photometer.type, model: photometer.model, serial: photometer.serial },
    validation: {
      levels: sweep.map((r) => r.level0to255),
      luminance: sweep.map((r) => Number(r.luminance.toFixed(5))),
      maxDeviation: Number(maxDeviation.toFixed(5)),
    },
  };
  return { calibration, readings, valid: maxDeviation <= tolerance };
}
