// Statistics of the causal analysis: mean ± s.e., a two-sample label permutation test and a
// one-sample sign-flip permutation test (exact up to 2^16 sign patterns).
import { Random } from "../../stimulus/index.js";

export function meanSe(xs: readonly number[]): { mean: number; se: number; n: number } {
  const n = xs.length;
  if (n === 0) return { mean: Number.NaN, se: Number.NaN, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, se: Number.NaN, n };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(v / n), n };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Two-sided p of mean(a) − mean(b) against random relabellings of a ∪ b ((hits + 1)/(draws + 1)). */
export function permutationTest(a: readonly number[], b: readonly number[], draws = 4000, seed = 1): number {
  if (a.length === 0 || b.length === 0) return Number.NaN;
  const observed = Math.abs(mean(a) - mean(b));
  const all = [...a, ...b];
  const random = new Random(seed);
  let hits = 0;
  for (let d = 0; d < draws; d++) {
    for (let i = all.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    let sa = 0;
    for (let i = 0; i < a.length; i++) sa += all[i]!;
    let sb = 0;
    for (let i = a.length; i < all.length; i++) sb += all[i]!;
    if (Math.abs(sa / a.length - sb / b.length) >= observed - 1e-12) hits++;
  }
  return (hits + 1) / (draws + 1);
}

/** Two-sided p that xs are symmetric around 0: every sign pattern when there are at most 16, else random ones. */
export function signFlipTest(xs: readonly number[], draws = 20000, seed = 1): number {
  const n = xs.length;
  if (n === 0) return Number.NaN;
  const observed = Math.abs(xs.reduce((a, b) => a + b, 0));
  const exceeds = (mask: (i: number) => boolean): boolean => {
    let s = 0;
    for (let i = 0; i < n; i++) s += mask(i) ? -xs[i]! : xs[i]!;
    return Math.abs(s) >= observed - 1e-9;
  };
  if (n <= 16) {
    let hits = 0;
    const patterns = 2 ** n;
    for (let m = 0; m < patterns; m++) if (exceeds((i) => ((m >> i) & 1) === 1)) hits++;
    return hits / patterns;
  }
  const random = new Random(seed);
  let hits = 0;
  for (let d = 0; d < draws; d++) if (exceeds(() => random.next() < 0.5)) hits++;
  return (hits + 1) / (draws + 1);
}
