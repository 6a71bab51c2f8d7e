import { describe, expect, it } from "vitest";
import { trueRateScores } from "../../src/main/campaign/campaign.js";

describe("trueRateScores: predictions against the simulated neurons' noise-free rates", () => {
  // Truth: 4 pictures × units "b#0", "a#0" (columns in the truth's own order).
  const truth = { unitNames: ["b#0", "a#0"], rates: Float64Array.from([10, 1, 20, 2, 30, 4, 40, 3]) };

  it("scores each unit by the squared correlation, matching units by name whatever the column order", () => {
    // Predictions [4 pictures, units a, b, c]: a is its rate reversed in part, b an affine copy, c unknown to the
    // truth.
    const predictions = Float32Array.from([
      1,
      -5,
      7, //
      2,
      -3,
      7, //
      3,
      -1,
      7, //
      4,
      1,
      7,
    ]);
    const [a, b, c] = trueRateScores(predictions, ["a#0", "b#0", "c#0"], truth);
    // a: x = 1..4, y = 1, 2, 4, 3 → r = 0.8, r² = 0.64 (by hand: Σxy − n·x̄ȳ = 4, Σ(x−x̄)² = Σ(y−ȳ)² = 5).
    expect(a).toBeCloseTo(0.64, 6);
    // b: −5 + 2k against 10k: a perfect affine fit, whatever the scale and offset.
    expect(b).toBeCloseTo(1, 6);
    expect(c).toBeNaN();
  });

  it("gives 0 for a constant prediction: it explains nothing", () => {
    expect(trueRateScores(Float32Array.from([3, 3, 3, 3]), ["a#0"], truth)).toEqual([0]);
  });
});
