import { check } from "../metrics/assert.js";

/**
 * Ensemble disagreement per image: the median, over all pairs of members, of the Euclidean
 * distance between the two members' predicted population responses. `members` is [M, N, U] in
 * C order. Needs at least 2 members.
 */
export function disagreement(members: Float32Array, m: number, n: number, u: number): Float64Array {
  check(m >= 2, () => `disagreement: needs at least 2 members, got ${m}`);
  check(
    members.length === m * n * u,
    () => `disagreement: [${m}, ${n}, ${u}] needs ${m * n * u} values, got ${members.length}`,
  );
  const out = new Float64Array(n);
  const d: number[] = [];
  for (let i = 0; i < n; i++) {
    d.length = 0;
    for (let a = 0; a < m; a++) {
      for (let b = a + 1; b < m; b++) {
        let s = 0;
        const oa = (a * n + i) * u;
        const ob = (b * n + i) * u;
        for (let k = 0; k < u; k++) s += (members[oa + k]! - members[ob + k]!) ** 2;
        d.push(Math.sqrt(s));
      }
    }
    d.sort((x, y) => x - y);
    const h = d.length >> 1;
    out[i] = d.length % 2 === 1 ? d[h]! : (d[h - 1]! + d[h]!) / 2;
  }
  return out;
}
