import { describe, expect, it } from "vitest";
import { emptyLiveState, liveEtaMs, reduceLive, unitResponsiveness } from "./live-state.js";
import type { LiveEvent } from "./live-contract.js";

const A = "a".repeat(64);
const B = "b".repeat(64);
const unit = (sortedId: number, bins: number[]) => ({ unit: { electrode: "e1", sortedId }, bins });

function counts(idx: number, sha256: string, u1: number, u2: number, complete = true): LiveEvent {
  return {
    kind: "counts",
    counts: [{ presentationIdx: idx, onsetSample: idx, complete, sha256, units: [unit(1, [u1, 0]), unit(2, [0, u2])] }],
  };
}

describe("reduceLive", () => {
  const start: LiveEvent = { kind: "started", sessionId: 7, uuid: "u", name: "s", total: 10, cycleMs: 200 };

  it("sums bins per presentation, means count complete counts only, and the raster keeps every row", () => {
    const s = reduceLive(emptyLiveState(), [start, counts(0, A, 2, 3), counts(1, A, 4, 1), counts(2, B, 9, 9, false)]);
    expect(s.units.map((u) => u.key)).toEqual(["e1#1", "e1#2"]);
    expect(s.units.map((u) => u.sum / u.n)).toEqual([3, 2]);
    expect(s.committed).toBe(3);
    expect(s.complete).toBe(2);
    expect(s.recent.map((r) => r.counts)).toEqual([
      [2, 3],
      [4, 1],
      [9, 9],
    ]);
    expect(s.images[B]).toBeUndefined();
  });

  it("does not change the state it was given", () => {
    const a = reduceLive(emptyLiveState(), [start, counts(0, A, 2, 3)]);
    const frozen = JSON.stringify(a);
    reduceLive(a, [counts(1, A, 5, 5), { kind: "fault", code: "other", message: "m", presentationIdxs: [] }]);
    expect(JSON.stringify(a)).toBe(frozen);
  });

  it("pause, resume, end; ETA from what is left × the cycle", () => {
    let s = reduceLive(emptyLiveState(), [start, { kind: "presented", n: 4, total: 10, idx: 3, sha256: A }]);
    expect(liveEtaMs(s)).toBe(6 * 200);
    s = reduceLive(s, [{ kind: "paused", by: "operator", reason: "r", atPresentation: 4 }]);
    expect(s.phase).toBe("paused");
    s = reduceLive(s, [{ kind: "resumed", by: "operator" }]);
    expect([s.phase, s.pause]).toEqual(["running", null]);
    s = reduceLive(s, [
      { kind: "ended", state: "completed", presented: 10, scheduled: 10, countsStored: 10, faults: 0 },
    ]);
    expect(s.phase).toBe("ended");
    expect(liveEtaMs(s)).toBeNull();
  });

  it("a new session starts its counts afresh but keeps the campaign's training, curve and proposal", () => {
    let s = reduceLive(emptyLiveState(), [
      start,
      counts(0, A, 1, 1),
      {
        kind: "training",
        label: "x",
        afterSession: 1,
        cycle: 1,
        maxCycles: 3,
        loss: 2,
        validationLoss: 1.5,
        validation: 0.1,
      },
      {
        kind: "training",
        label: "x",
        afterSession: 1,
        cycle: 2,
        maxCycles: 3,
        loss: 1,
        validationLoss: 1.2,
        validation: 0.2,
      },
      { kind: "retrained", label: "x", afterSession: 1, r2er: 0.3, modelVersionId: 5 },
    ]);
    expect(s.training?.points.map((p) => p.cycle)).toEqual([1, 2]);
    s = reduceLive(s, [{ ...start, sessionId: 8 }]);
    expect(s.units).toEqual([]);
    expect(s.session?.id).toBe(8);
    expect(s.training?.points).toHaveLength(2);
    expect(s.retrained).toHaveLength(1);
  });
});

describe("unitResponsiveness", () => {
  it("one-way ANOVA F over images, as computed by hand", () => {
    // Unit 1: image A 2, 4 (mean 3); image B 8, 10 (mean 9). Grand mean 6.
    // Between = 2·9 + 2·9 = 36 on 1 df; within = 2 + 2 = 4 on 2 df (MS 2): F = 18.
    const s = reduceLive(emptyLiveState(), [
      counts(0, A, 2, 5),
      counts(1, A, 4, 5),
      counts(2, B, 8, 5),
      counts(3, B, 10, 5),
    ]);
    const [u1, u2] = unitResponsiveness(s);
    expect(u1).toMatchObject({ key: "e1#1", n: 4, mean: 6, dfImages: 1, dfWithin: 2 });
    expect(u1!.f).toBeCloseTo(18, 10);
    // Unit 2 never varies: no within-image variance, no F.
    expect(u2!.f).toBeNull();
  });

  it("no F without repeats", () => {
    const s = reduceLive(emptyLiveState(), [counts(0, A, 2, 5), counts(1, B, 4, 5)]);
    expect(unitResponsiveness(s)[0]!.f).toBeNull();
  });
});
