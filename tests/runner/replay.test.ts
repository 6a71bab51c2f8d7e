import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { replayProtocol } from "../../src/main/runner/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { runProtocolFile } from "../helpers/session.js";
import { tempDir, writeQuickProtocol } from "../helpers/tmp.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function sequence(store: SessionStore, sessionId: number): { block: string; sha: string }[] {
  return store.presentations(sessionId).map((p) => ({ block: p.block, sha: p.stimulusSha256 }));
}

describe("sessions and replays", () => {
  it("a replay shows the exact sequence, and the replay of a replay is the same", async () => {
    const store = SessionStore.open(join(tmp.dir, "replay.db"));
    try {
      const original = await runProtocolFile(store, writeQuickProtocol(tmp.dir, { count: 5, repeats: 3 }));
      expect(original.state).toBe("completed");
      expect(original.presented).toBe(30);
      const seq0 = sequence(store, original.sessionId);
      // Shuffled blocks: the sequence is not simply the source order repeated.
      expect(new Set(seq0.map((s) => s.sha)).size).toBe(10);

      const replay1 = replayProtocol(store, original.sessionId);
      const file1 = join(tmp.dir, "replay1.json");
      writeFileSync(file1, JSON.stringify(replay1));
      const r1 = await runProtocolFile(store, file1);
      expect(sequence(store, r1.sessionId)).toEqual(seq0);

      const replay2 = replayProtocol(store, r1.uuid);
      expect(replay2.sources).toEqual(replay1.sources);
      expect(replay2.blocks).toEqual(replay1.blocks);
      expect(replay2.name).toBe(replay1.name);
      const file2 = join(tmp.dir, "replay2.json");
      writeFileSync(file2, JSON.stringify(replay2));
      const r2 = await runProtocolFile(store, file2);
      expect(sequence(store, r2.sessionId)).toEqual(seq0);
    } finally {
      store.close();
    }
  });

  it("images are stored once however often they are shown, across sessions", async () => {
    const store = SessionStore.open(join(tmp.dir, "dedupe.db"));
    try {
      const file = writeQuickProtocol(tmp.dir, { count: 4, repeats: 5, file: "dedupe.json" });
      const a = await runProtocolFile(store, file);
      expect(a.presented).toBe(40);
      expect(store.countStimuli()).toBe(8);
      await runProtocolFile(store, file);
      expect(store.countStimuli()).toBe(8);
      const shown = store.db.prepare("SELECT COUNT(*) AS n FROM presentations").get() as { n: number };
      expect(shown.n).toBe(80);
      // The protocol text is stored once too, by its hash.
      expect((store.db.prepare("SELECT COUNT(*) AS n FROM protocols").get() as { n: number }).n).toBe(1);
    } finally {
      store.close();
    }
  });

  it("every presentation of a completed session has counts for every unit and bin, and a TTL onset", async () => {
    const store = SessionStore.open(join(tmp.dir, "counts.db"));
    try {
      const r = await runProtocolFile(
        store,
        writeQuickProtocol(tmp.dir, { count: 3, repeats: 2, file: "counts.json" }),
      );
      const units = store.units(r.sessionId);
      expect(units.length).toBe(16);
      expect(store.countResults(r.sessionId).every((c) => c.complete)).toBe(true);
      expect(store.spikeCounts(r.sessionId)).toHaveLength(r.presented * units.length * 2);
      expect(store.ttlOnsets(r.sessionId)).toHaveLength(r.presented);
    } finally {
      store.close();
    }
  });

  it("an aborted session is marked interrupted and keeps what it recorded", async () => {
    const store = SessionStore.open(join(tmp.dir, "abort.db"));
    try {
      const abort = new AbortController();
      const file = writeQuickProtocol(tmp.dir, { count: 20, repeats: 20, file: "abort.json" });
      setTimeout(() => abort.abort(), 600);
      const r = await runProtocolFile(store, file, abort.signal);
      expect(r.state).toBe("interrupted");
      expect(r.presented).toBeGreaterThan(0);
      expect(r.presented).toBeLessThan(r.scheduled);
      expect(store.presentations(r.sessionId)).toHaveLength(r.presented);
      expect(store.countResults(r.sessionId)).toHaveLength(r.presented);
      expect(store.sessionState(r.sessionId)).toBe("interrupted");
    } finally {
      store.close();
    }
  });
});
