import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadRigFile, parseProtocolText } from "../../src/main/protocol/index.js";
import type { RigConfigInput } from "../../src/main/protocol/schema.js";
import { createRig, sessionCountWindow } from "../../src/main/rig/factory.js";
import type { Rig } from "../../src/main/rig/types.js";
import { realClock, SessionRunner, type SessionResult } from "../../src/main/runner/index.js";
import type { TruthRecord } from "../../src/main/sim/sim-rig.js";
import { SessionStore } from "../../src/main/store/index.js";
import { freePorts, writeJson } from "./helpers.js";

export async function networkRigFile(dir: string, extra: Partial<RigConfigInput> = {}): Promise<string> {
  const dataPort = await freePorts(2);
  const eventsPort = await freePorts(1);
  const displayPort = await freePorts(1);
  return writeJson(join(dir, "rig.json"), {
    name: "test-sim-network",
    acquisition: {
      format: "openephys-zmq",
      host: "127.0.0.1",
      dataPort,
      sampleRate: 30000,
      countWindowMs: [50, 150],
      countBins: 1,
      graceMs: 250,
    },
    eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort },
    display: { kind: "virtual", endpoint: `tcp://127.0.0.1:${displayPort}` },
    simulation: { neurons: "builtin", units: 8, seed: 11 },
    ...extra,
  });
}

export function protocolText(
  name: string,
  images: number,
  repeats: number,
  timing = { fixationMs: 300, stimulusMs: 10, interStimulusMs: 10 },
): string {
  return JSON.stringify({
    name,
    seed: 3,
    timing,
    sources: { gratings: { kind: "generator", generator: "gratings", count: images, size: 56, seed: 5 } },
    blocks: [{ name: "main", source: "gratings", repeats, order: "shuffle-each-repeat" }],
  });
}

export interface SessionOutcome {
  result: SessionResult;
  store: SessionStore;
  log: string[];
}

/**
 * Runs one session through the real factory (rig file -> sockets) and the real runner into a real
 * SQLite file. `signal` interrupts it (a session that would hang ends "interrupted", with its log);
 * `onRig` sees the rig before the session starts (to listen to its acquisition). If the runner throws
 * (a rig not ready), the store is closed and the error goes on.
 */
export async function runSession(
  dir: string,
  rigFile: string,
  protocol: string,
  signal?: AbortSignal,
  onRig?: (rig: Rig) => void,
): Promise<SessionOutcome> {
  const { rig: config, text: rigText } = loadRigFile(rigFile);
  const loaded = parseProtocolText(join(dir, "protocol.json"), protocol);
  const countWindow = sessionCountWindow(config, loaded.protocol.countWindow);
  const store = SessionStore.open(join(dir, "lab.db"));
  const log: string[] = [];
  const rig = await createRig(config, { countWindow, log: (l) => log.push(l) });
  onRig?.(rig);
  try {
    const result = await new SessionRunner({ clock: realClock, store, rig, log: (l) => log.push(l) }).run({
      protocol: loaded,
      rigName: config.name,
      rigText,
      countWindow,
      graceMs: config.acquisition.graceMs,
      reconnectEveryMs: 100,
      signal,
    });
    return { result, store, log };
  } catch (err) {
    store.close();
    throw err;
  } finally {
    await rig.close();
  }
}

/** The simulated rig as a child process through the real command line. */
export class SimRigProcess {
  private child: ChildProcess | undefined;
  private stdout = "";
  stderr = "";

  async start(args: string[]): Promise<void> {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(process.cwd(), "src/main/cli.ts"), "sim-rig", ...args],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    child.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!this.stdout.includes('"event":"ready"')) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`sim-rig did not start (exit ${child.exitCode}): ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops it with SIGTERM and returns the stats it printed. */
  async stop(): Promise<Record<string, number>> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined) return {};
    if (child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      await exited;
    }
    const line = this.stdout.split("\n").find((l) => l.includes('"event":"stopped"'));
    return line === undefined ? {} : (JSON.parse(line) as { stats: Record<string, number> }).stats;
  }
}

export function readTruth(file: string): TruthRecord[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as TruthRecord);
}

export interface Comparison {
  presentations: number;
  faultless: number;
  matched: number;
  mismatches: string[];
  uncovered: number[];
  incompleteWithoutFault: number[];
}

/** Checks a stored session against the simulator's ground truth. */
export function compareWithTruth(store: SessionStore, sessionId: number, truth: TruthRecord[]): Comparison {
  const presentations = store.presentations(sessionId);
  const results = new Map(store.countResults(sessionId).map((r) => [r.presentationIdx, r]));
  const faulted = new Set<number>();
  for (const f of store.faults(sessionId)) for (const idx of f.presentationIdxs) faulted.add(idx);
  const units = new Map(store.units(sessionId).map((u) => [u.id, `${u.electrode}\u0000${u.sortedId}`]));
  const stored = new Map<number, Map<string, number[]>>();
  for (const row of store.spikeCounts(sessionId)) {
    let byUnit = stored.get(row.presentationIdx);
    if (byUnit === undefined) stored.set(row.presentationIdx, (byUnit = new Map()));
    const key = units.get(row.unitId)!;
    const bins = byUnit.get(key) ?? [];
    bins[row.bin] = row.count;
    byUnit.set(key, bins);
  }
  const truthBy = new Map<string, TruthRecord>();
  for (const t of truth) truthBy.set(`${t.code}:${t.onsetSample}`, t);
  const out: Comparison = {
    presentations: presentations.length,
    faultless: 0,
    matched: 0,
    mismatches: [],
    uncovered: [],
    incompleteWithoutFault: [],
  };
  for (const p of presentations) {
    const r = results.get(p.idx);
    const hasFault = faulted.has(p.idx);
    if (!hasFault && (r === undefined || !r.complete)) {
      if (r === undefined) out.uncovered.push(p.idx);
      else out.incompleteWithoutFault.push(p.idx);
      continue;
    }
    if (hasFault || r === undefined) continue;
    out.faultless++;
    const t = truthBy.get(`${p.eventCode}:${r.onsetSample}`);
    if (t === undefined) {
      out.mismatches.push(`presentation ${p.idx}: no ground truth for code ${p.eventCode} at onset ${r.onsetSample}`);
      continue;
    }
    const byUnit = stored.get(p.idx) ?? new Map<string, number[]>();
    let same = true;
    for (const u of t.units) {
      const got = byUnit.get(`${u.electrode}\u0000${u.sortedId}`) ?? u.bins.map(() => 0);
      if (got.join(",") !== u.bins.join(",")) {
        same = false;
        out.mismatches.push(
          `presentation ${p.idx} unit ${u.electrode}/${u.sortedId}: stored [${got.join(",")}], truth [` +
            `${u.bins.join(",")}]`,
        );
      }
    }
    if (same) out.matched++;
  }
  return out;
}
