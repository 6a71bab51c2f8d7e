// Scores of out-of-fold predictions, per unit and as medians, with paired per-unit tests.
import { repeatMatrix, type SessionDataset } from "../../models/data/dataset.js";
import type { CrossValidatedModel } from "../../models/ensemble/index.js";
import { median, r2er } from "../../models/metrics/r2er.js";
import { r2Raw } from "../../models/metrics/r2-raw.js";
import { splitHalfReliability } from "../../models/metrics/split-half-reliability.js";
import { paired, type Paired } from "../campaign/paired.js";

export interface UnitScore {
  unit: string;
  usable: boolean;
  /** Squared correlation of the out-of-fold predictions with the repeat-averaged responses. */
  r2raw: Partial<Record<CrossValidatedModel, number>>;
  /** Noise-corrected r²_ER (Pospisil & Bair 2021), where the session has repeats. */
  r2er?: Partial<Record<CrossValidatedModel, number>>;
  /** Split-half reliability (Spearman-Brown corrected), where the session has repeats. */
  reliability?: number;
}

export interface HeldOutScores {
  units: UnitScore[];
  /** Median over usable units, per model. */
  medians: {
    r2raw: Partial<Record<CrossValidatedModel, number>>;
    r2er?: Partial<Record<CrossValidatedModel, number>>;
    reliability?: number;
  };
  /**
   * Each readout on the pretrained ensemble against each baseline, unit by unit (raw R²; r²_ER too where there are
   * repeats).
   */
  tests: { model: CrossValidatedModel; versus: CrossValidatedModel; metric: "r2raw" | "r2er"; paired: Paired }[];
}

/** The readouts that stand on the pretrained ensemble (the others are baselines on the front end alone). */
export const onEnsemble = (m: CrossValidatedModel): boolean => m === "ensemble" || m === "skip";

export function scoreHeldOut(
  session: { ds: SessionDataset; raw: Float64Array; units: number },
  predictions: Partial<Record<CrossValidatedModel, Float32Array>>,
): HeldOutScores {
  const { ds, units } = session;
  const n = ds.images.length;
  const models = Object.keys(predictions) as CrossValidatedModel[];
  const withRepeats = !ds.averaged && ds.repeats >= 2;
  const all = Array.from({ length: n }, (_, i) => i);
  const scores: UnitScore[] = [];
  for (let u = 0; u < units; u++) {
    const usable = ds.usable[u] ?? false;
    const response = session.raw.subarray(u * n, (u + 1) * n);
    const column = (p: Float32Array): Float64Array => Float64Array.from({ length: n }, (_, i) => p[i * units + u]!);
    const unit: UnitScore = { unit: ds.unitNames[u]!, usable, r2raw: {} };
    const reps = withRepeats ? repeatMatrix(ds, u, all) : undefined;
    if (reps !== undefined) unit.r2er = {};
    for (const m of models) {
      const pred = column(predictions[m]!);
      unit.r2raw[m] = usable ? r2Raw(pred, response) : Number.NaN;
      if (reps !== undefined) unit.r2er![m] = usable ? r2er(pred, reps).r2er : Number.NaN;
    }
    if (reps !== undefined) unit.reliability = usable ? splitHalfReliability(reps).reliability : Number.NaN;
    scores.push(unit);
  }
  const usable = scores.filter((s) => s.usable);
  const medianOf = (pick: (s: UnitScore) => number | undefined): number =>
    median(usable.map((s) => pick(s) ?? Number.NaN));
  const medians: HeldOutScores["medians"] = {
    r2raw: Object.fromEntries(models.map((m) => [m, medianOf((s) => s.r2raw[m])])),
  };
  if (withRepeats) {
    medians.r2er = Object.fromEntries(models.map((m) => [m, medianOf((s) => s.r2er?.[m])]));
    medians.reliability = medianOf((s) => s.reliability);
  }
  const tests: HeldOutScores["tests"] = [];
  for (const model of models.filter(onEnsemble)) {
    for (const versus of models.filter((m) => !onEnsemble(m))) {
      const diff = (pick: (s: UnitScore) => Partial<Record<CrossValidatedModel, number>> | undefined): number[] =>
        usable.map((s) => (pick(s)?.[model] ?? Number.NaN) - (pick(s)?.[versus] ?? Number.NaN)).filter(Number.isFinite);
      tests.push({ model, versus, metric: "r2raw", paired: paired(diff((s) => s.r2raw)) });
      if (withRepeats) tests.push({ model, versus, metric: "r2er", paired: paired(diff((s) => s.r2er)) });
    }
  }
  return { units: scores, medians, tests };
}
