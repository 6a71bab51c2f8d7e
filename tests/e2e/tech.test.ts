/**
 * End to end, the lab tech's view in Chromium against `cortexloop serve`'s server: the protocol library (a valid and
 * an invalid file), pre-flight failing against a rig that is not running and passing against `cortexloop sim-rig`
 * started as its own process, a session replayed in one click (its replay protocol downloaded too) and a dry run,
 * each recorded as a new session. Screenshots go to artifacts/screenshots/tech-*.png (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import type { BrowserContext, Page } from "playwright-core";
import { startServer, type RunningServer } from "../../src/main/api/server.js";
import { builtinProtocolsDir } from "../../src/main/paths.js";
import { simRigPorts } from "../../src/main/rig/ports.js";
import { SessionStore } from "../../src/main/store/index.js";
import { TechService } from "../../src/main/tech/service.js";
import { ensureRenderer, hasChromium, launchChromium, rendererDir, skipWithoutChromium } from "../helpers/browser.js";
import { inProcessRigFile, repoRoot, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

skipWithoutChromium("tests/e2e/tech.test.ts", "skipped");

const cli = join(repoRoot, "bin", "cortexloop.js");
const screenshots = join(repoRoot, "artifacts", "screenshots");
const tmp = tempDir("cortexloop-tech-e2e-");
const db = join(tmp.dir, "lab.db");
const protocolsDir = join(tmp.dir, "protocols");
const rigFile = join(tmp.dir, "rig.json");
let store: SessionStore;
let tech: TechService;
let server: RunningServer;
let context: BrowserContext;
let page: Page;
let simRig: ChildProcess | undefined;
const problems: string[] = [];

/** `cortexloop sim-rig` as its own process; resolves once it prints its ready line. */
function startSimRig(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, "sim-rig", "--rig", rigFile, "--units", "4"], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error("sim-rig did not get ready in 60 s")), 60_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.includes('"event":"ready"')) {
        clearTimeout(timer);
        ready(child);
      }
    });
    child.once("exit", (code) => fail(new Error(`sim-rig exited with ${code}`)));
  });
}

beforeAll(async () => {
  mkdirSync(protocolsDir, { recursive: true });
  mkdirSync(screenshots, { recursive: true });
  const quick = writeQuickProtocol(protocolsDir, { count: 4, repeats: 1, stimulusMs: 20, interStimulusMs: 10 });
  writeFileSync(
    join(protocolsDir, "broken.json"),
    JSON.stringify({ name: "broken", sources: { g: { kind: "generator", generator: "gratings", count: 3 } } }),
  );
  // The lab's rig: the simulated network rig on free ports, not running until a test starts it.
  const { dataPort, eventsPort, displayPort } = await simRigPorts();
  const rig = JSON.parse(readFileSync(join(builtinProtocolsDir, "rigs", "sim-network.json"), "utf8")) as Record<
    string,
    Record<string, unknown>
  >;
  rig.acquisition!.dataPort = dataPort;
  rig.eventCodes = { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort, replyTimeoutMs: 3000 };
  rig.display = { kind: "virtual", endpoint: `tcp://127.0.0.1:${displayPort}` };
  writeFileSync(rigFile, JSON.stringify({ ...rig, name: "lab-rig" }, null, 2));
  await Promise.all([
    ensureRenderer(),
    promisify(execFile)(process.execPath, [cli, "run", quick, "--rig", inProcessRigFile, "--db", db], {
      cwd: repoRoot,
      timeout: 90_000,
    }),
  ]);
  store = SessionStore.open(db, { readonly: true });
  tech = new TechService(
    { db, protocolDirs: [builtinProtocolsDir, protocolsDir], rigFile, allowRuns: true, preflightTimeoutMs: 1500 },
    store,
  );
  server = await startServer({ store, rendererDir, port: 0, context: { tech } });
  context = await launchChromium(join(tmp.dir, "chromium"));
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
}, 180_000);

afterAll(async () => {
  simRig?.kill("SIGTERM");
  await context?.close();
  await tech?.close();
  await server?.close();
  store?.close();
  tmp.cleanup();
}, 60_000);

/** Clicks a run button and returns the new job's row (the newest is listed first). */
async function startJob(click: () => Promise<void>): Promise<ReturnType<Page["locator"]>> {
  const jobs = page.getByTestId("job");
  const before = await jobs.count();
  await click();
  await expect.poll(() => jobs.count(), { timeout: 10_000 }).toBe(before + 1);
  return jobs.first();
}

const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(screenshots, name), fullPage: true });

describe.skipIf(!hasChromium)("tech view in Chromium", () => {
  it("opens from the top bar; lists the protocol library, valid and invalid, with counts and durations", async () => {
    await page.goto(server.openUrl);
    await page.getByTestId("view-tech").click();
    await expect.poll(() => page.url()).toMatch(/#\/tech$/);
    const library = page.getByTestId("library-table");
    await library.waitFor();
    const demo = library.locator(`[data-id="file:${join(builtinProtocolsDir, "demo.json")}"]`);
    // demo.json: 50 images, 150 presentations of 150 ms after a 100 ms fixation (22.6 s).
    expect(await demo.getAttribute("data-valid")).toBe("yes");
    expect(await demo.locator("td.num").allTextContents()).toEqual(["50", "150", "23 s"]);
    const broken = library.locator(`[data-id="file:${join(protocolsDir, "broken.json")}"]`);
    expect(await broken.getAttribute("data-valid")).toBe("no");
    expect(await broken.getByTestId("library-error").textContent()).toContain("$.blocks");
    expect(await broken.getByTestId("dry-run").isDisabled()).toBe(true);
    // The protocol the session was recorded with is stored in the database, and listed too.
    const stored = library.locator('[data-id="stored:1"]');
    expect(await stored.locator("td.num").allTextContents()).toEqual(["8", "8", "0.2 s"]);
    await shot("tech-library.png");
  });

  it("shows pre-flight failures against a rig that is not running", async () => {
    await page.getByTestId("run-preflight").click();
    const verdict = page.getByTestId("preflight-verdict");
    await verdict.waitFor({ timeout: 30_000 });
    expect(await verdict.textContent()).toMatch(/^Not ready/);
    const status = (id: string): Promise<string | null> => page.getByTestId(`check-${id}`).getAttribute("data-status");
    expect(await status("data-port")).toBe("fail");
    expect(await status("heartbeat")).toBe("fail");
    expect(await status("event-codes")).toBe("fail");
    expect(await status("disk-space")).toBe("pass");
    expect(await status("database")).toBe("pass");
    expect(await page.getByTestId("check-data-port").textContent()).toContain("nothing listens");
    await shot("tech-preflight-stopped.png");
  }, 60_000);

  it("passes pre-flight against a running cortexloop sim-rig", async () => {
    simRig = await startSimRig();
    await page.getByTestId("run-preflight").click();
    await expect.poll(() => page.getByTestId("preflight-verdict").textContent(), { timeout: 30_000 }).toMatch(/^Ready/);
    for (const id of ["data-port", "data-stream", "heartbeat", "event-codes", "display", "disk-space", "database"])
      expect(await page.getByTestId(`check-${id}`).getAttribute("data-status"), id).toBe("pass");
    expect(await page.getByTestId("check-event-codes").textContent()).toContain("IsAcquiring with 1");
    await shot("tech-preflight-running.png");
  }, 90_000);

  it("replays a session on the configured rig (sim-rig still running): pre-flight, then the session", async () => {
    const job = await startJob(() =>
      page.locator('[data-testid="replay-row"][data-session="1"]').getByTestId("replay-rig").click(),
    );
    await expect.poll(() => job.getAttribute("data-state"), { timeout: 120_000, interval: 500 }).toBe("completed");
    expect(await job.textContent()).toContain("on lab-rig");
    const last = store.listSessions().at(-1)!;
    expect(last).toMatchObject({ name: "replay of quick", rigName: "lab-rig", state: "completed", presentations: 8 });
    simRig!.kill("SIGTERM");
    simRig = undefined;
  }, 150_000);

  it("downloads a session's replay protocol: the same stimuli in the same order", async () => {
    const row = page.locator('[data-testid="replay-row"][data-session="1"]');
    const [download] = await Promise.all([page.waitForEvent("download"), row.getByTestId("download-replay").click()]);
    const file = join(tmp.dir, download.suggestedFilename());
    await download.saveAs(file);
    const protocol = JSON.parse(readFileSync(file, "utf8")) as {
      name: string;
      sources: Record<string, { kind: string; hashes: string[] }>;
      blocks: { source: string }[];
    };
    expect(protocol.name).toBe("replay of quick");
    const hashes = protocol.blocks.flatMap((b) => protocol.sources[b.source]!.hashes);
    expect(hashes).toEqual(store.presentations(1).map((p) => p.stimulusSha256));
  });

  it("replays a session in one click on the simulated rig; the new session appears with the same stimuli", async () => {
    const before = store.listSessions().length;
    const job = await startJob(() =>
      page.locator('[data-testid="replay-row"][data-session="1"]').getByTestId("replay-sim").click(),
    );
    expect(await job.getAttribute("data-kind")).toBe("replay");
    await expect.poll(() => job.getAttribute("data-state"), { timeout: 120_000, interval: 500 }).toBe("completed");
    expect(await job.getByTestId("job-message").textContent()).toMatch(/^8\/8 presentations with counts stored/);
    const sessions = store.listSessions();
    expect(sessions.length).toBe(before + 1);
    const replay = sessions[sessions.length - 1]!;
    expect(replay.name).toBe("replay of quick (simulated rig)");
    expect(replay.state).toBe("completed");
    expect(store.presentations(replay.id).map((p) => p.stimulusSha256)).toEqual(
      store.presentations(1).map((p) => p.stimulusSha256),
    );
    expect(store.countResults(replay.id).filter((r) => r.complete).length).toBe(8);
    // The page's session list reloads when the run ends.
    await page.locator(`[data-testid="replay-row"][data-session="${replay.id}"]`).waitFor({ timeout: 10_000 });
    await shot("tech-replayed.png");
  }, 150_000);

  it("dry-runs a library protocol on the simulated rig", async () => {
    const row = page.locator(`[data-id="file:${join(protocolsDir, "quick.json")}"]`);
    const job = await startJob(() => row.getByTestId("dry-run").click());
    expect(await job.getAttribute("data-kind")).toBe("dry-run");
    await expect.poll(() => job.getAttribute("data-state"), { timeout: 120_000, interval: 500 }).toBe("completed");
    const last = store.listSessions().at(-1)!;
    expect(last.name).toBe("dry run of quick (simulated rig)");
    expect(last.presentations).toBe(8);
    await shot("tech-dry-run.png");
    expect(problems).toEqual([]);
  }, 150_000);
});
