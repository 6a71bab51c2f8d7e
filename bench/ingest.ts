// Ingest benchmark: a simulated rig (child process) at ~100,000 spikes/s over 64 units streams into a live
// session with a real SessionStore file; reports lost spikes, count-commit latency and controller CPU.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { startServer } from "../src/main/api/server.js";
import { LiveHub } from "../src/main/live/hub.js";
import { loadRigFile, parseProtocolText } from "../src/main/protocol/index.js";
import { createRig, sessionCountWindow } from "../src/main/rig/factory.js";
import { OpenEphysZmqAcquisition } from "../src/main/rig/openephys-zmq.js";
import { realClock, SessionRunner } from "../src/main/runner/index.js";
import { builtinNeurons } from "../src/main/sim/neurons.js";
import type { TruthRecord } from "../src/main/sim/sim-rig.js";
import { SessionStore } from "../src/main/store/index.js";
import { generateImages } from "../src/stimulus/index.js";

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createServer();
    s.once("error", () => ok(false));
    s.listen(port, "127.0.0.1", () => s.close(() => ok(true)));
  });
}

async function freePorts(span: number): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let ok = true;
    for (let i = 0; i < span && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const epochNow = (): number => performance.timeOrigin + performance.now();

/**
 * The live view of `cortexloop run --serve` on this process's session, open in headless Chromium (the web API and the
 * live feed in this process, as `run --serve` has them); `close` says what the page showed at the end.
 */
async function openLiveView(store: SessionStore): Promise<{ hub: LiveHub; close(): Promise<string> }> {
  const chromiumPath = process.env.CORTEXLOOP_CHROMIUM ?? "/usr/bin/chromium";
  const rendererDir = resolve("dist-renderer");
  if (!existsSync(chromiumPath))
    throw new Error(
      `--live needs Chromium at ${chromiumPath} (apt-get install -y chromium, or set CORTEXLOOP_CHROMIUM)`,
    );
  if (!existsSync(join(rendererDir, "index.html")))
    throw new Error("--live needs the built app: run `npm run build:renderer` first");
  const hub = new LiveHub();
  const server = await startServer({ store, rendererDir, port: 0, context: { live: hub } });
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true });
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  await page.goto(`${server.url}/#/live&token=${server.token}`);
  await page.getByTestId("live-view").waitFor({ timeout: 30_000 });
  console.log("live view open in headless Chromium");
  return {
    hub,
    async close() {
      hub.flush();
      await page.waitForTimeout(500);
      const units = await page.getByTestId("live-unit").count();
      const committed = (await page.getByTestId("live-committed").textContent()) ?? "?";
      await browser.close();
      await server.close();
      return `${units} / ${committed.split("·")[0]!.trim()}`;
    },
  };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "60" },
      units: { type: "string", default: "64" },
      rate: { type: "string", default: "100000" },
      keep: { type: "boolean", default: false },
      "rate-scale": { type: "string" },
      // The experimenter's live view open in headless Chromium while the session runs (its feed in this process).
      live: { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.seconds);
  const unitCount = Number(values.units);
  const targetRate = Number(values.rate);
  const dir = mkdtempSync(join(tmpdir(), "cortexloop-ingest-"));
  const seed = 7;
  // Scale rates so the population fires at about the target on average: responses (150 ms per 200 ms
  // presentation cycle) to the protocol's pictures, spontaneous rate in between.
  const neurons = builtinNeurons(unitCount, seed);
  const grey = { width: 112, height: 112, pixels0to255: new Uint8Array(112 * 112 * 3).fill(128) };
  const spont = neurons.rates(grey);
  const pictures = generateImages("gratings", 50, 56, 2);
  let driven = 0;
  for (const im of pictures)
    driven += neurons.rates(im).reduce((a, r, u) => a + Math.max(r, spont[u]!), 0) / pictures.length;
  const spontaneous = spont.reduce((a, b) => a + b, 0);
  // Presentations take a little longer than 200 ms (code and frame round trips), and the session starts and ends
  // spontaneous.
  const rateScale =
    values["rate-scale"] !== undefined ? Number(values["rate-scale"]) : targetRate / (0.4 * spontaneous + 0.6 * driven);
  const dataPort = await freePorts(2);
  const rigFile = join(dir, "rig.json");
  writeFileSync(
    rigFile,
    JSON.stringify({
      name: "bench-ingest",
      acquisition: {
        format: "openephys-zmq",
        host: "127.0.0.1",
        dataPort,
        sampleRate: 30000,
        countWindowMs: [50, 150],
        countBins: 1,
        graceMs: 250,
      },
      eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: await freePorts(1) },
      display: { kind: "virtual", endpoint: `tcp://127.0.0.1:${await freePorts(1)}` },
      simulation: { neurons: "builtin", units: unitCount, seed },
    }),
  );
  const presentationsPerSecond = 5;
  const total = Math.max(1, Math.round(seconds * presentationsPerSecond));
  const images = Math.min(50, total);
  const protocol = JSON.stringify({
    name: "bench-ingest",
    seed: 1,
    timing: { fixationMs: 300, stimulusMs: 100, interStimulusMs: 100 },
    sources: { g: { kind: "generator", generator: "gratings", count: images, size: 56, seed: 2 } },
    blocks: [
      {
        name: "main",
        source: "g",
        repeats: Math.ceil(total / images),
        order: "shuffle-each-repeat",
        maxImages: images,
      },
    ],
  });
  const truthFile = join(dir, "truth.jsonl");
  console.log(
    `ingest: ${unitCount} units, target ${targetRate} spikes/s (rate scale ${rateScale.toFixed(1)}), ${seconds} s, ` +
      `files in ${dir}`,
  );

  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      resolve("src/main/cli.ts"),
      "sim-rig",
      "--rig",
      rigFile,
      "--truth",
      truthFile,
      "--rate-scale",
      String(rateScale),
      "--units",
      String(unitCount),
      "--seed",
      String(seed),
      "--publisher",
      "zmtp",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let childOut = "";
  child.stdout!.on("data", (d: Buffer) => (childOut += d.toString()));
  while (!childOut.includes('"event":"ready"')) {
    if (child.exitCode !== null)
      throw new Error(`the simulated rig exited (${child.exitCode}) before it was ready; nothing was measured`);
    await new Promise((r) => setTimeout(r, 20));
  }

  const { rig: config, text: rigText } = loadRigFile(rigFile);
  const loaded = parseProtocolText(join(dir, "protocol.json"), protocol);
  const countWindow = sessionCountWindow(config, loaded.protocol.countWindow);
  // A short flush interval: the latency target is about commit time, and a 10 ms batching timer alone would eat half of
  // it.
  const store = SessionStore.open(join(dir, "ingest.db"), { flushIntervalMs: 2 });
  const rig = await createRig(config, { countWindow });
  const committedAt = new Map<number, number>();
  const finalisedAt = new Map<number, number>();
  if (rig.acquisition instanceof OpenEphysZmqAcquisition)
    rig.acquisition.onFinalised((f) => finalisedAt.set(f.presentationIdx, performance.timeOrigin + f.wallMs));
  const live = values.live ? await openLiveView(store) : undefined;
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = await new SessionRunner({
    clock: realClock,
    store,
    rig,
    events: live?.hub.sink,
    onCommitted: (batch) => {
      const at = epochNow();
      for (const idx of batch.counts) committedAt.set(idx, at);
    },
  }).run({
    protocol: loaded,
    rigName: config.name,
    rigText,
    countWindow,
    graceMs: config.acquisition.graceMs,
    control: live?.hub.control,
  });
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - wall0;
  loopDelay.disable();
  const liveShown = await live?.close();
  const decoder = rig.acquisition instanceof OpenEphysZmqAcquisition ? rig.acquisition.stats : undefined;
  await rig.close();
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  await exited;
  const stoppedLine = childOut.split("\n").find((l) => l.includes('"event":"stopped"'));
  const simStats = stoppedLine ? (JSON.parse(stoppedLine) as { stats: Record<string, number> }).stats : {};

  const truth = readFileSync(truthFile, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TruthRecord);
  const truthBy = new Map(truth.map((t) => [`${t.code}:${t.onsetSample}`, t]));
  const units = new Map(store.units(result.sessionId).map((u) => [u.id, `${u.electrode}\u0000${u.sortedId}`]));
  const storedSum = new Map<number, Map<string, number>>();
  for (const r of store.spikeCounts(result.sessionId)) {
    let m = storedSum.get(r.presentationIdx);
    if (m === undefined) storedSum.set(r.presentationIdx, (m = new Map()));
    const k = units.get(r.unitId)!;
    m.set(k, (m.get(k) ?? 0) + r.count);
  }
  const results = new Map(store.countResults(result.sessionId).map((r) => [r.presentationIdx, r]));
  let truthSpikes = 0;
  let storedSpikes = 0;
  let matched = 0;
  const latency: number[] = [];
  const sentLatency: number[] = [];
  const decodeLatency: number[] = [];
  const commitLatency: number[] = [];
  const worst: { idx: number; ms: number }[] = [];
  for (const p of store.presentations(result.sessionId)) {
    const r = results.get(p.idx);
    if (r === undefined || r.onsetSample === null) continue;
    const t = truthBy.get(`${p.eventCode}:${r.onsetSample}`);
    if (t === undefined) continue;
    matched++;
    const m = storedSum.get(p.idx);
    for (const u of t.units) {
      truthSpikes += u.bins.reduce((a, b) => a + b, 0);
      storedSpikes += m?.get(`${u.electrode}\u0000${u.sortedId}`) ?? 0;
    }
    const c = committedAt.get(p.idx);
    if (c !== undefined) {
      latency.push(c - t.closeEpochMs);
      sentLatency.push(c - t.sentEpochMs);
      worst.push({ idx: p.idx, ms: c - t.closeEpochMs });
    }
    const f = finalisedAt.get(p.idx);
    if (f !== undefined) decodeLatency.push(f - t.closeEpochMs);
    if (f !== undefined && c !== undefined) commitLatency.push(c - f);
  }
  latency.sort((a, b) => a - b);
  sentLatency.sort((a, b) => a - b);
  decodeLatency.sort((a, b) => a - b);
  commitLatency.sort((a, b) => a - b);
  if (process.env.INGEST_DEBUG) console.log("worst", worst.sort((a, b) => b.ms - a.ms).slice(0, 8));
  const emitted = simStats.spikesEmitted ?? NaN;
  const received = decoder?.spikes ?? NaN;
  const faults = store.faults(result.sessionId);
  const rows: [string, string][] = [
    [
      "session",
      `${result.state}, ${result.presented}/${result.scheduled} presented, ${result.countsStored} with counts`,
    ],
    ["wall time", `${(wallMs / 1000).toFixed(1)} s`],
    ["spikes emitted by the rig (whole run)", String(emitted)],
    [
      "spikes decoded by the controller",
      `${received} (${(received / (wallMs / 1000)).toFixed(0)} /s over the session)`,
    ],
    ["TTL events / DATA messages decoded", `${decoder?.ttlEvents ?? NaN} / ${decoder?.dataMessages ?? NaN}`],
    ["messages lost while connected (message_num gaps)", String(decoder?.lostMessages ?? NaN)],
    ["spikes in count windows: truth / stored", `${truthSpikes} / ${storedSpikes} (${matched} presentations)`],
    ["lost spikes in count windows", String(truthSpikes - storedSpikes)],
    [
      "faults stored",
      `${faults.length}${faults.length ? ` (${[...new Set(faults.map((f) => f.code))].join(", ")})` : ""}`,
    ],
    [
      "window close -> counts final p50 / p99",
      `${percentile(decodeLatency, 50).toFixed(2)} / ${percentile(decodeLatency, 99).toFixed(2)} ms`,
    ],
    [
      "counts final -> committed p50 / p99",
      `${percentile(commitLatency, 50).toFixed(2)} / ${percentile(commitLatency, 99).toFixed(2)} ms`,
    ],
    [
      "window close -> counts committed p50 / p99",
      `${percentile(latency, 50).toFixed(2)} / ${percentile(latency, 99).toFixed(2)} ms (includes the rig's own ` +
        `sending lag)`,
    ],
    [
      "closing message sent by rig -> counts committed p50 / p99",
      `${percentile(sentLatency, 50).toFixed(2)} / ${percentile(sentLatency, 99).toFixed(2)} ms (target p99 < 20 ms)`,
    ],
    ...(liveShown === undefined
      ? []
      : ([["live view in Chromium: units shown / committed presentations shown", liveShown]] as [string, string][])),
    [
      "controller event-loop delay p99 / max",
      `${(loopDelay.percentile(99) / 1e6).toFixed(2)} / ${(loopDelay.max / 1e6).toFixed(2)} ms`,
    ],
    [
      "controller CPU (user+system / wall)",
      `${(((cpu.user + cpu.system) / 1000 / wallMs) * 100).toFixed(1)} % of one core`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\n${"measure".padEnd(width)} | value\n${"-".repeat(width)}-+-${"-".repeat(40)}`);
  for (const [k, v] of rows) console.log(`${k.padEnd(width)} | ${v}`);
  console.log(
    `\n"Window close" is rig time onset + window end + grace (when counts can be final), mapped to wall time by ` +
      `the simulated rig's clock; it includes any lag of the simulated rig itself in sending. "Closing message ` +
      `sent" is when the rig actually sent the first message past it: the controller's own latency.`,
  );
  store.close();
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
