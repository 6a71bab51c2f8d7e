/** Ordering images by a model's predicted responses (pure: the Responses tab's heatmaps use it, tests check it). */
import type { PredictedResponses, UnitResponses } from "../../main/api/contract.js";

export type AvailablePrediction = Extract<PredictedResponses, { available: true }>;

/** Each unit's predictions for the session's stimuli, by stimulus hash; null where the readout lacks the unit. */
export function predictionsByUnit(
  data: UnitResponses,
  p: AvailablePrediction,
): { byUnit: (Map<string, number> | null)[]; zByUnit: (Map<string, number> | null)[] } {
  const rowOf = new Map(p.units.map((u, i) => [u.id, p.predictions[i] ?? null]));
  const byUnit = data.units.map((u) => {
    const row = rowOf.get(u.id) ?? null;
    return row === null ? null : new Map(p.stimuli.map((sha, j) => [sha, row[j]!]));
  });
  // Standardized over the stimuli, so the mean over units weighs every unit alike on any scale.
  const zByUnit = byUnit.map((m) => {
    if (m === null) return null;
    const v = [...m.values()];
    const mean = v.reduce((s, x) => s + x, 0) / Math.max(1, v.length);
    const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, v.length));
    return new Map([...m].map(([sha, x]) => [sha, sd > 0 ? (x - mean) / sd : 0]));
  });
  return { byUnit, zByUnit };
}

/**
 * The prediction-order score of each stimulus (index into data.stimuli): one unit's predicted response, or the mean
 * over units of the standardized predictions; -Infinity where there is none (those images go last).
 */
export function predictionScores(
  data: UnitResponses,
  p: AvailablePrediction,
  order: "prediction" | "unit-prediction",
  unitIndex: number,
): number[] {
  const { byUnit, zByUnit } = predictionsByUnit(data, p);
  return data.stimuli.map((s) => {
    if (order === "unit-prediction") return byUnit[unitIndex]?.get(s.sha256) ?? Number.NEGATIVE_INFINITY;
    let sum = 0;
    let n = 0;
    for (const m of zByUnit) {
      const z = m?.get(s.sha256);
      if (z !== undefined) {
        sum += z;
        n++;
      }
    }
    return n === 0 ? Number.NEGATIVE_INFINITY : sum / n;
  });
}

/** What a prediction is, for captions: which version, readout and scale, and that it counts no presentations. */
export function predictionText(p: AvailablePrediction): string {
  return (
    `model version ${p.modelVersion.id} (${p.modelVersion.name}), readout ${p.readout}, ` +
    `${p.scale === "responses" ? "spikes in the count window" : "z-scored (no target statistics recorded)"}; ` +
    `predicted for all ${p.stimuli.length} stimuli shown, no presentations counted`
  );
}
