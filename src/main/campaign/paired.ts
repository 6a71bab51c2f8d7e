// Paired comparisons of the two arms of `campaign --compare` (no tfjs: the benchmark that reads
// campaign.json files uses these without loading the models).

export interface Paired {
  n: number;
  mean: number;
  se: number;
  /** How many of the n differences are above zero. */
  above: number;
  /** Two-sided sign test: the chance of a split at least this uneven if either arm were as likely to win. */
  signP: number;
  /**
   * Two-sided Wilcoxon signed-rank test, exact: the chance, if each difference were as likely to be
   * positive as negative, of a signed rank sum at least this far from its middle. Uses the sizes of
   * the differences as well as their signs, so it separates arms the sign test cannot.
   */
  signedRankP: number;
}

/** P(X >= k) for X ~ Binomial(n, 1/2). */
function binomialTail(n: number, k: number): number {
  let p = 0;
  let c = 1;
  for (let i = 0; i <= n; i++) {
    if (i >= k) p += c;
    c = (c * (n - i)) / (i + 1);
  }
  return p / 2 ** n;
}

/**
 * Exact two-sided Wilcoxon signed-rank p of differences: zeros are left out, tied sizes share their
 * mean rank, and the null distribution of the positive ranks' sum is enumerated (each rank's sign
 * a fair coin), in half-ranks so that shared ranks stay whole numbers.
 */
export function signedRankP(differences: readonly number[]): number {
  const d = differences.filter((x) => Number.isFinite(x) && x !== 0);
  const n = d.length;
  if (n === 0) return 1;
  const order = d.map((x, i) => ({ a: Math.abs(x), i })).sort((x, y) => x.a - y.a);
  const twiceRank = new Array<number>(n);
  for (let lo = 0; lo < n;) {
    let hi = lo;
    while (hi + 1 < n && order[hi + 1]!.a === order[lo]!.a) hi++;
    for (let k = lo; k <= hi; k++) twiceRank[order[k]!.i] = lo + hi + 2; // 2 × the mean of ranks lo+1..hi+1
    lo = hi + 1;
  }
  const total = twiceRank.reduce((s, r) => s + r, 0);
  const observed = d.reduce((s, x, i) => (x > 0 ? s + twiceRank[i]! : s), 0);
  // chance[w]: probability that the positive half-ranks sum to w.
  let chance = new Float64Array(total + 1);
  chance[0] = 1;
  for (const r of twiceRank) {
    const next = new Float64Array(total + 1);
    for (let w = 0; w <= total; w++) {
      const c = chance[w]!;
      if (c === 0) continue;
      next[w] += c / 2;
      next[w + r] += c / 2;
    }
    chance = next;
  }
  let below = 0;
  let above = 0;
  for (let w = 0; w <= total; w++) {
    if (w <= observed) below += chance[w]!;
    if (w >= observed) above += chance[w]!;
  }
  return Math.min(1, 2 * Math.min(below, above));
}

/** Mean, standard error, sign test and signed-rank test of paired differences (NaNs skipped). */
export function paired(differences: readonly number[]): Paired {
  const d = differences.filter(Number.isFinite);
  const n = d.length;
  const mean = n > 0 ? d.reduce((s, x) => s + x, 0) / n : Number.NaN;
  const se = n > 1 ? Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) / n) : Number.NaN;
  const above = d.filter((x) => x > 0).length;
  const below = d.filter((x) => x < 0).length;
  const m = above + below;
  const signP = m === 0 ? 1 : Math.min(1, 2 * binomialTail(m, Math.max(above, below)));
  return { n, mean, se, above, signP, signedRankP: signedRankP(d) };
}

/** Unit-by-unit differences a − b over the units scored in both (see `paired`). */
export function pairedDifference(a: readonly number[], b: readonly number[]): Paired {
  return paired(Array.from({ length: Math.min(a.length, b.length) }, (_, i) => a[i]! - b[i]!));
}
