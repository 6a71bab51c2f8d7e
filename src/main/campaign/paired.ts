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

/** Mean, standard error and sign test of paired differences (NaNs skipped). */
export function paired(differences: readonly number[]): Paired {
  const d = differences.filter(Number.isFinite);
  const n = d.length;
  const mean = n > 0 ? d.reduce((s, x) => s + x, 0) / n : Number.NaN;
  const se = n > 1 ? Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) / n) : Number.NaN;
  const above = d.filter((x) => x > 0).length;
  const below = d.filter((x) => x < 0).length;
  const m = above + below;
  const signP = m === 0 ? 1 : Math.min(1, 2 * binomialTail(m, Math.max(above, below)));
  return { n, mean, se, above, signP };
}

/** Unit-by-unit differences a − b over the units scored in both (see `paired`). */
export function pairedDifference(a: readonly number[], b: readonly number[]): Paired {
  return paired(Array.from({ length: Math.min(a.length, b.length) }, (_, i) => a[i]! - b[i]!));
}
