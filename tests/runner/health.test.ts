import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { loadRigFile, parseProtocolText } from "../../src/main/protocol/index.js";
import { createRig, sessionCountWindow } from "../../src/main/rig/factory.js";
import { realClock, SessionRunner, type SessionResult } from "../../src/main/runner/index.js";
import type { HealthOptions } from "../../src/main/runner/health.js";
import { simRigOptionsFrom } from "../../src/main/cli-sim.js";
import { SimRig } from "../../src/main/sim/sim-rig.js";
import { SessionStore } from "../../src/main/store/index.js";
import { freePorts, tempDir, writeJson } from "../rig/helpers.js";
import { protocolText, SimRigProcess } from "../rig/session-harness.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A Network Events rig whose commands time out after `replyTimeoutMs`; `health`: the rig file's thresholds. */
async function rigFile(dir: string, replyTimeoutMs = 1000, health?: Partial<HealthOptions>): Promise<string> {
  const dataPort = await freePorts(2);
  const eventsPort = await freePorts(1);
  const displayPort = await freePorts(1);
  return writeJson(join(dir, "rig.json"), {
    name: "test-health",
    acquisition: {
      format: "openephys-zmq",
      host: "127.0.0.1",
      dataPort,
      sampleRate: 30000,
      countWindowMs: [50, 150],
      countBins: 1,
      graceMs: 250,
    },
    eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort, replyTimeoutMs },
    display: { kind: "virtual", endpoint: `tcp://127.0.0.1:${displayPort}` },
    simulation: { neurons: "builtin", units: 4, seed: 5 },
    ...(health === undefined ? {} : { health }),
  });
}

interface Outcome {
  result: SessionResult;
  store: SessionStore;
  log: string[];
  db: string;
}

/** One session through the real factory and runner; `onShown` sees each presentation as it is stored. */
async function run(
  dir: string,
  file: string,
  protocol: string,
  health: Partial<HealthOptions>,
  onShown?: (shown: number) => void,
): Promise<Outcome> {
  const { rig: config, text } = loadRigFile(file);
  const loaded = parseProtocolText(join(dir, "protocol.json"), protocol);
  const countWindow = sessionCountWindow(config, loaded.protocol.countWindow);
  const db = join(dir, "lab.db");
  const store = SessionStore.open(db);
  cleanups.push(() => store.close());
  const log: string[] = [];
  const rig = await createRig(config, { countWindow, log: (l) => log.push(l) });
  try {
    const runner = new SessionRunner({
      clock: realClock,
      store,
      rig,
      log: (l) => log.push(l),
      progress: (shown) => onShown?.(shown),
    });
    const result = await runner.run({
      protocol: loaded,
      rigName: config.name,
      rigText: text,
      countWindow,
      graceMs: config.acquisition.graceMs,
      // As cortexloop run does: the rig file's thresholds, here with the test's own on top.
      health: { ...config.health, ...health },
    });
    return { result, store, log, db };
  } finally {
    await rig.close();
  }
}

/** What `cortexloop show` prints about the session's counts, from the command line itself. */
function showCounts(
  db: string,
  uuid: string,
): { presentations: number; complete: number; incomplete: number; events: string[] } {
  const out = spawnSync(
    process.execPath,
    ["--import", "tsx", join(process.cwd(), "src/main/cli.ts"), "show", uuid, "--db", db],
    { encoding: "utf8" },
  );
  expect(out.status, out.stderr).toBe(0);
  const m = /presentations (\d+), with counts (\d+), incomplete (\d+)/.exec(out.stdout);
  expect(m, out.stdout).not.toBeNull();
  return {
    presentations: Number(m![1]),
    complete: Number(m![2]),
    incomplete: Number(m![3]),
    events: out.stdout.split("\n").filter((l) => /^\s+\S+ (paused|resumed|note)/.test(l)),
  };
}

/**
 * The presentation a `paused` event names ("session paused before presentation N" is in its fault; the event says how
 * many are saved).
 */
function pausedAt(detail: string | null): number {
  const m = /; (\d+) presentations are saved/.exec(detail ?? "");
  return m === null ? -1 : Number(m[1]);
}

const timing = { fixationMs: 300, stimulusMs: 50, interStimulusMs: 50 };

describe(
  "rig health: a rig that goes quiet pauses the session, everything saved, and it resumes when the rig is " + "back",
  () => {
    it(
      "pauses within noDataMs + one cycle of the data stream freezing (sim-rig as its own process), resumes, and " +
        "summary and show agree",
      async () => {
        const dir = tempDir("health-data");
        // The thresholds come from the rig file (its health section), as a lab sets them for its rig.
        const noDataMs = 1000;
        const file = await rigFile(dir, 1000, { noDataMs, noOnsetMs: 1500 });
        const sim = new SimRigProcess();
        cleanups.push(() => sim.stop());
        // The stream freezes for 4 s when the 20th code reaches the rig (presentation 19); then its backlog follows.
        await sim.start(["--rig", file, "--stall-after", "20", "--stall-ms", "4000", "--seed", "4"]);
        const { result, store, log, db } = await run(dir, file, protocolText("freeze", 20, 3, timing), {});
        expect(result.state).toBe("completed");
        expect(result.presented).toBe(60);
        const events = store.sessionEvents(result.sessionId);
        const paused = events.filter((e) => e.kind === "paused");
        const resumed = events.filter((e) => e.kind === "resumed");
        expect(paused.length).toBe(1);
        expect(paused[0]!.detail).toMatch(/no data from the rig for \d+ ms/);
        expect(resumed.length).toBe(1);
        // Stated time: the stream is noticed within noDataMs plus one cycle (the check runs before each presentation).
        const cycle = timing.stimulusMs + timing.interStimulusMs;
        const blind = pausedAt(paused[0]!.detail) - 20;
        console.log(
          `health: data froze at presentation 19; paused before presentation ${pausedAt(paused[0]!.detail)} (` +
            `${blind} ` +
            `presented into the frozen stream; bound ${Math.ceil((noDataMs + cycle) / cycle) + 1})`,
        );
        expect(blind).toBeGreaterThanOrEqual(0);
        expect(blind).toBeLessThanOrEqual(Math.ceil((noDataMs + cycle) / cycle) + 1);
        // The link's state is stored as session events: down while frozen, connected again after.
        const links = events
          .filter((e) => e.kind === "note" && e.detail?.startsWith("rig link"))
          .map((e) => e.detail!.split(":")[0]);
        expect(links).toEqual(["rig link connected", "rig link down", "rig link connected"]);
        // Everything saved: every presentation has a stored result; the summary and show count complete ones alike.
        const shown = showCounts(db, result.uuid);
        expect(shown.presentations).toBe(60);
        expect(shown.complete + shown.incomplete).toBe(60);
        expect(result.countsStored).toBe(shown.complete);
        expect(log.some((l) => l.includes(`${shown.complete} with complete counts`))).toBe(true);
        expect(shown.events.some((l) => l.includes("paused"))).toBe(true);
        // A reconnect loop or a frozen stream logs its state once per change, not every retry.
        expect(log.filter((l) => l.startsWith("rig link down")).length).toBe(1);
      },
      120_000,
    );

    it(
      "pauses when Network Events stops answering, resumes when it answers, and only complete counts count as 'with " +
        "counts'",
      async () => {
        const dir = tempDir("health-events");
        const file = await rigFile(dir, 300);
        const sim = new SimRig(await simRigOptionsFrom(file, { seed: "6" }));
        await sim.start();
        cleanups.push(() => sim.stop());
        const plugin = sim.networkEventsPlugin!;
        let frozenAt = -1;
        const unfreeze: NodeJS.Timeout[] = [];
        cleanups.push(() => unfreeze.forEach(clearTimeout));
        const { result, store, db } = await run(
          dir,
          file,
          protocolText("events", 20, 2, timing),
          { noDataMs: 2000, unconfirmedInARow: 2, probeEveryMs: 100 },
          (shown) => {
            if (shown === 15 && frozenAt < 0) {
              frozenAt = shown;
              plugin.answering = false;
              unfreeze.push(setTimeout(() => (plugin.answering = true), 3000));
            }
          },
        );
        expect(result.state).toBe("completed");
        expect(result.presented).toBe(40);
        const events = store.sessionEvents(result.sessionId);
        const paused = events.filter((e) => e.kind === "paused");
        expect(paused.length).toBe(1);
        expect(paused[0]!.detail).toMatch(/event-code input did not confirm the last 2 codes/);
        expect(events.filter((e) => e.kind === "resumed").length).toBe(1);
        // Stated bound: unconfirmedInARow codes go out unanswered (plus the one in flight when it froze), then it
        // pauses.
        const unconfirmed = store.presentations(result.sessionId).filter((p) => p.status === "unconfirmed");
        console.log(
          `health: Network Events froze after presentation ${frozenAt - 1}; ${unconfirmed.length} presentations ` +
            `unconfirmed, paused before ${pausedAt(paused[0]!.detail)}`,
        );
        expect(unconfirmed.length).toBeGreaterThanOrEqual(2);
        expect(unconfirmed.length).toBeLessThanOrEqual(3);
        // Unconfirmed codes have no onset: their counts are stored incomplete, and neither the summary nor show counts
        // them.
        const shown = showCounts(db, result.uuid);
        expect(shown.presentations).toBe(40);
        expect(shown.incomplete).toBeGreaterThanOrEqual(unconfirmed.length);
        expect(result.countsStored).toBe(shown.complete);
        expect(result.countsStored).toBeLessThanOrEqual(40 - unconfirmed.length);
        // After the pause the session went on normally: the presentations after it have complete counts.
        const results = store.countResults(result.sessionId);
        const after = results.filter((r) => r.presentationIdx >= pausedAt(paused[0]!.detail) + 2);
        expect(after.length).toBeGreaterThan(10);
        expect(after.every((r) => r.complete)).toBe(true);
      },
      120_000,
    );
  },
);
