/**
 * Tuning curves for generated stimuli: each generated picture's parameters are recovered from
 * its stored origin (`gratings:<seed>:<index>`, also inside a campaign's origins) by replaying
 * the generator, then responses are averaged in bins of one parameter (orientation, size,
 * position, ...), counting presentations by the same rule as every other mean; a `design tuning` sweep's
 * stored predictions give the predicted curve on the same points (tuning-predicted.ts). Noise has no axis: its
 * draws depend on the picture's size, which a campaign may have changed after generating it.
 */
import type Database from "better-sqlite3";
import { generateWithParameters, type GeneratorName, type GeneratorParameters } from "../../stimulus/index.js";
import { isCounted, meanSem, type CountingRule } from "./aggregate.js";
import { summedResponse, type SessionCounts } from "./session-counts.js";
import {
  designDetails,
  predictedCurve,
  storedPredictions,
  type StoredPrediction,
  type TuningPredicted,
} from "./tuning-predicted.js";

export interface TuningAxis {
  generator: GeneratorName;
  /** Key of the parameter in {@link GeneratorParameters}. */
  parameter: string;
  label: string;
  unit: string;
  /** Circular axes (orientation) wrap: bins cover [0, period). */
  period?: number;
}

export const tuningAxes: TuningAxis[] = [
  { generator: "gratings", parameter: "orientationDeg", label: "orientation", unit: "deg", period: 180 },
  { generator: "gratings", parameter: "cyclesPerImage", label: "spatial frequency", unit: "cycles/image" },
  { generator: "gratings", parameter: "contrast", label: "contrast", unit: "" },
  { generator: "dots", parameter: "meanRadius", label: "size (mean dot radius)", unit: "fraction of image" },
  {
    generator: "dots",
    parameter: "centroidX",
    label: "position (horizontal centre of the dots)",
    unit: "fraction of image",
  },
  {
    generator: "dots",
    parameter: "eccentricity",
    label: "position (distance of the dots from the centre)",
    unit: "fraction of image",
  },
  {
    generator: "dots",
    parameter: "centroidY",
    label: "position (vertical centre of the dots)",
    unit: "fraction of image",
  },
  { generator: "dots", parameter: "dots", label: "number of dots", unit: "" },
];

export interface TuningCurve {
  axis: TuningAxis;
  /** Stimuli of this family in the session. */
  stimuli: number;
  /** Bin centres and, per unit, the mean response ± s.e.m. over counted presentations in the bin. */
  x: number[];
  meanByUnit: (number | null)[][];
  semByUnit: (number | null)[][];
  nByUnit: number[][];
  /** `design tuning`'s stored predictions on the same points; absent where no image of the curve has one. */
  predicted?: TuningPredicted;
}

const originPattern = /(?:^|:)(gratings|dots|noise):(\d+):(\d+)$/;

/** A generated picture's parameters from its origin string, or undefined (not generated, or a gaudy copy). */
export function parametersOfOrigin(
  origin: string | null,
  widthPx: number,
  cache = new Map<string, GeneratorParameters[]>(),
): GeneratorParameters | undefined {
  if (origin === null || origin.includes("gaudy")) return undefined;
  const m = originPattern.exec(origin);
  if (m === null) return undefined;
  const generator = m[1] as GeneratorName;
  const seed = Number(m[2]);
  const index = Number(m[3]);
  if (index > 100_000) return undefined;
  const key = `${generator}:${seed}:${widthPx}`;
  let list = cache.get(key);
  if (list === undefined || list.length <= index) {
    // Replaying the generator draws the same parameters; the pictures themselves are small.
    list = generateWithParameters(generator, Math.max(index + 1, list?.length ?? 0), widthPx, seed).map(
      (g) => g.params,
    );
    cache.set(key, list);
  }
  return list[index];
}

/** The parameters a tuning sweep varies (`design tuning`): its axes; the others are held fixed. */
export const sweepAxes: Record<string, readonly string[]> = {
  "orientation-frequency": ["orientationDeg", "cyclesPerImage"],
  "dot-size": ["meanRadius"],
  "dot-location": ["centroidX", "centroidY", "eccentricity"],
  "dot-number": ["dots"],
};

export interface SweptImage {
  params: GeneratorParameters;
  /** The sweeps that showed this picture (a centred dot can be in the size and the location sweep). */
  sweeps: string[];
  /** Per design unit (`electrode#sortedId`), the stored prediction and the model that made it. */
  predicted: Map<string, StoredPrediction>;
}

/**
 * The parameters `design tuning` stored with its sweep images (tuning_images), by stimulus hash: a
 * sweep's pictures are not replayed from a seed but drawn from these parameters.
 */
export function sweepParameters(db: Database.Database, shas: readonly string[]): Map<string, SweptImage> {
  const stmt = db.prepare(
    "SELECT params_json AS p, sweep, design_id AS design, predicted_json AS predicted FROM tuning_images " +
      "WHERE stimulus_sha256 = ? ORDER BY design_id DESC",
  );
  const detailOf = designDetails(db);
  const out = new Map<string, SweptImage>();
  for (const sha of shas) {
    const rows = stmt.all(sha) as { p: string; sweep: string; design: number; predicted: string }[];
    if (rows.length > 0)
      out.set(sha, {
        params: JSON.parse(rows[0]!.p) as GeneratorParameters,
        sweeps: [...new Set(rows.map((r) => r.sweep))],
        predicted: storedPredictions(rows, detailOf),
      });
  }
  return out;
}

/**
 * `swept`: parameters stored with sweep images (sweepParameters); a sweep image counts on the axes its
 * sweep varies only. An axis whose values all come from sweeps has one point per swept value, not bins.
 */
export function tuningCurves(
  data: SessionCounts,
  stimuli: Map<string, { origin: string | null; width: number }>,
  rule: CountingRule,
  binsPerAxis = 8,
  swept: Map<string, SweptImage> = new Map(),
): TuningCurve[] {
  const cache = new Map<string, GeneratorParameters[]>();
  const params = new Map<string, GeneratorParameters>();
  for (const p of data.presentations) {
    if (params.has(p.sha256)) continue;
    const meta = stimuli.get(p.sha256);
    const found =
      swept.get(p.sha256)?.params ??
      (meta === undefined ? undefined : parametersOfOrigin(meta.origin, meta.width, cache));
    if (found !== undefined) params.set(p.sha256, found);
  }
  const curves: TuningCurve[] = [];
  for (const axis of tuningAxes) {
    const values = new Map<string, number>();
    for (const [sha, prm] of params) {
      if (prm.generator !== axis.generator) continue;
      const sweeps = swept.get(sha)?.sweeps;
      if (sweeps !== undefined && !sweeps.some((s) => (sweepAxes[s] ?? []).includes(axis.parameter))) continue;
      const v = (prm as unknown as Record<string, number>)[axis.parameter];
      if (typeof v === "number" && Number.isFinite(v)) values.set(sha, v);
    }
    if (values.size < 3) continue;
    const all = [...values.values()];
    const distinctValues = [...new Set(all)].sort((a, b) => a - b);
    // One value is no axis (a sweep's contrast, say).
    if (distinctValues.length < 2) continue;
    let x: number[];
    let binOf: (v: number) => number;
    if ([...values.keys()].every((sha) => swept.has(sha)) && distinctValues.length <= 64) {
      x = distinctValues;
      const index = new Map(distinctValues.map((v, i) => [v, i]));
      binOf = (v) => index.get(v)!;
    } else {
      const lo = axis.period !== undefined ? 0 : Math.min(...all);
      const hi = axis.period !== undefined ? axis.period : Math.max(...all);
      const nBins = Math.max(1, Math.min(binsPerAxis, distinctValues.length));
      const width = hi > lo ? (hi - lo) / nBins : 1;
      binOf = (v) => Math.min(nBins - 1, Math.max(0, Math.floor((v - lo) / width)));
      x = Array.from({ length: nBins }, (_, b) => lo + (b + 0.5) * width);
    }
    const samples: number[][][] = data.units.map(() => x.map(() => []));
    // The images each measured point counts, per unit: what its predicted point averages over.
    const images: Set<string>[][] = data.units.map(() => x.map(() => new Set()));
    data.presentations.forEach((p, j) => {
      const v = values.get(p.sha256);
      if (v === undefined || !isCounted(p, rule)) return;
      const b = binOf(v);
      data.units.forEach((_, u) => {
        const r = summedResponse(data, u, j);
        if (Number.isNaN(r)) return;
        samples[u]![b]!.push(r);
        images[u]![b]!.add(p.sha256);
      });
    });
    const stats = samples.map((row) => row.map((xs) => ({ ...meanSem(xs), n: xs.length })));
    const predicted = predictedCurve(
      data.units.map((u) => `${u.electrode}#${u.sortedId}`),
      images,
      (sha) => swept.get(sha)?.predicted,
    );
    curves.push({
      axis,
      stimuli: values.size,
      x,
      meanByUnit: stats.map((row) => row.map((s) => s.mean)),
      semByUnit: stats.map((row) => row.map((s) => s.sem)),
      nByUnit: stats.map((row) => row.map((s) => s.n)),
      ...(predicted === undefined ? {} : { predicted }),
    });
  }
  return curves;
}
