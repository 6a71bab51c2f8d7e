/** The Tuning tab's rows and labels: a measured curve of one unit and, for a designed sweep, its predicted curve. */
import type { PredictionScale, TuningCurve, TuningPredictor } from "../../main/api/contract.js";

export interface TuningRow {
  x: number;
  /** Measured mean ± s.e.m. over the counted presentations of the point. */
  mean: number | null;
  sem: number;
  n: number;
  /** The stored predictions' mean over the same images as the measured point; null where none is stored. */
  predicted: number | null;
  predictedImages: number;
}

/** One row per point of the curve, for one unit. */
export function tuningRows(curve: TuningCurve, unitIndex: number): TuningRow[] {
  const p = curve.predicted;
  return curve.x.map((x, b) => ({
    x: Number(x.toPrecision(4)),
    mean: curve.meanByUnit[unitIndex]?.[b] ?? null,
    sem: curve.semByUnit[unitIndex]?.[b] ?? 0,
    n: curve.nByUnit[unitIndex]?.[b] ?? 0,
    predicted: p?.meanByUnit[unitIndex]?.[b] ?? null,
    predictedImages: p?.imagesByUnit[unitIndex]?.[b] ?? 0,
  }));
}

/** The unit's predicting models on this curve (empty: no prediction stored for the unit). */
export function predictorsOf(curve: TuningCurve, unitIndex: number): TuningPredictor[] {
  return curve.predicted?.modelsByUnit[unitIndex] ?? [];
}

export const measuredLabel = "measured (mean ± s.e.)";

/** "predicted (compact model v4)", "predicted (ensemble v12)"; several where designs overlap. */
export function predictedLabel(models: readonly TuningPredictor[]): string {
  const names = [
    ...new Set(models.map((m) => `${m.source === "compact" ? "compact model" : "ensemble"} v${m.modelVersionId}`)),
  ];
  return `predicted (${names.join(", ") || "no model"})`;
}

const scaleNames: Record<PredictionScale, string> = {
  compact: "the compact model's raw output",
  "z-scored": "z-scored responses",
  responses: "predicted responses (spikes)",
};

/** What the right-hand axis is in. */
export function predictedScaleText(models: readonly TuningPredictor[]): string {
  return [...new Set(models.map((m) => scaleNames[m.scale]))].join(" / ");
}
