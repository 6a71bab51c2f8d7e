import { describe, expect, it } from "vitest";
import { splitHalfReliability } from "./split-half-reliability.js";

describe("splitHalfReliability (Spearman-Brown)", () => {
  it("matches the hand value", () => {
    // halves a=[1,2,3,4], b=[2,2,4,3]: r = 2.5 / √(5 · 2.75)
    const out = splitHalfReliability([
      [1, 2, 3, 4],
      [2, 2, 4, 3],
    ]);
    const r = 2.5 / Math.sqrt(5 * 2.75);
    expect(out.halfCorrelation).toBeCloseTo(r, 12);
    expect(out.reliability).toBeCloseTo((2 * r) / (1 + r), 12);
    expect(out.stimuli).toBe(4);
  });
  it("splits each stimulus's valid repeats alternately, skipping NaN", () => {
    const N = Number.NaN;
    // stimulus 2 has one valid repeat and is skipped
    const out = splitHalfReliability([
      [1, N, 7, 2, 5],
      [N, 2, N, 3, 4],
      [3, 4, N, N, 9],
    ]);
    expect(out.stimuli).toBe(4);
    // valid repeats per stimulus: [1,3] [2,4] [2,3] [5,4,9] → halves a (1st, 3rd) and b (2nd)
    const a = [1, 2, 2, 7];
    const b = [3, 4, 3, 4];
    const ma = 3;
    const mb = 3.5;
    const ab = a.reduce((s, v, i) => s + (v - ma) * (b[i]! - mb), 0);
    const aa = a.reduce((s, v) => s + (v - ma) ** 2, 0);
    const bb = b.reduce((s, v) => s + (v - mb) ** 2, 0);
    expect(out.halfCorrelation).toBeCloseTo(ab / Math.sqrt(aa * bb), 12);
  });
  it("is NaN with one repeat", () => {
    expect(splitHalfReliability([[1, 2, 3]]).reliability).toBeNaN();
  });
});
