import { afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import {
  compareWithTruth,
  networkRigFile,
  protocolText,
  readTruth,
  runSession,
  SimRigProcess,
} from "./session-harness.js";
import { tempDir } from "./helpers.js";
import type { SessionStore } from "../../src/main/store/index.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("end to end: a session against the simulated rig (child process, real sockets, real SQLite)", () => {
  it(
    "runs 1,000 presentations with 2% of messages dropped and one rig restart; faultless counts equal the ground " +
      "truth",
    async () => {
      const dir = tempDir("e2e");
      const rigFile = await networkRigFile(dir);
      const truthFile = join(dir, "truth.jsonl");
      const sim = new SimRigProcess();
      cleanups.push(() => sim.stop());
      await sim.start([
        "--rig",
        rigFile,
        "--truth",
        truthFile,
        "--drop",
        "0.02",
        "--restart-after",
        "500",
        "--seed",
        "21",
      ]);
      const { result, store } = await runSession(dir, rigFile, protocolText("e2e", 100, 10));
      cleanups.push(() => (store as SessionStore).close());
      const simStats = await sim.stop();
      expect(result.state).toBe("completed");
      expect(result.presented).toBe(1000);
      expect(simStats.restarts).toBe(1);
      expect(simStats.messagesDropped).toBeGreaterThan(0);
      const faults = store.faults(result.sessionId);
      const codes = new Set(faults.map((f) => f.code));
      expect(codes.has("message-gap")).toBe(true);
      expect(codes.has("rig-restart")).toBe(true);
      const cmp = compareWithTruth(store, result.sessionId, readTruth(truthFile));
      console.log(
        `e2e: ${cmp.presentations} presentations, ${cmp.faultless} without a fault, ${cmp.matched} equal to the ` +
          `ground truth; ${faults.length} faults (${[...codes].join(", ")})`,
      );
      expect(cmp.presentations).toBe(1000);
      expect(cmp.uncovered).toEqual([]);
      expect(cmp.incompleteWithoutFault).toEqual([]);
      expect(cmp.mismatches).toEqual([]);
      // Every Network Events line command is a TTL event in the stream (about 20 per presentation here, 40
      // presentations
      // a second), so a 2% drop touches most count windows; enough stay faultless to compare.
      expect(cmp.faultless).toBeGreaterThan(40);
      expect(cmp.matched).toBe(cmp.faultless);
    },
    150_000,
  );
});
