/**
 * The predicted tuning curves of `design tuning` beside the measured ones: each sweep image's stored
 * prediction per design unit (tuning_images.predicted_json) with the model that made it (the design's
 * detail_json), averaged per unit over the same images as the measured point of the curve.
 */
import type Database from "better-sqlite3";

/** What a tuning design's predictions are in: the ensemble's responses, z-scores, or a compact model's raw output. */
export type PredictionScale = "responses" | "z-scored" | "compact";

/** The model that predicted a unit's responses to a sweep, as `design tuning` stored it. */
export interface TuningPredictor {
  source: "compact" | "ensemble";
  modelVersionId: number;
  scale: PredictionScale;
}

/** One design unit's stored prediction for one image. */
export interface StoredPrediction {
  value: number;
  by: TuningPredictor;
}

export interface TuningPredicted {
  /**
   * Per session unit and bin, the mean prediction over the bin's sweep images the unit's measured point counts
   * (a grating's phases, a number's layouts; each image once); null where none of them has a prediction for the unit.
   */
  meanByUnit: (number | null)[][];
  /** Per unit and bin, how many images the mean is over. */
  imagesByUnit: number[][];
  /** Per unit, the models whose predictions the curve averages (one, unless designs overlap); empty: none. */
  modelsByUnit: TuningPredictor[][];
}

/** What a design's detail_json says of its units and scale. */
export interface DesignDetail {
  units: Map<string, { source: "compact" | "ensemble"; modelVersionId: number }>;
  scale: PredictionScale;
}

const scales: readonly string[] = ["responses", "z-scored", "compact"];

/** A design's units and scale from its detail_json; undefined where it does not say them (the curve is not drawn). */
function parseDetail(text: string): DesignDetail | undefined {
  let detail: unknown;
  try {
    detail = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof detail !== "object" || detail === null) return undefined;
  const { units, scale } = detail as { units?: unknown; scale?: unknown };
  if (!Array.isArray(units) || typeof scale !== "string" || !scales.includes(scale)) return undefined;
  const byName = new Map<string, { source: "compact" | "ensemble"; modelVersionId: number }>();
  for (const u of units as unknown[]) {
    const { name, source, modelVersionId } = (u ?? {}) as Record<string, unknown>;
    if (typeof name !== "string" || (source !== "compact" && source !== "ensemble")) continue;
    if (typeof modelVersionId !== "number" || !Number.isInteger(modelVersionId)) continue;
    byName.set(name, { source, modelVersionId });
  }
  return { units: byName, scale: scale as PredictionScale };
}

/**
 * Per design unit (`electrode#sortedId`), the stored predictions for one image, from its tuning_images rows (newest
 * design first: where designs share an image, the newest one's prediction counts). Rows or designs that cannot be
 * read give no prediction, never an error: the measured curve is drawn regardless.
 */
export function storedPredictions(
  rows: readonly { design: number; predicted: string }[],
  detailOf: (design: number) => DesignDetail | undefined,
): Map<string, StoredPrediction> {
  const out = new Map<string, StoredPrediction>();
  for (const row of [...rows].sort((a, b) => b.design - a.design)) {
    const detail = detailOf(row.design);
    if (detail === undefined) continue;
    let predicted: unknown;
    try {
      predicted = JSON.parse(row.predicted);
    } catch {
      continue;
    }
    if (typeof predicted !== "object" || predicted === null) continue;
    for (const [unit, value] of Object.entries(predicted as Record<string, unknown>)) {
      const model = detail.units.get(unit);
      if (out.has(unit) || model === undefined || typeof value !== "number" || !Number.isFinite(value)) continue;
      // The design's scale is its ensemble's; a compact model's output is on its own scale, even beside an ensemble.
      out.set(unit, { value, by: { ...model, scale: model.source === "compact" ? "compact" : detail.scale } });
    }
  }
  return out;
}

/** Reads designs' detail_json once each. */
export function designDetails(db: Database.Database): (design: number) => DesignDetail | undefined {
  const stmt = db.prepare("SELECT detail_json AS d FROM tuning_designs WHERE id = ?");
  const kept = new Map<number, DesignDetail | undefined>();
  return (design) => {
    if (!kept.has(design)) {
      const row = stmt.get(design) as { d: string } | undefined;
      kept.set(design, row === undefined ? undefined : parseDetail(row.d));
    }
    return kept.get(design);
  };
}

const predictorKey = (p: TuningPredictor): string => `${p.source}:${p.modelVersionId}:${p.scale}`;

/**
 * The predicted curve of one axis: `imagesOf[u][b]` are the images unit u's measured point b counts, `predictionsOf`
 * an image's stored predictions by design unit. Undefined when no image of the axis has a prediction for any unit.
 */
export function predictedCurve(
  unitNames: readonly string[],
  imagesOf: readonly (readonly Set<string>[])[],
  predictionsOf: (sha: string) => ReadonlyMap<string, StoredPrediction> | undefined,
): TuningPredicted | undefined {
  let any = false;
  const meanByUnit: (number | null)[][] = [];
  const imagesByUnit: number[][] = [];
  const modelsByUnit: TuningPredictor[][] = [];
  unitNames.forEach((name, u) => {
    const models = new Map<string, TuningPredictor>();
    const means: (number | null)[] = [];
    const counts: number[] = [];
    for (const shas of imagesOf[u] ?? []) {
      let sum = 0;
      let n = 0;
      for (const sha of shas) {
        const p = predictionsOf(sha)?.get(name);
        if (p === undefined) continue;
        sum += p.value;
        n++;
        models.set(predictorKey(p.by), p.by);
      }
      means.push(n > 0 ? sum / n : null);
      counts.push(n);
      if (n > 0) any = true;
    }
    meanByUnit.push(means);
    imagesByUnit.push(counts);
    modelsByUnit.push([...models.values()]);
  });
  return any ? { meanByUnit, imagesByUnit, modelsByUnit } : undefined;
}
