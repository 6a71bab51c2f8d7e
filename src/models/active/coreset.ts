import { check } from "../metrics/assert.js";

/**
 * Greedy k-centre coreset: starts from `first` and repeatedly adds the point farthest (Euclidean)
 * from everything chosen so far. `points` is [n, d]; returns k indices in the order chosen.
 */
export function kCenterGreedy(points: Float32Array, n: number, d: number, k: number, first = 0): number[] {
  check(points.length === n * d, () => `kCenterGreedy: [${n}, ${d}] needs ${n * d} values, got ${points.length}`);
  check(first >= 0 && first < n, () => `kCenterGreedy: first ${first} is outside 0..${n - 1}`);
  const take = Math.min(k, n);
  const nearest = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const chosen: number[] = [];
  let next = first;
  while (chosen.length < take) {
    chosen.push(next);
    nearest[next] = -1;
    let far = -1;
    let farDist = -1;
    for (let i = 0; i < n; i++) {
      if (nearest[i]! < 0) continue;
      let s = 0;
      for (let j = 0; j < d; j++) s += (points[i * d + j]! - points[next * d + j]!) ** 2;
      if (s < nearest[i]!) nearest[i] = s;
      if (nearest[i]! > farDist) {
        farDist = nearest[i]!;
        far = i;
      }
    }
    if (far < 0) break;
    next = far;
  }
  return chosen;
}
