import { describe, expect, it } from "vitest";
import type { UnitResponses } from "../../main/api/contract.js";
import { imageOrder } from "./Heatmaps.js";
import { predictionScores, type AvailablePrediction } from "./prediction-order.js";

const unit = (id: number) => ({ id, electrode: `e${id}`, sortedId: 0, label: `e${id}/0` });
const stimulus = (sha: string, means: number[]) => ({
  sha256: sha,
  block: "b",
  presentations: 1,
  incomplete: 0,
  meanByUnit: means,
  semByUnit: means.map(() => null),
  nByUnit: means.map(() => 1),
});
// Measured: image "a" drives both units most, so the population order is a, b, c, d.
const data = {
  units: [unit(1), unit(2)],
  stimuli: [stimulus("a", [9, 90]), stimulus("b", [5, 50]), stimulus("c", [3, 30]), stimulus("d", [1, 10])],
} as unknown as UnitResponses;

function prediction(rows: (number[] | null)[], stimuli = ["a", "b", "c", "d"]): AvailablePrediction {
  return {
    available: true,
    session: 1,
    candidates: [{ id: 7, name: "v7" }],
    modelVersion: { id: 7, name: "v7" },
    readout: "1",
    scale: "responses",
    frontEnd: "gabor",
    // The reply's units may come in another order: matched by id.
    units: [unit(2), unit(1)],
    stimuli,
    predictions: rows,
    seconds: 0,
    cached: false,
  };
}

describe("image order by a model's prediction", () => {
  it("sorts by the mean over units of standardized predictions, so a unit's scale does not dominate", () => {
    // Unit 2 (first row) predicts d > c > b > a on a large scale; unit 1 predicts c > d > b > a on a small one.
    const p = prediction([
      [100, 200, 300, 400],
      [0.1, 0.2, 0.45, 0.3],
    ]);
    expect(imageOrder(data, "population", 0)).toEqual([0, 1, 2, 3]);
    // Plain means would follow unit 2 alone (d first); standardized, c leads (unit 1's best, unit 2's second).
    const scores = predictionScores(data, p, "prediction", 0);
    expect(scores[2]!).toBeGreaterThan(scores[3]!);
    expect(imageOrder(data, "prediction", 0, p)).toEqual([2, 3, 1, 0]);
    // One unit's prediction: data.units[0] is unit 1 (the reply's second row).
    expect(imageOrder(data, "unit-prediction", 0, p)).toEqual([2, 3, 1, 0]);
    expect(imageOrder(data, "unit-prediction", 1, p)).toEqual([3, 2, 1, 0]);
  });

  it("puts images without a prediction last, and falls back to the response without a prediction", () => {
    const p = prediction([[4, 3, 2], null], ["c", "b", "a"]);
    expect(imageOrder(data, "prediction", 0, p)).toEqual([2, 1, 0, 3]);
    expect(imageOrder(data, "unit-prediction", 0, p)).toEqual([0, 1, 2, 3]);
    expect(imageOrder(data, "prediction", 0)).toEqual(imageOrder(data, "population", 0));
  });
});
