import { check } from "./assert.js";

/**
 * Raw (not noise-corrected) explained variance as Cowley et al. 2023 report it when no repeats
 * are available: the SQUARED PEARSON CORRELATION between predictions and repeat-averaged
 * responses, so a model's arbitrary offset and scale do not count against it (1 − SSE/SST
 * would). Pairs where either value is NaN are skipped. Returns NaN with fewer than 2 pairs;
 * 0 when either side is constant (nothing is explained).
 */
export function r2Raw(x: ArrayLike<number>, y: ArrayLike<number>): number {
  check(x.length === y.length, () => `r2Raw: x has ${x.length} values but y has ${y.length}`);
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]!) || Number.isNaN(y[i]!)) continue;
    n++;
    sx += x[i]!;
    sy += y[i]!;
  }
  if (n < 2) return Number.NaN;
  const mx = sx / n;
  const my = sy / n;
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]!) || Number.isNaN(y[i]!)) continue;
    const a = x[i]! - mx;
    const b = y[i]! - my;
    xy += a * b;
    xx += a * a;
    yy += b * b;
  }
  if (xx === 0 || yy === 0) return 0;
  return (xy * xy) / (xx * yy);
}
