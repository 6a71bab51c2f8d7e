import { describe, expect, it } from "vitest";
import { disagreement } from "./disagreement.js";
import { kCenterGreedy } from "./coreset.js";

describe("disagreement", () => {
  it("is the median pairwise distance between members' population responses", () => {
    // 3 members, 2 images, 2 units. Image 0: members at (0,0), (3,4), (0,1) → distances 5, 1, √18 → median √18
    const m = Float32Array.from([0, 0, 1, 1, /* member 1 */ 3, 4, 1, 1, /* member 2 */ 0, 1, 1, 1]);
    const d = disagreement(m, 3, 2, 2);
    expect(d[0]).toBeCloseTo(Math.sqrt(18), 6);
    expect(d[1]).toBe(0);
  });
  it("says what it saw when shapes disagree", () => {
    expect(() => disagreement(new Float32Array(3), 2, 1, 2)).toThrow(/\[2, 1, 2\] needs 4 values, got 3/);
    expect(() => disagreement(new Float32Array(2), 1, 1, 2)).toThrow(/at least 2 members/);
  });
});

describe("kCenterGreedy", () => {
  it("picks the farthest point each time", () => {
    const pts = Float32Array.from([0, 0, 0.1, 0, 10, 0, 5, 0, 10, 0.2]);
    expect(kCenterGreedy(pts, 5, 2, 3, 0)).toEqual([0, 4, 3]);
  });
});
