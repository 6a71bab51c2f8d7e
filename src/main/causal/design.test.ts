import { describe, expect, it } from "vitest";
import { adversarialBaseCandidates } from "./design.js";

describe("adversarialBaseCandidates", () => {
  // Predictions 0..19 in a shuffled order: image i predicts values[i].
  const values = [7, 19, 3, 12, 0, 15, 9, 1, 18, 4, 11, 6, 16, 2, 13, 8, 17, 5, 14, 10];
  const predictedOf = (picks: number[]): number[] => picks.map((i) => values[i]!).sort((a, b) => a - b);

  it("takes the images whose prediction lies between the band's quantiles", () => {
    expect(predictedOf(adversarialBaseCandidates(values, [0.5, 0.8], 3))).toEqual([10, 11, 12, 13, 14, 15]);
    expect(predictedOf(adversarialBaseCandidates(values, [0, 1], 3))).toEqual(values.slice().sort((a, b) => a - b));
  });

  it("widens a band that holds fewer than asked to the nearest ranks, upward first, within the pool", () => {
    expect(predictedOf(adversarialBaseCandidates(values, [0.5, 0.55], 4))).toEqual([10, 11, 12, 13]);
    expect(predictedOf(adversarialBaseCandidates(values, [0.9, 1], 4))).toEqual([16, 17, 18, 19]);
    expect(adversarialBaseCandidates(values.slice(0, 3), [0.5, 0.8], 10)).toHaveLength(3);
  });
});
