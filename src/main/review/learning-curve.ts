/**
 * The learning curve of a study: each model version's held-out r²_ER (median and per unit) as the
 * campaign or an evaluation stored it, in lineages (a version and the versions it continued from).
 */
import type { ModelVersionRow } from "../store/index.js";

export interface LearningPoint {
  versionId: number;
  name: string;
  createdAt: string;
  /** Sessions the version was trained on. */
  sessions: number[];
  imagesShown: number | null;
  /** Median r²_ER over units on held-out images (the metric the version stored). */
  median: number | null;
  metric: string | null;
  /** Per-unit r²_ER; null where it could not be formed. */
  perUnit: (number | null)[];
  /** Against the simulated neurons' true rates, when the campaign measured it. */
  trueMedian: number | null;
}

export interface LearningSeries {
  /** Id of the lineage's first version. */
  rootId: number;
  label: string;
  points: LearningPoint[];
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** r²_ER from a model version's metrics: `r2er`, `r2ER`, `r2_er` as a number, or a `{ mean }` object. */
export function r2erOf(metrics: Record<string, unknown>): number | null {
  for (const key of ["r2er", "r2ER", "r2_er", "r2Er"]) {
    const v = metrics[key];
    if (num(v) !== null) return v as number;
    if (typeof v === "object" && v !== null && "mean" in v) {
      const m = num((v as { mean: unknown }).mean);
      if (m !== null) return m;
    }
  }
  return null;
}

export function learningCurve(versions: readonly ModelVersionRow[]): LearningSeries[] {
  const byId = new Map(versions.map((v) => [v.id, v]));
  const rootOf = (v: ModelVersionRow): number => {
    let cur = v;
    const seen = new Set<number>();
    while (cur.parentId !== null && byId.has(cur.parentId) && !seen.has(cur.id)) {
      seen.add(cur.id);
      cur = byId.get(cur.parentId)!;
    }
    return cur.id;
  };
  const series = new Map<number, LearningSeries>();
  for (const v of versions) {
    // A new session's readout on the frozen previous model is a stopgap until the retrain that follows.
    if (v.config.readoutFirst === true) continue;
    const median = r2erOf(v.metrics);
    const perUnitRaw = v.metrics.r2erPerUnit;
    const perUnit = Array.isArray(perUnitRaw) ? perUnitRaw.map(num) : [];
    if (median === null && perUnit.length === 0) continue;
    const root = rootOf(v);
    let s = series.get(root);
    if (s === undefined) {
      const selection = typeof v.config.selection === "string" ? v.config.selection : undefined;
      const campaign = typeof v.config.campaign === "string" ? v.config.campaign : undefined;
      const label = [campaign, selection].filter((x) => x !== undefined).join(" · ") || `lineage of version ${root}`;
      s = { rootId: root, label, points: [] };
      series.set(root, s);
    }
    s.points.push({
      versionId: v.id,
      name: v.name,
      createdAt: v.createdAt,
      sessions: v.sessionIds,
      imagesShown: num(v.metrics.imagesShown),
      median,
      metric: typeof v.metrics.r2erMetric === "string" ? v.metrics.r2erMetric : null,
      perUnit,
      trueMedian: num(v.metrics.trueR2),
    });
  }
  return [...series.values()];
}
