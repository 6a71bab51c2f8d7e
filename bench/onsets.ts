// `npm run bench -- onsets [--presentations 300] [--stimulus 100] [--isi 50]`:
// one session on `cortexloop sim-rig` run as its own process (event codes over Network Events), through the real
// factory and runner into a
// temporary SQLite file. Prints the mean onset cycle against the protocol's (stimulus + inter-stimulus) and
// the onset lateness (shown time minus the absolute schedule's due time) p50/p99/max, read back from the store.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadRigFile, parseProtocolText } from "../src/main/protocol/index.js";
import { createRig, sessionCountWindow } from "../src/main/rig/factory.js";
import { realClock, SessionRunner } from "../src/main/runner/index.js";
import { SessionStore } from "../src/main/store/index.js";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Two consecutive free ports (the rig's data port and its heartbeat port). */
async function freePair(): Promise<number> {
  for (;;) {
    const p = await freePort();
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(p + 1, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function startSimRig(rigFile: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(process.cwd(), "src/main/cli.ts"), "sim-rig", "--rig", rigFile],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('"event":"ready"')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sim-rig did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      presentations: { type: "string", default: "300" },
      stimulus: { type: "string", default: "100" },
      isi: { type: "string", default: "50" },
    },
  });
  const n = Number(values.presentations);
  const stimulusMs = Number(values.stimulus);
  const interStimulusMs = Number(values.isi);
  const dir = mkdtempSync(join(tmpdir(), "cortexloop-onsets-"));
  const dataPort = await freePair();
  const eventsPort = await freePort();
  const displayPort = await freePort();
  const rigFile = join(dir, "rig.json");
  writeFileSync(
    rigFile,
    JSON.stringify({
      name: "bench-onsets",
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
      simulation: { neurons: "builtin", units: 8, seed: 3 },
    }),
  );
  const protocol = JSON.stringify({
    name: "bench-onsets",
    seed: 1,
    timing: { fixationMs: 300, stimulusMs, interStimulusMs },
    sources: { gratings: { kind: "generator", generator: "gratings", count: n, size: 56, seed: 2 } },
    blocks: [{ name: "main", source: "gratings", repeats: 1, order: "shuffle" }],
  });
  const sim = await startSimRig(rigFile);
  const store = SessionStore.open(join(dir, "lab.db"));
  try {
    const { rig: config, text } = loadRigFile(rigFile);
    const loaded = parseProtocolText(join(dir, "protocol.json"), protocol);
    const countWindow = sessionCountWindow(config, loaded.protocol.countWindow);
    const rig = await createRig(config, { countWindow });
    let result;
    try {
      result = await new SessionRunner({ clock: realClock, store, rig }).run({
        protocol: loaded,
        rigName: config.name,
        rigText: text,
        countWindow,
        graceMs: config.acquisition.graceMs,
      });
    } finally {
      await rig.close();
    }
    const rows = store.presentations(result.sessionId).filter((p) => p.shownMs !== null);
    const shown = rows.map((p) => p.shownMs!);
    const late = rows.map((p) => p.shownMs! - p.scheduledMs).sort((a, b) => a - b);
    const cycle = stimulusMs + interStimulusMs;
    const mean = (shown.at(-1)! - shown[0]!) / (shown.length - 1);
    console.log(
      `onsets: ${result.state}, ${rows.length}/${n} presentations on cortexloop sim-rig (Network Events), ` +
        `${result.countsStored} with complete counts`,
    );
    console.log(
      `  mean onset cycle ${mean.toFixed(2)} ms against the protocol's ${cycle} ms (` +
        `${(((mean - cycle) / cycle) * 100).toFixed(2)}%)`,
    );
    console.log(
      `  onset lateness (shown - due): p50 ${quantile(late, 0.5).toFixed(2)} ms, p99 ` +
        `${quantile(late, 0.99).toFixed(2)} ms, max ${late.at(-1)!.toFixed(2)} ms`,
    );
  } finally {
    store.close();
    sim.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}
