// The predicted tuning curve beside the measured one: a sweep image's stored predictions are read per design unit
// (the newest readable design's, with the model that made them), and each unit's predicted point averages the same
// images as its measured point (a grating's phases; only images the unit's counted presentations showed).
import { describe, expect, it } from "vitest";
import {
  defaultCounting,
  storedPredictions,
  tuningCurves,
  type DesignDetail,
  type SessionCounts,
  type SweptImage,
} from "../../src/main/review/index.js";
import type { GeneratorParameters } from "../../src/stimulus/index.js";

const design = (units: DesignDetail["units"], scale: DesignDetail["scale"] = "responses"): DesignDetail => ({
  units,
  scale,
});

describe("stored predictions of a sweep image", () => {
  const details = new Map<number, DesignDetail | undefined>([
    [
      1,
      design(
        new Map([
          ["e0#0", { source: "ensemble" as const, modelVersionId: 3 }],
          ["e1#0", { source: "compact" as const, modelVersionId: 7 }],
        ]),
        "z-scored",
      ),
    ],
    [2, design(new Map([["e0#0", { source: "compact" as const, modelVersionId: 9 }]]), "compact")],
    [3, undefined],
  ]);
  const detailOf = (d: number): DesignDetail | undefined => details.get(d);

  it("takes the newest design's prediction per unit, with its model; a compact model keeps its own scale", () => {
    const p = storedPredictions(
      [
        { design: 1, predicted: JSON.stringify({ "e0#0": 1.5, "e1#0": -0.25 }) },
        { design: 2, predicted: JSON.stringify({ "e0#0": 4 }) },
      ],
      detailOf,
    );
    expect(p.get("e0#0")).toEqual({ value: 4, by: { source: "compact", modelVersionId: 9, scale: "compact" } });
    // In a design whose ensemble predicts z-scores, the unit's compact model still predicts its raw output.
    expect(p.get("e1#0")).toEqual({ value: -0.25, by: { source: "compact", modelVersionId: 7, scale: "compact" } });
    const ensemble = storedPredictions([{ design: 1, predicted: JSON.stringify({ "e0#0": 1.5 }) }], detailOf);
    expect(ensemble.get("e0#0")!.by).toEqual({ source: "ensemble", modelVersionId: 3, scale: "z-scored" });
  });

  it("skips what cannot be read (a design without units, bad JSON, a unit the design does not name, null)", () => {
    const p = storedPredictions(
      [
        { design: 3, predicted: JSON.stringify({ "e0#0": 100 }) },
        { design: 2, predicted: "{not json" },
        { design: 1, predicted: JSON.stringify({ "e0#0": 2, "e9#0": 5, "e1#0": null }) },
      ],
      detailOf,
    );
    expect([...p.keys()]).toEqual(["e0#0"]);
    expect(p.get("e0#0")!.value).toBe(2);
  });
});

describe("predicted tuning curve", () => {
  // Four orientations × two phases, one image each; units e0#0 and e1#0 recorded, and e2#0 that no design named.
  const images = [0, 45, 90, 135].flatMap((orientationDeg) =>
    [0, Math.PI].map((phaseRad) => ({
      sha: `${orientationDeg}-${phaseRad}`.padEnd(64, "0"),
      params: {
        generator: "gratings",
        orientationDeg,
        cyclesPerImage: 4,
        phaseRad,
        contrast: 1,
      } as GeneratorParameters,
      e0: orientationDeg / 10 + (phaseRad === 0 ? 1 : 3),
    })),
  );
  const ensemble = { source: "ensemble" as const, modelVersionId: 5, scale: "responses" as const };
  const swept = (withPredictions: boolean): Map<string, SweptImage> =>
    new Map(
      images.map((im) => [
        im.sha,
        {
          params: im.params,
          sweeps: ["orientation-frequency"],
          predicted: new Map(
            withPredictions
              ? [
                  ["e0#0", { value: im.e0, by: ensemble }],
                  ["e1#0", { value: -im.e0, by: ensemble }],
                ]
              : [],
          ),
        },
      ]),
    );
  const units = ["e0", "e1", "e2"].map((electrode, id) => ({ id: id + 1, electrode, sortedId: 0, label: electrode }));
  // Each image shown twice; unit e1#0 has no value for the phase-π grating at 90° (NaN), so that image is not in
  // its measured point, nor in its predicted one.
  const presentations = [...images, ...images].map((im, idx) => ({
    idx,
    block: "tuning",
    sha256: im.sha,
    eventCode: 1,
    status: "shown" as const,
    scheduledMs: idx * 100,
    shownMs: idx * 100,
    durationMs: 100,
    onsetSample: null,
    counts: "complete" as const,
  }));
  const values = new Float64Array(units.length * presentations.length).map((_, k) => {
    const u = Math.floor(k / presentations.length);
    const im = images[(k % presentations.length) % images.length]!;
    if (u === 1 && im.params.generator === "gratings" && im.params.orientationDeg === 90 && im.params.phaseRad > 0)
      return Number.NaN;
    return 10 + im.e0;
  });
  const data: SessionCounts = {
    sessionId: 1,
    units,
    presentations,
    bins: 1,
    binMs: 100,
    windowStartMs: 50,
    values,
    imported: true,
  };
  const stimuli = new Map(images.map((im) => [im.sha, { origin: "tuning:orientation-frequency", width: 32 }]));
  const orientation = (s: Map<string, SweptImage>) =>
    tuningCurves(data, stimuli, defaultCounting, 8, s).find((c) => c.axis.parameter === "orientationDeg")!;

  it("averages each unit's stored predictions over the images of its measured point, on the same x", () => {
    const c = orientation(swept(true));
    expect(c.x).toEqual([0, 45, 90, 135]);
    // Mean over the two phases: orientation/10 + 2.
    expect(c.predicted!.meanByUnit[0]).toEqual([2, 6.5, 11, 15.5]);
    expect(c.predicted!.imagesByUnit[0]).toEqual([2, 2, 2, 2]);
    expect(c.meanByUnit[0]).toEqual([12, 16.5, 21, 25.5]);
    // e1#0's point at 90° counts the phase-0 image only, measured and predicted alike.
    expect(c.predicted!.meanByUnit[1]).toEqual([-2, -6.5, -10, -15.5]);
    expect(c.predicted!.imagesByUnit[1]).toEqual([2, 2, 1, 2]);
    expect(c.nByUnit[1]).toEqual([4, 4, 2, 4]);
    expect(c.predicted!.modelsByUnit[0]).toEqual([ensemble]);
    // No design named e2#0: no prediction, no model.
    expect(c.predicted!.meanByUnit[2]).toEqual([null, null, null, null]);
    expect(c.predicted!.modelsByUnit[2]).toEqual([]);
  });

  it("leaves the curve as measured only where no image has a stored prediction", () => {
    const c = orientation(swept(false));
    expect(c.predicted).toBeUndefined();
    expect(c.meanByUnit[0]).toEqual([12, 16.5, 21, 25.5]);
  });
});
