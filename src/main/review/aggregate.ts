/**
 * Which presentations a mean counts, and the per-stimulus means built on that rule. By default
 * only presentations whose counts are complete are averaged: an incomplete count (the rig's
 * window was cut short) is biased low. Every result carries the summary of what it counted.
 */
import { summedResponse, type ReviewPresentation, type SessionCounts } from "./session-counts.js";

export interface CountingRule {
  /** Average incomplete counts too (off by default). */
  includeIncomplete: boolean;
}

export const defaultCounting: CountingRule = { includeIncomplete: false };

/** What a mean, plot or export counted: shown next to it in the UI and written into exports. */
export interface CountingSummary {
  includeIncomplete: boolean;
  presentations: number;
  /** Presentations whose responses enter the means. */
  counted: number;
  /** Presentations with incomplete counts left out of the means (0 when they are included). */
  excludedIncomplete: number;
  /** Incomplete presentations that were averaged in (0 unless includeIncomplete). */
  includedIncomplete: number;
  /** Presentations with no counts stored (skipped, or the rig sent none). */
  withoutCounts: number;
  /** One sentence for captions and README files. */
  text: string;
}

export function isCounted(p: ReviewPresentation, rule: CountingRule): boolean {
  return p.counts === "complete" || (rule.includeIncomplete && p.counts === "incomplete");
}

export function countingSummary(data: SessionCounts, rule: CountingRule): CountingSummary {
  let counted = 0;
  let incomplete = 0;
  let none = 0;
  for (const p of data.presentations) {
    if (isCounted(p, rule)) counted++;
    if (p.counts === "incomplete") incomplete++;
    if (p.counts === "none") none++;
  }
  const excludedIncomplete = rule.includeIncomplete ? 0 : incomplete;
  const includedIncomplete = rule.includeIncomplete ? incomplete : 0;
  const what = rule.includeIncomplete
    ? `${counted} of ${data.presentations.length} presentations counted, ` +
      `${includedIncomplete} of them with incomplete counts (included on request)`
    : `${counted} of ${data.presentations.length} presentations counted (complete counts only); ` +
      `${excludedIncomplete} with incomplete counts excluded`;
  return {
    includeIncomplete: rule.includeIncomplete,
    presentations: data.presentations.length,
    counted,
    excludedIncomplete,
    includedIncomplete,
    withoutCounts: none,
    text: `${what}; ${none} without counts`,
  };
}

export interface StimulusMeans {
  sha256: string;
  block: string;
  /** Presentations of this stimulus in the session. */
  presentations: number;
  /** Of those, how many had incomplete counts (excluded from the means unless included). */
  incomplete: number;
  meanByUnit: (number | null)[];
  /** Standard error of the mean over repeats; null with fewer than 2 counted repeats. */
  semByUnit: (number | null)[];
  /** Counted repeats per unit. */
  nByUnit: number[];
}

/** Mean and s.e.m. over repeats of each unit's summed response, per stimulus in order of first presentation. */
export function stimulusMeans(data: SessionCounts, rule: CountingRule): StimulusMeans[] {
  const order: string[] = [];
  const columns = new Map<string, number[]>();
  data.presentations.forEach((p, j) => {
    let list = columns.get(p.sha256);
    if (list === undefined) {
      list = [];
      columns.set(p.sha256, list);
      order.push(p.sha256);
    }
    list.push(j);
  });
  return order.map((sha) => {
    const cols = columns.get(sha)!;
    const first = data.presentations[cols[0]!]!;
    const counted = cols.filter((j) => isCounted(data.presentations[j]!, rule));
    const meanByUnit: (number | null)[] = [];
    const semByUnit: (number | null)[] = [];
    const nByUnit: number[] = [];
    data.units.forEach((_, u) => {
      const xs: number[] = [];
      for (const j of counted) {
        const v = summedResponse(data, u, j);
        if (!Number.isNaN(v)) xs.push(v);
      }
      const m = meanSem(xs);
      meanByUnit.push(m.mean);
      semByUnit.push(m.sem);
      nByUnit.push(xs.length);
    });
    return {
      sha256: sha,
      block: first.block,
      presentations: cols.length,
      incomplete: cols.filter((j) => data.presentations[j]!.counts === "incomplete").length,
      meanByUnit,
      semByUnit,
      nByUnit,
    };
  });
}

export function meanSem(xs: readonly number[]): { mean: number | null; sem: number | null } {
  const n = xs.length;
  if (n === 0) return { mean: null, sem: null };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, sem: null };
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, sem: Math.sqrt(variance / n) };
}
