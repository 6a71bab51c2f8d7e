/** Per-session split-half reliability of each unit, over stimuli shown at least twice (counted presentations only). */
import { splitHalfReliability } from "../../models/metrics/index.js";
import { isCounted, type CountingRule } from "./aggregate.js";
import { summedResponse, type ReviewUnit, type SessionCounts } from "./session-counts.js";

export interface UnitReliability {
  unit: ReviewUnit;
  /** Spearman-Brown corrected split-half reliability; null when it cannot be formed. */
  reliability: number | null;
  halfCorrelation: number | null;
  /** Stimuli with a counted repeat in each half. */
  stimuli: number;
}

export function unitReliabilities(data: SessionCounts, rule: CountingRule): UnitReliability[] {
  const columns = new Map<string, number[]>();
  data.presentations.forEach((p, j) => {
    if (!isCounted(p, rule)) return;
    const list = columns.get(p.sha256) ?? [];
    list.push(j);
    columns.set(p.sha256, list);
  });
  const repeated = [...columns.values()].filter((cols) => cols.length >= 2);
  const maxRepeats = Math.max(0, ...repeated.map((c) => c.length));
  return data.units.map((unit, u) => {
    if (repeated.length < 2) return { unit, reliability: null, halfCorrelation: null, stimuli: 0 };
    const y = Array.from({ length: maxRepeats }, (_, r) =>
      repeated.map((cols) => (r < cols.length ? summedResponse(data, u, cols[r]!) : Number.NaN)),
    );
    const result = splitHalfReliability(y);
    const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
    return {
      unit,
      reliability: finite(result.reliability),
      halfCorrelation: finite(result.halfCorrelation),
      stimuli: result.stimuli,
    };
  });
}
