/**
 * End to end: a real simulated session (the `demo` command in a child process), the web API, and
 * the review UI driven in Chromium. Screenshots go to artifacts/screenshots/ (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { createServer, request as httpRequest, type Server } from "node:http";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startServer, type RunningServer } from "../../src/main/api/server.js";
import { SessionStore } from "../../src/main/store/index.js";
import { repoRoot, tempDir } from "../helpers/tmp.js";

const chromiumPath = process.env.CORTEXLOOP_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(chromiumPath);
if (!hasChromium) console.warn(`tests/e2e/review.test.ts: skipping the browser part: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set CORTEXLOOP_CHROMIUM).`);

const rendererDir = join(repoRoot, "dist-renderer");
const screenshots = join(repoRoot, "artifacts", "screenshots");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the renderer when dist-renderer is missing or older than its sources. */
async function ensureRenderer(): Promise<void> {
  const index = join(rendererDir, "index.html");
  if (existsSync(index) && statSync(index).mtimeMs >= newestMtime(join(repoRoot, "src", "renderer"))) return;
  const { build } = await import("vite");
  await build({ configFile: join(repoRoot, "vite.config.ts"), logLevel: "warn" });
}

interface Answer {
  status: number;
  body: string;
}

function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "POST", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const tmp = tempDir("cortexloop-e2e-");
const db = join(tmp.dir, "lab.db");
let store: SessionStore;
let server: RunningServer;
let sessionId: number;

beforeAll(async () => {
  const run = promisify(execFile);
  const [, demo] = await Promise.all([ensureRenderer(), run(process.execPath, [join(repoRoot, "bin", "cortexloop.js"), "demo", "--db", db], { cwd: repoRoot, timeout: 110_000 })]);
  expect(demo.stderr).toMatch(/completed; 150\/150 presented/);
  // A model version trained on the session, as the training job would store it.
  const writer = SessionStore.open(db);
  sessionId = writer.listSessions()[0].id;
  writer.putModelVersion({ name: "ensemble-1", kind: "deep-ensemble", metrics: { r2er: 0.4817, loss: 1.2 }, sessionIds: [sessionId] });
  // A fault as the acquisition client records one, so the faults view has something to show.
  writer.recordFault(sessionId, { code: "heartbeat-lost", message: "Rig stopped answering heartbeats at presentation 41; 41 presentations are saved; reconnected after 800 ms.", presentationIdxs: [41, 42] });
  writer.close();
  store = SessionStore.open(db, { readonly: true });
  server = await startServer({ store, rendererDir, port: 0 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  store?.close();
  tmp.cleanup();
});

describe("web API refuses", () => {
  const url = (): string => `${server.url}/api/listSessions`;
  const json = { "Content-Type": "application/json" };

  it("a request without the token", async () => {
    expect((await post(url(), "{}", json)).status).toBe(401);
  });
  it("a request with a wrong token", async () => {
    expect((await post(url(), "{}", { ...json, Authorization: "Bearer not-the-token" })).status).toBe(401);
  });
  it("an oversized request", async () => {
    const r = await post(`${server.url}/api/getSession`, JSON.stringify({ session: 1, pad: "x".repeat(65 * 1024) }), { ...json, Authorization: `Bearer ${server.token}` });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ ok: false, code: "too-large" });
  });
  it("a request from another origin", async () => {
    const r = await post(url(), "{}", { ...json, Authorization: `Bearer ${server.token}`, Origin: "http://attacker.example" });
    expect(r.status).toBe(403);
  });
  it("and accepts the same request with the token from its own origin", async () => {
    const r = await post(url(), "{}", { ...json, Authorization: `Bearer ${server.token}`, Origin: server.url });
    expect(r.status).toBe(200);
  });
});

describe.skipIf(!hasChromium)("review UI in Chromium", () => {
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const profile = tempDir("cortexloop-chromium-");
  let otherSite: Server | undefined;

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    context = await chromium.launchPersistentContext(profile.dir, {
      executablePath: chromiumPath,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1360, height: 900 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise<void>((r) => (otherSite ? otherSite.close(() => r()) : r()));
    profile.cleanup();
  });

  it("lists the session, and takes the token out of the address bar", async () => {
    await page.goto(server.openUrl);
    await page.getByTestId("sessions-table").waitFor();
    expect(await page.getByTestId("sessions-table").locator("tbody tr").count()).toBe(1);
    await expect.poll(() => page.url()).not.toContain("token=");
    await page.screenshot({ path: join(screenshots, "01-sessions.png"), fullPage: true });
  });

  it("opens the session: protocol text and counts", async () => {
    await page.getByTestId(`open-session-${sessionId}`).click();
    await page.getByTestId("protocol-text").waitFor();
    expect(await page.getByTestId("protocol-text").textContent()).toContain('"name": "demo"');
    await page.screenshot({ path: join(screenshots, "02-session-overview.png"), fullPage: true });
  });

  it("plots one series per unit, and a unit × presentation heatmap", async () => {
    await page.getByTestId("tab-responses").click();
    const chart = page.getByTestId("responses-chart");
    await chart.waitFor();
    const curves = chart.locator("path.recharts-line-curve");
    await expect.poll(() => curves.count()).toBe(16);
    expect(await chart.getAttribute("data-series")).toBe("16");
    const heatmap = page.getByTestId("heatmap");
    expect(await heatmap.getAttribute("data-rows")).toBe("16");
    expect(await heatmap.getAttribute("data-columns")).toBe("150");
    // The canvas really has coloured cells (not blank).
    const painted = await heatmap.locator("canvas").evaluate((c: HTMLCanvasElement) => {
      const ctx = c.getContext("2d");
      if (ctx === null) return 0;
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n / (c.width * c.height);
    });
    expect(painted).toBeGreaterThan(0.5);
    await page.screenshot({ path: join(screenshots, "03-responses.png"), fullPage: true });
    // Hiding a unit is an action on the view's state: one series fewer, and back.
    await chart.locator(".legend .chip").first().click();
    await expect.poll(() => curves.count()).toBe(15);
    await chart.getByRole("button", { name: "show all" }).click();
    await expect.poll(() => curves.count()).toBe(16);
  });

  it("shows presentations with stimulus thumbnails", async () => {
    await page.getByTestId("tab-presentations").click();
    const table = page.getByTestId("presentations-table");
    await table.waitFor();
    expect(await table.locator("tbody tr").count()).toBe(50);
    const thumbs = table.getByTestId("stimulus-thumb");
    await expect.poll(() => thumbs.count()).toBe(50);
    await expect
      .poll(() => thumbs.evaluateAll((imgs) => imgs.filter((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0).length))
      .toBe(50);
    await page.screenshot({ path: join(screenshots, "04-presentations.png"), fullPage: false });
  });

  it("shows faults and model versions with r²_ER", async () => {
    await page.getByTestId("tab-faults").click();
    const faults = page.getByTestId("faults-table");
    await faults.waitFor();
    expect(await faults.locator("tbody tr").count()).toBe(1);
    expect(await faults.locator("tbody tr td").nth(1).textContent()).toBe("heartbeat-lost");
    await page.screenshot({ path: join(screenshots, "05-faults.png"), fullPage: true });
    await page.getByTestId("tab-models").click();
    await page.getByTestId("models-table").waitFor();
    expect(await page.getByTestId("r2er").first().textContent()).toBe("0.482");
    await page.screenshot({ path: join(screenshots, "06-models.png"), fullPage: true });
  });

  it("exports CSV files for download", async () => {
    await page.getByTestId("tab-export").click();
    await page.getByTestId("export-csv").click();
    await page.getByTestId("csv-files").waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-presentations.csv").click()]);
    expect(download.suggestedFilename()).toBe(`demo-${sessionId}-presentations.csv`);
    const path = await download.path();
    const text = readFileSync(path, "utf8");
    expect(text.split("\n")[0]).toBe("idx,block,stimulus_sha256,event_code,scheduled_ms,shown_ms,duration_ms,status,onset_sample,counts_complete");
    expect(text.trim().split("\n")).toHaveLength(151);
    await page.screenshot({ path: join(screenshots, "07-export.png"), fullPage: true });
  });

  it("had no console errors or CSP violations", () => {
    expect(problems).toEqual([]);
  });

  it("a page from another origin cannot call the API, even knowing the token", async () => {
    otherSite = createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<!doctype html><title>elsewhere</title>");
    });
    await new Promise<void>((r) => otherSite?.listen(0, "127.0.0.1", () => r()));
    const other = await context.newPage();
    try {
      await other.goto(`http://127.0.0.1:${(otherSite.address() as AddressInfo).port}/`);
      const outcome = await other.evaluate(
        async ({ url, token }) => {
          try {
            const r = await fetch(url, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: "{}" });
            return `answered ${r.status}`;
          } catch (err) {
            return `refused: ${String(err)}`;
          }
        },
        { url: `${server.url}/api/listSessions`, token: server.token },
      );
      expect(outcome).toMatch(/^refused/);
    } finally {
      await other.close();
    }
  });
});
