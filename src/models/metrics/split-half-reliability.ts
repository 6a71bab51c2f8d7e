import { check } from "./assert.js";

export interface SplitHalfResult {
  /** Pearson correlation between the two half-means across stimuli. */
  halfCorrelation: number;
  /** Spearman-Brown corrected reliability of the full-repeat mean: 2r / (1 + r). */
  reliability: number;
  /** Stimuli with at least one repeat in each half. */
  stimuli: number;
}

/**
 * Split-half reliability of a unit's responses `y` (n repeats × m stimuli, NaN-padded): for each
 * stimulus its valid repeats are split alternately (1st, 3rd, … vs 2nd, 4th, …), the half means
 * are correlated across stimuli, and the Spearman-Brown formula projects that to the full number
 * of repeats. Stimuli with fewer than 2 valid repeats are skipped; NaN when fewer than 2 remain
 * or a half is constant.
 */
export function splitHalfReliability(y: ReadonlyArray<ArrayLike<number>>): SplitHalfResult {
  check(y.length > 0, () => `splitHalfReliability: y needs at least one repeat row, got ${y.length}`);
  const m = y[0]!.length;
  for (let r = 0; r < y.length; r++)
    check(y[r]!.length === m, () => `splitHalfReliability: row ${r} has ${y[r]!.length} stimuli, row 0 has ${m}`);
  const a: number[] = [];
  const b: number[] = [];
  for (let j = 0; j < m; j++) {
    let k = 0;
    let sa = 0;
    let na = 0;
    let sb = 0;
    let nb = 0;
    for (let r = 0; r < y.length; r++) {
      const v = y[r]![j]!;
      if (Number.isNaN(v)) continue;
      if (k % 2 === 0) {
        sa += v;
        na++;
      } else {
        sb += v;
        nb++;
      }
      k++;
    }
    if (na > 0 && nb > 0) {
      a.push(sa / na);
      b.push(sb / nb);
    }
  }
  const r = pearson(a, b);
  return { halfCorrelation: r, reliability: (2 * r) / (1 + r), stimuli: a.length };
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  if (n < 2) return Number.NaN;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  if (aa === 0 || bb === 0) return Number.NaN;
  return ab / Math.sqrt(aa * bb);
}
