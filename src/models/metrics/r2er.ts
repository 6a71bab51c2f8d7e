import { check } from "./assert.js";

export interface R2erResult {
  /** Unbiased estimate of r²_ER: squared correlation between the model and the neuron's expected response. */
  r2er: number;
  /** Unbiased numerator: (Σ x̃ȳ̃)² − σ̂²/n · Σx̃². */
  numerator: number;
  /** Unbiased denominator: Σx̃² · Σȳ̃² − (m−1)σ̂²/n · Σx̃². */
  denominator: number;
  /** Trial-to-trial variance, averaged over stimuli (ddof 1 per stimulus). */
  trialVariance: number;
  /** Repeats per stimulus used in the correction (median over stimuli, as Cowley et al.'s code does). */
  repeats: number;
  /** Stimuli used (those with at least one non-NaN repeat). */
  stimuli: number;
}

/**
 * r²_ER of Pospisil & Bair 2021, the `r2er_n2m` (neuron-to-model) estimator of
 * deanpospisil/er_est: the squared correlation between model predictions `x` (m stimuli) and
 * the neuron's expected response, corrected for trial-to-trial noise in `y` (n repeats × m
 * stimuli). Unequal repeats are NaN-padded: means and variances ignore NaNs, and n is the median
 * number of repeats per stimulus. Stimuli with no repeat at all are dropped.
 *
 * Returns NaN when the correction cannot be formed: fewer than 2 usable stimuli, or no stimulus
 * with 2 repeats (the noise variance is unknown). Constant predictions return 0: they explain
 * none of the variation across stimuli (the formula itself is 0/0 there).
 */
export function r2er(x: ArrayLike<number>, y: ReadonlyArray<ArrayLike<number>>): R2erResult {
  const m0 = x.length;
  check(y.length > 0, () => `r2er: y needs at least one repeat row, got ${y.length}`);
  for (let r = 0; r < y.length; r++) {
    check(y[r]!.length === m0, () => `r2er: y row ${r} has ${y[r]!.length} stimuli but x has ${m0}`);
  }
  const means: number[] = [];
  const preds: number[] = [];
  const counts: number[] = [];
  let varSum = 0;
  let varStimuli = 0;
  for (let j = 0; j < m0; j++) {
    check(Number.isFinite(x[j]!), () => `r2er: prediction ${j} is ${x[j]}; predictions must be finite`);
    let n = 0;
    let sum = 0;
    for (let r = 0; r < y.length; r++) {
      const v = y[r]![j]!;
      if (!Number.isNaN(v)) {
        n++;
        sum += v;
      }
    }
    if (n === 0) continue;
    const mean = sum / n;
    if (n >= 2) {
      let ss = 0;
      for (let r = 0; r < y.length; r++) {
        const v = y[r]![j]!;
        if (!Number.isNaN(v)) ss += (v - mean) ** 2;
      }
      varSum += ss / (n - 1);
      varStimuli++;
    }
    means.push(mean);
    preds.push(x[j]!);
    counts.push(n);
  }
  const m = means.length;
  const n = median(counts);
  const sig2 = varStimuli > 0 ? varSum / varStimuli : Number.NaN;
  const nan: R2erResult = {
    r2er: Number.NaN,
    numerator: Number.NaN,
    denominator: Number.NaN,
    trialVariance: sig2,
    repeats: n,
    stimuli: m,
  };
  if (m < 2 || varStimuli === 0) return nan;
  const xMean = preds.reduce((a, b) => a + b, 0) / m;
  const yMean = means.reduce((a, b) => a + b, 0) / m;
  let xy = 0;
  let x2 = 0;
  let y2 = 0;
  for (let j = 0; j < m; j++) {
    const xc = preds[j]! - xMean;
    const yc = means[j]! - yMean;
    xy += xc * yc;
    x2 += xc * xc;
    y2 += yc * yc;
  }
  if (x2 === 0) return { ...nan, r2er: 0, numerator: 0, denominator: 0 };
  const numerator = xy * xy - (sig2 / n) * x2;
  const denominator = x2 * y2 - (((m - 1) * sig2) / n) * x2;
  return { r2er: numerator / denominator, numerator, denominator, trialVariance: sig2, repeats: n, stimuli: m };
}

export function median(values: ArrayLike<number>): number {
  const v = Array.from(values)
    .filter((a) => !Number.isNaN(a))
    .sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const h = v.length >> 1;
  return v.length % 2 === 1 ? v[h]! : (v[h - 1]! + v[h]!) / 2;
}
