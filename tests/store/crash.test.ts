import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SessionStore } from "../../src/main/store/index.js";
import { Random } from "../../src/stimulus/index.js";
import { repoRoot, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const kills = Number(process.env.CORTEXLOOP_CRASH_KILLS ?? 20);

/**
 * Starts a real controller process and kills it with SIGKILL `delayMs` after it starts, or after it
 * first reports a stored presentation when `afterFirstStore`; returns the indices it reported stored.
 */
function runAndKill(
  protocol: string,
  db: string,
  delayMs: number,
  afterFirstStore: boolean,
): Promise<{ reported: number[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(repoRoot, "bin", "cortexloop.js"), "run", protocol, "--db", db, "--print-stored"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const reported: number[] = [];
    let buffered = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const m = /^stored (\d+)$/.exec(line);
        if (m) reported.push(Number(m[1]));
      }
      if (afterFirstStore && timer === undefined && reported.length > 0) timer = setTimeout(kill, delayMs);
    });
    let killed = false;
    const kill = (): void => {
      killed = child.kill("SIGKILL");
    };
    let timer: NodeJS.Timeout | undefined = afterFirstStore ? undefined : setTimeout(kill, delayMs);
    child.on("error", reject);
    child.on("close", () => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ reported, killed });
    });
  });
}

describe("crash safety", () => {
  it(
    `every presentation reported stored survives ${kills} kill -9 at random moments, and every database ` + `opens`,
    async () => {
      const protocol = writeQuickProtocol(tmp.dir, { count: 20, repeats: 40, stimulusMs: 2, interStimulusMs: 1 });
      const rng = new Random(Number(process.env.CORTEXLOOP_CRASH_SEED ?? Date.now() % 100000));
      let totalReported = 0;
      let midSession = 0;
      for (let k = 0; k < kills; k++) {
        // Each kill gets its own file for half the runs and a shared, growing file for the other half.
        const db = join(tmp.dir, k % 2 === 0 ? `kill-${k}.db` : "shared.db");
        // Most kills land mid-session at a random moment; every fifth lands at a random moment of start-up.
        const early = k % 5 === 4;
        const { reported, killed } = await runAndKill(protocol, db, early ? rng.int(1500) : rng.int(2500), !early);
        const store = SessionStore.open(db);
        try {
          expect(store.db.pragma("integrity_check", { simple: true })).toBe("ok");
          const sessions = store.listSessions();
          if (reported.length > 0) {
            const last = sessions[sessions.length - 1]!;
            const stored = new Set(store.countResults(last.id).map((r) => r.presentationIdx));
            const missing = reported.filter((idx) => !stored.has(idx));
            expect(missing, `kill ${k}: presentations reported stored but missing after kill -9`).toEqual([]);
            const withCounts = new Set(store.spikeCounts(last.id).map((c) => c.presentationIdx));
            expect(reported.filter((idx) => !withCounts.has(idx))).toEqual([]);
            if (killed && last.state === "started") midSession++;
          }
        } finally {
          store.close();
        }
        totalReported += reported.length;
      }
      console.log(
        `crash test: ${kills} kills, ${midSession} mid-session, ${totalReported} presentations reported stored, 0 lost`,
      );
      expect(totalReported).toBeGreaterThan(0);
      expect(midSession).toBeGreaterThanOrEqual(Math.floor((kills * 4) / 5));
    },
    600_000,
  );
});
