import { describe, expect, it } from "vitest";
import { SeededRandom } from "../data/random.js";
import { powerSample } from "./power.js";

describe("powerSample: k drawn without replacement with chance ∝ weight^power", () => {
  it("draws k distinct indices, never one of weight zero while others are left, the same for the same seed", () => {
    const w = [0, 1, 0, 2, 3, 0, 4];
    const a = powerSample(w, 4, 1, new SeededRandom(5));
    expect(new Set(a).size).toBe(4);
    expect(a.sort()).toEqual([1, 3, 4, 6]);
    expect(powerSample(w, 3, 2, new SeededRandom(9))).toEqual(powerSample(w, 3, 2, new SeededRandom(9)));
    // Past the positive weights it fills up from the rest rather than stopping short.
    expect(new Set(powerSample(w, 6, 1, new SeededRandom(1))).size).toBe(6);
    expect(powerSample(w, 10, 1, new SeededRandom(1))).toHaveLength(7);
  });

  it("favours large weights more as the power grows", () => {
    // Weight 2 against 1: chance 2/3 at power 1, 16/17 at power 4, for the first draw.
    const firstIsLarge = (power: number): number => {
      let k = 0;
      for (let s = 1; s <= 2000; s++) if (powerSample([1, 2], 1, power, new SeededRandom(s))[0] === 1) k++;
      return k / 2000;
    };
    expect(firstIsLarge(1)).toBeGreaterThan(0.62);
    expect(firstIsLarge(1)).toBeLessThan(0.72);
    expect(firstIsLarge(4)).toBeGreaterThan(0.92);
  });

  it(
    "treats NaN and negative weights as zero, draws uniformly among positive weights at power 0, and refuses a " +
      "bad power",
    () => {
      const w = [Number.NaN, 5, -3, 1];
      for (let s = 1; s <= 50; s++) expect(powerSample(w, 2, 2, new SeededRandom(s)).sort()).toEqual([1, 3]);
      let large = 0;
      for (let s = 1; s <= 2000; s++) if (powerSample([1, 9], 1, 0, new SeededRandom(s))[0] === 1) large++;
      expect(large / 2000).toBeGreaterThan(0.45);
      expect(large / 2000).toBeLessThan(0.55);
      expect(() => powerSample(w, 1, -1, new SeededRandom(1))).toThrow(/power must be a number ≥ 0, got -1/);
      expect(() => powerSample(w, 1, Number.NaN, new SeededRandom(1))).toThrow(/power must be a number ≥ 0/);
    },
  );
});
