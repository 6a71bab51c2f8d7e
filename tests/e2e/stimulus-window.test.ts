/**
 * End to end: a 200-presentation session on a "window" display. The real command line (`cortexloop run`) serves the
 * stimulus page, Playwright opens it in Debian's Chromium (headless, WebGL2 on SwiftShader), and the simulated rig
 * (`cortexloop sim-rig`, a child process) sees what the window shows and lights its photodiode line after a 20 ± 2 ms
 * display lag. The test checks the stored frame log, the per-presentation frame counts and the photodiode onsets, and
 * prints the dropped frames per 1,000, the refresh rate and the code-to-light latency p50/p99.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { SessionStore } from "../../src/main/store/index.js";
import {
  displayTimingSummary,
  frameLog,
  lightOnsets,
  presentationFrames,
  sessionDisplay,
} from "../../src/main/store/display-timing.js";
import { repoRoot } from "../helpers/tmp.js";
import { freePorts, tempDir, writeJson } from "../rig/helpers.js";
import { SimRigProcess } from "../rig/session-harness.js";

const chromiumPath = process.env.CORTEXLOOP_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(chromiumPath);
if (!hasChromium) {
  console.warn(
    `tests/e2e/stimulus-window.test.ts: skipped: no Chromium at ${chromiumPath} ` +
      "(apt-get install -y chromium, or set CORTEXLOOP_CHROMIUM).",
  );
}

const rendererDir = join(repoRoot, "dist-renderer");
const sampleRate = 30000;
const lagMs = 20;
const jitterMs = 2;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the renderer when its stimulus page is missing or older than its sources. */
async function ensureRenderer(): Promise<void> {
  const page = join(rendererDir, "stimulus.html");
  if (existsSync(page) && statSync(page).mtimeMs >= newestMtime(join(repoRoot, "src", "renderer"))) return;
  const { build } = await import("vite");
  await build({ configFile: join(repoRoot, "vite.config.ts"), logLevel: "warn" });
}

async function rigFile(dir: string): Promise<string> {
  const dataPort = await freePorts(2);
  const eventsPort = await freePorts(1);
  const mirrorPort = await freePorts(1);
  return writeJson(join(dir, "rig.json"), {
    name: "test-stimulus-window",
    acquisition: { format: "openephys-zmq", host: "127.0.0.1", dataPort, sampleRate, countWindowMs: [50, 150], countBins: 1, graceMs: 250 },
    eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort },
    display: {
      kind: "window",
      refreshHz: 60,
      refreshTolerance: 0.05,
      simulationEndpoint: `tcp://127.0.0.1:${mirrorPort}`,
      photodiode: { line: 23, corner: "top-left", sizePx: 40, polarity: "white-on" },
    },
    simulation: { neurons: "builtin", units: 4, seed: 7, display: { lagMs, jitterMs } },
  });
}

function protocolFile(dir: string): string {
  return writeJson(join(dir, "protocol.json"), {
    name: "window-200",
    seed: 3,
    timing: { fixationMs: 300, stimulusMs: 50, interStimulusMs: 30 },
    sources: { gratings: { kind: "generator", generator: "gratings", count: 50, size: 64, seed: 5 } },
    blocks: [{ name: "main", source: "gratings", repeats: 4, order: "shuffle-each-repeat" }],
  });
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!hasChromium)("a session on the stimulus window in Chromium", () => {
  const dir = tempDir("stimulus-window");
  const sim = new SimRigProcess();
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await sim.stop().catch(() => {});
  });

  it("logs every frame, stores frames per presentation and matches each photodiode onset", async () => {
    await ensureRenderer();
    const rig = await rigFile(dir);
    const protocol = protocolFile(dir);
    const db = join(dir, "lab.db");
    await sim.start(["--rig", rig]);

    const args = ["--import", "tsx", join(repoRoot, "src/main/cli.ts"), "run", protocol, "--rig", rig, "--db", db];
    // No calibration in this rig file: the session runs only because the experimenter says so.
    args.push("--accept-display", "uncalibrated,refresh-mismatch", "--window-timeout", "60");
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    const run: Run = { code: null, stdout: "", stderr: "" };
    const exited = new Promise<void>((resolve) => child.once("exit", (c) => ((run.code = c), resolve())));
    child.stdout.on("data", (d: Buffer) => (run.stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (run.stderr += d.toString()));
    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    while (url === undefined) {
      url = /stimulus-window (\S+)/.exec(run.stdout)?.[1];
      if (run.code !== null || Date.now() > deadline) throw new Error(`no stimulus window URL: ${run.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-timer-throttling"],
    });
    const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(url);
    await exited;
    expect(pageErrors).toEqual([]);
    expect(run.code, run.stderr).toBe(0);

    const store = SessionStore.open(db);
    try {
      const session = store.listSessions()[0]!;
      const id = session.id;
      const display = sessionDisplay(store.db, id)!;
      expect(display.kind).toBe("window");
      const hz = display.refreshHzMeasured!;
      expect(hz).toBeGreaterThan(10);
      const periodMs = 1000 / hz;
      const planned = Math.max(1, Math.round(50 / periodMs));

      // Per presentation: the requested 50 ms became whole frames of the measured refresh.
      const perPresentation = presentationFrames(store.db, id);
      expect(perPresentation).toHaveLength(200);
      for (const p of perPresentation) {
        expect(p.requestedMs).toBe(50);
        expect(p.framesPlanned).toBe(planned);
        expect(p.onsetFrame).not.toBeNull();
        // Frames shown are the planned ones unless the presentation missed some (then it is a fault on it).
        if (p.framesMissed === 0) expect(p.framesShown).toBe(planned);
      }
      const faulted = new Set(store.faults(id).filter((f) => f.code === "frames-dropped").flatMap((f) => f.presentationIdxs));
      for (const p of perPresentation) expect(faulted.has(p.presentationIdx)).toBe(p.framesMissed > 0 || p.framesShown !== planned);

      // The frame log: consecutive indices, each presentation's frames carry its seq, the patch lit on its first only.
      const frames = frameLog(store.db, id);
      for (let i = 1; i < frames.length; i++) expect(frames[i]!.index).toBe(frames[i - 1]!.index + 1);
      const bySeq = new Map<number, typeof frames>();
      for (const f of frames) if (f.seq !== null) bySeq.set(f.seq, [...(bySeq.get(f.seq) ?? []), f]);
      expect(bySeq.size).toBe(200);
      for (const p of perPresentation) {
        const own = bySeq.get(p.presentationIdx)!;
        expect(own[0]!.index).toBe(p.onsetFrame);
        expect(own[0]!.lit).toBe(true);
        expect(own.slice(1).every((f) => !f.lit)).toBe(true);
        expect(own).toHaveLength(p.framesDrawn!);
      }

      // The photodiode: every presentation's light came, lag ± jitter after its code (plus the wait for the next frame).
      const s = displayTimingSummary(store.db, id)!;
      console.log(
        `stimulus window in headless Chromium: refresh ${hz.toFixed(2)} Hz, ${s.refreshes} refreshes, ${s.framesMissed} missed ` +
          `(${s.droppedPer1000.toFixed(2)} per 1,000), ${s.presentationsWithMissedFrames} presentations touched; ` +
          `light seen for ${s.light.withLight} of ${s.light.presentations}; code-to-light latency ` +
          `p50 ${s.light.latencyP50Ms?.toFixed(2)} ms, p99 ${s.light.latencyP99Ms?.toFixed(2)} ms ` +
          `(simulated display lag ${lagMs} ± ${jitterMs} ms)`,
      );
      const lights = lightOnsets(store.db, id);
      expect(lights).toHaveLength(200);
      const latencies = lights.map((l) => ((l.lightOnsetSample! - l.codeOnsetSample) * 1000) / sampleRate);
      expect(lights.filter((l) => l.lightOnsetSample === null)).toEqual([]);
      for (const ms of latencies) {
        expect(ms).toBeGreaterThan(lagMs - 5 * jitterMs);
        expect(ms).toBeLessThan(lagMs + 5 * jitterMs + 3 * periodMs + 50);
      }

    } finally {
      store.close();
    }
  }, 240_000);
});
