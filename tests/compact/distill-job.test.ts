import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStore } from "../../src/main/store/index.js";
import { startDistillJob } from "../../src/main/jobs/start-distill.js";
import type { DistillParams } from "../../src/main/jobs/distill.js";
import type { DistillMessage } from "../../src/main/compact/distill-run.js";
import { CHECKPOINT_KIND } from "../../src/main/compact/distill-run.js";
import { compactVersion, listCompactVersions, unitOf } from "../../src/main/compact/versions.js";
import { tempDir } from "../helpers/tmp.js";
import { compactFixture, tinySettings, type CompactFixture } from "./fixture.js";

const tmp = tempDir("cl-distill-");
let fx: CompactFixture;

beforeAll(async () => {
  fx = await compactFixture(tmp.dir);
}, 120_000);
afterAll(() => tmp.cleanup());

function compactCount(): number {
  const store = SessionStore.open(fx.db);
  try {
    return listCompactVersions(store).length;
  } finally {
    store.close();
  }
}

describe("cortexloop distill (worker-thread job)", () => {
  it(
    "distills, prunes and stores one compact model per unit, linked to its teacher and its unit, with its " + "metrics",
    async () => {
      const store = SessionStore.open(fx.db);
      try {
        const progress: DistillMessage[] = [];
        const handle = startDistillJob(
          store,
          { teacher: fx.teacherId, units: ["e0#0", "e2"], settings: tinySettings, checkpointEvery: 3 },
          (m) => progress.push(m),
        );
        const final = await handle.done;
        expect(final.type, final.type === "failed" ? final.message : "").toBe("done");
        if (final.type !== "done") return;
        const s = final.summary;
        expect(s.units.map((u) => u.unit)).toEqual(["e0#0", "e2#0"]);
        expect(progress.some((m) => m.type === "progress" && m.phase === "population")).toBe(true);
        for (const u of s.units) {
          const { row, arrays } = compactVersion(store, u.modelVersionId);
          expect(row.parentId).toBe(fx.teacherId);
          expect(unitOf(row)).toMatchObject({
            sessionId: fx.sessionId,
            name: u.unit,
            column: u.unit === "e0#0" ? 0 : 2,
          });
          expect(row.sessionIds).toEqual([fx.sessionId]);
          expect(arrays).toHaveLength(36);
          expect(row.metrics.filters).toEqual(u.filters);
          expect(typeof row.metrics.r2Teacher).toBe("number");
          expect(row.metrics.filtersBeforePruning).toEqual([4, 4, 3, 3, 3]);
          // Pruning never goes below the minimum and never adds a filter.
          u.filters.forEach((k, l) => {
            expect(k).toBeGreaterThanOrEqual(Math.min(2, [4, 4, 3, 3, 3][l]!));
            expect(k).toBeLessThanOrEqual([4, 4, 3, 3, 3][l]!);
          });
          expect(u.recorded.metric).toBe("r2raw");
          // The held-out natural images alone are scored too (a subset of the held-out R²'s images).
          expect(u.r2TeacherNatural).toBeGreaterThanOrEqual(0);
          expect(u.r2TeacherNatural).toBeLessThanOrEqual(1);
          expect(row.metrics.pruneCheck).toMatchObject({ images: expect.any(Number) as number });
        }
        expect(s.medians.r2TeacherNatural).toBeGreaterThanOrEqual(0);
        // The job's events end in done, after checkpoints of the shared model and of each unit.
        const events = store.jobEvents(handle.jobId);
        expect(events.at(-1)!.state).toBe("done");
        const checkpoints = events
          .filter((e) => e.state === "checkpoint")
          .map((e) => JSON.parse(e.detail!) as { phase: string });
        expect(checkpoints.filter((c) => c.phase === "unit")).toHaveLength(2);
        expect(checkpoints.filter((c) => c.phase === "population").length).toBeGreaterThanOrEqual(2);
      } finally {
        store.close();
      }
    },
    300_000,
  );

  it(
    "refuses a teacher that is not an ensemble, a missing version and a unit that is not recorded, storing " +
      "nothing",
    async () => {
      const before = compactCount();
      const store = SessionStore.open(fx.db);
      try {
        const compactId = listCompactVersions(store)[0]!.id;
        const cases: [DistillParams, RegExp][] = [
          [
            { teacher: compactId },
            new RegExp(`Model version ${compactId} is a compact-model, not a deep ensemble.*Nothing was distilled`),
          ],
          [{ teacher: 9999 }, /No model version 9999 .*nothing was distilled/],
          [
            { teacher: fx.teacherId, units: ["e7#0"] },
            /Unit "e7#0" is not recorded in session S1 .*its units are e0#0, e1#0, e2#0\. Nothing was distilled/,
          ],
        ];
        for (const [params, message] of cases) {
          const final = await startDistillJob(store, { ...params, settings: tinySettings }).done;
          expect(final.type).toBe("failed");
          if (final.type === "failed") expect(final.message).toMatch(message);
        }
      } finally {
        store.close();
      }
      expect(compactCount()).toBe(before);
    },
    300_000,
  );

  it("a cancelled job keeps its checkpoint and resumes to the same set of units, each stored once", async () => {
    const store = SessionStore.open(fx.db);
    try {
      const before = listCompactVersions(store).length;
      let cancelledAt: number | undefined;
      const handle = startDistillJob(
        store,
        { teacher: fx.teacherId, settings: { ...tinySettings, steps: 12 }, checkpointEvery: 2 },
        (m) => {
          if (m.type === "checkpoint" && m.phase === "population" && (m.step ?? 0) >= 2 && cancelledAt === undefined) {
            cancelledAt = m.step;
            handle.cancel();
          }
        },
      );
      const first = await handle.done;
      expect(first.type, first.type === "failed" ? first.message : "").toBe("cancelled");
      if (first.type === "cancelled")
        expect(first.message).toMatch(new RegExp(`resume with \`cortexloop distill --resume ${handle.jobId}\``));
      expect(listCompactVersions(store).length).toBe(before);
      expect(store.listModelVersions().some((v) => v.kind === CHECKPOINT_KIND)).toBe(true);
      const lines: string[] = [];
      const resumed = startDistillJob(store, { resumeJobId: handle.jobId }, (m) => {
        if (m.type === "log") lines.push(m.line);
      });
      const final = await resumed.done;
      expect(final.type, final.type === "failed" ? final.message : "").toBe("done");
      expect(lines.some((l) => /resuming from checkpoint \d+: population step ([2-9]|1[0-2])\/12/.test(l))).toBe(true);
      // The teacher was not asked again: the resumed run read its targets from the checkpoint.
      expect(lines.some((l) => /teacher predictions for/.test(l))).toBe(false);
      const stored = listCompactVersions(store).slice(before);
      expect(stored.map((v) => unitOf(v)!.name)).toEqual(["e0#0", "e1#0", "e2#0"]);
      expect(() => startDistillJob(store, { resumeJobId: handle.jobId })).toThrow(/already finished/);
    } finally {
      store.close();
    }
  }, 300_000);
});
