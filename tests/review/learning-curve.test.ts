/** The learning curve groups model versions into lineages (a version and those it continued from). */
import { describe, expect, it } from "vitest";
import { learningCurve, r2erOf } from "../../src/main/review/index.js";
import type { ModelVersionRow } from "../../src/main/store/index.js";

function version(
  id: number,
  parentId: number | null,
  metrics: Record<string, unknown>,
  config: Record<string, unknown> = {},
): ModelVersionRow {
  return {
    id,
    name: `v${id}`,
    kind: "deep-ensemble",
    parentId,
    createdAt: `2025-01-0${id}T00:00:00Z`,
    metrics,
    config,
    sessionIds: [],
  };
}

describe("learningCurve", () => {
  it("one series per lineage; per-unit r²_ER with non-numbers as null; versions without one left out", () => {
    const versions = [
      {
        ...version(
          1,
          null,
          { r2er: 0.1, r2erPerUnit: [0.2, null, 0.0], r2erMetric: "r2er" },
          { campaign: "c", selection: "active" },
        ),
        sessionIds: [1],
      },
      { ...version(2, null, { r2er: 0.05 }, { campaign: "c", selection: "random" }), sessionIds: [1] },
      { ...version(3, 1, { r2er: 0.3, r2erPerUnit: [0.4, 0.1, "x"], trueR2: 0.5 }), sessionIds: [1, 2] },
      version(4, 3, { loss: 2 }),
      { ...version(5, 4, { r2er: { mean: 0.35 } }), sessionIds: [1, 2, 3] },
      // A new session's readout on the frozen model: a stopgap before the retrain, not a point.
      { ...version(6, 5, { r2er: 0.2, r2erPerUnit: [0.2] }, { readoutFirst: true }), sessionIds: [1, 2, 3] },
    ];
    const series = learningCurve(versions);
    expect(series.map((s) => [s.rootId, s.label, s.points.map((p) => p.versionId)])).toEqual([
      [1, "c · active", [1, 3, 5]],
      [2, "c · random", [2]],
    ]);
    const [a] = series;
    expect(a!.points.map((p) => p.median)).toEqual([0.1, 0.3, 0.35]);
    expect(a!.points[1]!.perUnit).toEqual([0.4, 0.1, null]);
    expect(a!.points[1]!.trueMedian).toBe(0.5);
    expect(a!.points.map((p) => p.sessions.length)).toEqual([1, 2, 3]);
  });

  it("r2erOf reads the names the project's metrics use", () => {
    expect(r2erOf({ r2ER: 0.2 })).toBe(0.2);
    expect(r2erOf({ r2_er: { mean: 0.4 } })).toBe(0.4);
    expect(r2erOf({ r2er: Number.NaN })).toBeNull();
    expect(r2erOf({})).toBeNull();
  });
});
