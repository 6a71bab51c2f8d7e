import { SeededRandom } from "../data/random.js";
import { check } from "../metrics/assert.js";

/**
 * Power sampling (stochastic batch acquisition, Kirsch et al. 2023): k indices drawn without
 * replacement, each draw with chance proportional to weight^power. Top-k takes the k highest scores,
 * which for a batch often means k near-copies of one hard image; drawing in proportion to a sharpened
 * score keeps the preference for high scores but spreads the batch. Power 0 draws uniformly among
 * the positive weights; as the power grows it tends to top-k. Negative and NaN weights count as zero; once only zero
 * weights are left,
 * the rest are drawn uniformly, so k are always returned (or every index, when k exceeds them).
 */
export function powerSample(
  weights: Float64Array | readonly number[],
  k: number,
  power: number,
  rng: SeededRandom,
): number[] {
  check(Number.isFinite(power) && power >= 0, () => `powerSample: the power must be a number ≥ 0, got ${power}`);
  const w = Array.from(weights, (v) => (v > 0 ? v ** power : 0));
  const left = w.map((_, i) => i);
  const out: number[] = [];
  while (out.length < k && left.length > 0) {
    const total = left.reduce((s, i) => s + w[i]!, 0);
    let x = rng.next() * total;
    let at = left.length - 1;
    if (total > 0) {
      for (let j = 0; j < left.length; j++) {
        x -= w[left[j]!]!;
        if (x < 0) {
          at = j;
          break;
        }
      }
    } else at = Math.floor(rng.next() * left.length);
    out.push(left[at]!);
    left.splice(at, 1);
  }
  return out;
}
