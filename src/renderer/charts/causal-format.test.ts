import { describe, expect, it } from "vitest";
import { formatChange, formatP, niceRange } from "./causal-format.js";

describe("causal panel formats", () => {
  it("niceRange: whole steps of 1, 2 or 5 × 10^k around the data and 0, a point never on the frame", () => {
    expect(niceRange(-8.7, 28.7)).toEqual({ lo: -10, hi: 30, ticks: [-10, -5, 0, 5, 10, 15, 20, 25, 30] });
    expect(niceRange(-16116.9, 30000)).toEqual({
      lo: -20000,
      hi: 40000,
      ticks: [-20000, -10000, 0, 10000, 20000, 30000, 40000],
    });
    const r = niceRange(-20, 40);
    expect(r.lo).toBeLessThan(-20);
    expect(r.hi).toBeGreaterThan(40);
    expect(niceRange(2, 3).lo).toBe(0);
    for (const [a, b] of [
      [-0.3, 0.2],
      [5, 1234],
      [-99, -3],
    ] as const) {
      const { lo, hi, ticks } = niceRange(a, b);
      expect(lo).toBeLessThanOrEqual(Math.min(a, 0));
      expect(hi).toBeGreaterThanOrEqual(Math.max(b, 0));
      expect(ticks.length).toBeLessThanOrEqual(11);
      expect(ticks[0]).toBe(lo);
      expect(ticks.at(-1)).toBe(hi);
    }
  });

  it("prints %Δr and p as `analyze causal` does, and — where undefined", () => {
    expect(formatChange(14.46, 0.05)).toBe("14.5 ± 0.1");
    expect(formatChange(-8.7, null)).toBe("-8.7");
    expect(formatChange(null, 1)).toBe("—");
    expect(formatP(0.0004)).toBe("<0.001");
    expect(formatP(0.125)).toBe("0.125");
    expect(formatP(null)).toBe("—");
  });
});
