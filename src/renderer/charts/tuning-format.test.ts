import { describe, expect, it } from "vitest";
import type { TuningCurve } from "../../main/api/contract.js";
import { predictedLabel, predictedScaleText, predictorsOf, tuningRows } from "./tuning-format.js";

const axis = { generator: "gratings" as const, parameter: "orientationDeg", label: "orientation", unit: "deg" };
const measured: TuningCurve = {
  axis,
  stimuli: 6,
  x: [0, 60, 120.00000001],
  meanByUnit: [
    [1, 2, null],
    [4, 5, 6],
  ],
  semByUnit: [
    [0.1, 0.2, null],
    [0.4, 0.5, 0.6],
  ],
  nByUnit: [
    [3, 3, 0],
    [3, 3, 3],
  ],
};
const compact = { source: "compact" as const, modelVersionId: 4, scale: "compact" as const };
const ensemble = { source: "ensemble" as const, modelVersionId: 12, scale: "z-scored" as const };

describe("tuning tab rows and labels", () => {
  it("puts a unit's measured and predicted points on the same x, null where either is missing", () => {
    const curve: TuningCurve = {
      ...measured,
      predicted: {
        meanByUnit: [
          [0.5, null, 0.7],
          [null, null, null],
        ],
        imagesByUnit: [
          [2, 0, 2],
          [0, 0, 0],
        ],
        modelsByUnit: [[compact], []],
      },
    };
    expect(tuningRows(curve, 0)).toEqual([
      { x: 0, mean: 1, sem: 0.1, n: 3, predicted: 0.5, predictedImages: 2 },
      { x: 60, mean: 2, sem: 0.2, n: 3, predicted: null, predictedImages: 0 },
      { x: 120, mean: null, sem: 0, n: 0, predicted: 0.7, predictedImages: 2 },
    ]);
    expect(tuningRows(curve, 1).map((r) => r.predicted)).toEqual([null, null, null]);
    expect(predictorsOf(curve, 0)).toEqual([compact]);
    expect(predictorsOf(curve, 1)).toEqual([]);
    // A session without a design: measured only.
    expect(tuningRows(measured, 1).map((r) => [r.mean, r.predicted])).toEqual([
      [4, null],
      [5, null],
      [6, null],
    ]);
    expect(predictorsOf(measured, 0)).toEqual([]);
  });

  it("names the predicting model and its scale", () => {
    expect(predictedLabel([compact])).toBe("predicted (compact model v4)");
    expect(predictedLabel([ensemble])).toBe("predicted (ensemble v12)");
    expect(predictedLabel([compact, ensemble])).toBe("predicted (compact model v4, ensemble v12)");
    expect(predictedScaleText([compact])).toBe("the compact model's raw output");
    expect(predictedScaleText([ensemble, { ...ensemble, modelVersionId: 13 }])).toBe("z-scored responses");
  });
});
