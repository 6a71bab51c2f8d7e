import { describe, expect, it } from "vitest";
import { r2Raw } from "./r2-raw.js";

describe("r2Raw (squared Pearson correlation)", () => {
  it("matches the hand value", () => {
    // x̃=[-1,0,1], ỹ=[-1,-1,2]: 3² / (2·6)
    expect(r2Raw([1, 2, 3], [2, 2, 5])).toBeCloseTo(0.75, 12);
  });
  it("skips NaN pairs, is 0 for constants, NaN for fewer than 2 pairs", () => {
    expect(r2Raw([1, 2, 3, Number.NaN], [2, 2, 5, 9])).toBeCloseTo(0.75, 12);
    expect(r2Raw([4, 4, 4], [1, 2, 3])).toBe(0);
    expect(r2Raw([1], [1])).toBeNaN();
  });
  it("is 1 for a rescaled copy", () => {
    expect(r2Raw([1, 5, 2, 8], [-2, -10, -4, -16])).toBeCloseTo(1, 12);
  });
});
