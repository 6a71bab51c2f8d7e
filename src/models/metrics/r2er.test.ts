import { describe, expect, it } from "vitest";
import { median, r2er } from "./r2er.js";

describe("r2er (Pospisil & Bair 2021, n2m)", () => {
  it("matches the formula worked by hand on 2 repeats × 3 stimuli", () => {
    // means [2,2,5], σ̂² = (2+0+2)/3, x̃=[-1,0,1], ȳ̃=[-1,-1,2]: num 9 − 4/3, den 12 − 8/3
    const out = r2er(
      [1, 2, 3],
      [
        [1, 2, 4],
        [3, 2, 6],
      ],
    );
    expect(out.trialVariance).toBeCloseTo(4 / 3, 12);
    expect(out.numerator).toBeCloseTo(23 / 3, 12);
    expect(out.denominator).toBeCloseTo(28 / 3, 12);
    expect(out.r2er).toBeCloseTo(23 / 28, 12);
  });

  it("ignores NaN padding, drops stimuli without repeats and uses the median repeat count", () => {
    const N = Number.NaN;
    const out = r2er(
      [1, 2, 3, 100],
      [
        [1, 2, 4, N],
        [3, 2, 6, N],
        [N, N, 5, N],
      ],
    );
    // counts [2,2,3] → n = 2; σ̂² = (2 + 0 + 1)/3 = 1; num 9 − 1, den 12 − 2
    expect(out.stimuli).toBe(3);
    expect(out.repeats).toBe(2);
    expect(out.trialVariance).toBeCloseTo(1, 12);
    expect(out.r2er).toBeCloseTo(0.8, 12);
  });

  it("is invariant to the predictions' offset and scale", () => {
    const y = [
      [1, 2, 4, 0],
      [3, 2, 6, 1],
    ];
    expect(r2er([1, 2, 3, 0.5], y).r2er).toBeCloseTo(r2er([-7, -9, -11, -6], y).r2er, 12);
  });

  it("returns 0 for constant predictions and NaN with one repeat", () => {
    expect(
      r2er(
        [5, 5, 5],
        [
          [1, 2, 4],
          [3, 2, 6],
        ],
      ).r2er,
    ).toBe(0);
    expect(r2er([1, 2, 3], [[1, 2, 4]]).r2er).toBeNaN();
  });

  it("says where a shape mismatch was found", () => {
    expect(() => r2er([1, 2], [[1, 2, 3]])).toThrow(/r2er: y row 0 has 3 stimuli but x has 2/);
  });

  it("median handles even, odd and NaN", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([Number.NaN, 1])).toBe(1);
  });
});
