import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SessionStore } from "../../src/main/store/index.js";
import { EventCodeAllocator } from "../../src/main/rig/index.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function freshSession(store: SessionStore): number {
  const protocolId = store.putProtocol("p", "{}");
  const rigId = store.putRig("r", "{}");
  return store.createSession({
    name: "s",
    protocolId,
    rigId,
    seed: 1,
    countWindow: { startMs: 50, endMs: 150, bins: 1 },
  }).id;
}

describe("session writer", () => {
  it("commits queued rows in one batch and reports what became durable", () => {
    const store = SessionStore.open(join(tmp.dir, "w1.db"));
    const id = freshSession(store);
    const sha = store.putStimulus(new Uint8Array([1, 2, 3]), { width: 1, height: 1, channels: 3 });
    const batches: number[][] = [];
    const w = store.writer(id, (b) => batches.push(b.counts));
    for (let i = 0; i < 3; i++) {
      w.addPresentation({
        idx: i,
        block: "b",
        stimulusSha256: sha,
        eventCode: i + 1,
        scheduledMs: i,
        shownMs: i,
        durationMs: 100,
        status: "shown",
      });
      w.addCounts({
        presentationIdx: i,
        onsetSample: 1000 * i,
        complete: true,
        units: [{ unit: { electrode: "E1", sortedId: 0 }, bins: [i] }],
      });
    }
    expect(w.pending).toBe(6);
    w.flush();
    expect(batches).toEqual([[0, 1, 2]]);
    expect(store.spikeCounts(id).map((c) => c.count)).toEqual([0, 1, 2]);
    expect(store.units(id)).toHaveLength(1);
    w.close();
    expect(() => w.addFault({ code: "other", message: "late", presentationIdxs: [] })).toThrow(/closed/);
    store.close();
  });

  it("a row the database refuses costs only itself: the rest of the batch is stored and a fault says so", () => {
    const store = SessionStore.open(join(tmp.dir, "w2.db"));
    const id = freshSession(store);
    const sha = store.putStimulus(new Uint8Array([1, 2, 3]), { width: 1, height: 1, channels: 3 });
    const w = store.writer(id);
    w.addPresentation({
      idx: 0,
      block: "b",
      stimulusSha256: sha,
      eventCode: 1,
      scheduledMs: 0,
      shownMs: 0,
      durationMs: 100,
      status: "shown",
    });
    // Counts for a presentation that does not exist violate the foreign key.
    w.addCounts({
      presentationIdx: 99,
      onsetSample: 0,
      complete: true,
      units: [{ unit: { electrode: "E1", sortedId: 0 }, bins: [3] }],
    });
    w.addCounts({
      presentationIdx: 0,
      onsetSample: 0,
      complete: true,
      units: [{ unit: { electrode: "E1", sortedId: 0 }, bins: [4] }],
    });
    w.flush();
    expect(store.presentations(id)).toHaveLength(1);
    expect(store.spikeCounts(id)).toEqual([{ presentationIdx: 0, unitId: store.units(id)[0]!.id, bin: 0, count: 4 }]);
    const faults = store.faults(id);
    expect(faults).toHaveLength(1);
    expect(faults[0]!.message).toMatch(/counts row was refused/);
    w.close();
    store.close();
  });

  it("flushes by itself within the flush interval", async () => {
    const store = SessionStore.open(join(tmp.dir, "w3.db"), { flushIntervalMs: 5 });
    const id = freshSession(store);
    const w = store.writer(id);
    w.addFault({ code: "other", message: "x", presentationIdxs: [] });
    await new Promise((r) => setTimeout(r, 50));
    expect(w.pending).toBe(0);
    expect(store.faults(id)).toHaveLength(1);
    w.close();
    store.close();
  });
});

describe("event codes", () => {
  it("cycle through 1..max, skip 0 and never reuse a code still open", () => {
    const a = new EventCodeAllocator(4);
    expect([a.next(), a.next(), a.next()]).toEqual([1, 2, 3]);
    a.release(2);
    expect(a.next()).toBe(4);
    expect(a.next()).toBe(2); // wraps past 0 to 1 (open), lands on 2 (released)
    expect(() => a.next()).toThrow(/all 4 codes are open/);
    a.release(1);
    expect(a.next()).toBe(1);
  });
});
