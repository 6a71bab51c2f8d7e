/**
 * A unit's binned raster and PSTH from the stored bins, aligned on each presentation's onset
 * (the counts are already relative to it). Rows are grouped by stimulus so repeats sit together.
 */
import { countingSummary, isCounted, meanSem, type CountingRule, type CountingSummary } from "./aggregate.js";
import type { CountsState, ReviewUnit, SessionCounts } from "./session-counts.js";

export interface RasterRow {
  idx: number;
  sha256: string;
  block: string;
  counts: CountsState;
  /** Whether this row enters the PSTH under the counting rule. */
  counted: boolean;
  /** Spikes per bin; null where the unit has no value stored. */
  bins: (number | null)[];
}

export interface UnitRaster {
  unit: ReviewUnit;
  bins: number;
  binMs: number;
  windowStartMs: number;
  counting: CountingSummary;
  rows: RasterRow[];
  /** Mean rate (spikes/s) per bin over the counted rows, with its s.e.m.; n rows counted. */
  psth: { rateHz: (number | null)[]; semHz: (number | null)[]; n: number };
  max: number;
}

export function unitRaster(data: SessionCounts, unitIndex: number, rule: CountingRule): UnitRaster {
  const unit = data.units[unitIndex];
  if (unit === undefined)
    throw new Error(`unitRaster: no unit at index ${unitIndex} (session has ${data.units.length})`);
  const nP = data.presentations.length;
  const firstSeen = new Map<string, number>();
  data.presentations.forEach((p, j) => {
    if (!firstSeen.has(p.sha256)) firstSeen.set(p.sha256, j);
  });
  const order = data.presentations.map((_, j) => j);
  order.sort(
    (a, b) => firstSeen.get(data.presentations[a]!.sha256)! - firstSeen.get(data.presentations[b]!.sha256)! || a - b,
  );
  let max = 0;
  const rows: RasterRow[] = order.map((j) => {
    const p = data.presentations[j]!;
    const bins: (number | null)[] = [];
    for (let b = 0; b < data.bins; b++) {
      const v = data.values[(unitIndex * nP + j) * data.bins + b]!;
      bins.push(Number.isNaN(v) ? null : v);
      if (!Number.isNaN(v) && v > max) max = v;
    }
    return { idx: p.idx, sha256: p.sha256, block: p.block, counts: p.counts, counted: isCounted(p, rule), bins };
  });
  const perSecond = 1000 / data.binMs;
  const rateHz: (number | null)[] = [];
  const semHz: (number | null)[] = [];
  let n = 0;
  for (let b = 0; b < data.bins; b++) {
    const xs: number[] = [];
    for (const r of rows) if (r.counted && r.bins[b] !== null) xs.push(r.bins[b]!);
    const m = meanSem(xs);
    rateHz.push(m.mean === null ? null : m.mean * perSecond);
    semHz.push(m.sem === null ? null : m.sem * perSecond);
    n = Math.max(n, xs.length);
  }
  return {
    unit,
    bins: data.bins,
    binMs: data.binMs,
    windowStartMs: data.windowStartMs,
    counting: countingSummary(data, rule),
    rows,
    psth: { rateHz, semHz, n },
    max,
  };
}
