/**
 * End to end: a real simulated session (the `demo` command in a child process), a small campaign
 * (two sessions, a retrain after each), a session with known incomplete counts and faults, the
 * web API, and the review UI driven in Chromium. Screenshots go to artifacts/screenshots/
 * (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { createServer, request as httpRequest, type Server } from "node:http";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import type { BrowserContext, Page } from "playwright-core";
import { startServer, type RunningServer } from "../../src/main/api/server.js";
import { SessionStore } from "../../src/main/store/index.js";
import { runCampaignCommand, type CampaignFlags } from "../../src/main/cli-campaign.js";
import { predictStoredStimuli } from "../../src/main/jobs/predict-stored.js";
import { sharedDir } from "../../src/main/paths.js";
import { ensureRenderer, hasChromium, launchChromium, rendererDir, skipWithoutChromium } from "../helpers/browser.js";
import { writeIncompleteSession } from "../helpers/incomplete-session.js";
import { writeTuningSession, type TuningSessionFixture } from "../helpers/tuning-session.js";
import { repoRoot, tempDir } from "../helpers/tmp.js";
import { unzipFile } from "../helpers/unzip.js";

skipWithoutChromium("tests/e2e/review.test.ts", "skipping the browser part");

const screenshots = join(repoRoot, "artifacts", "screenshots");

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
let fixtureId: number;
let runningId: number;
let campaignIds: number[];
let tuningFx: TuningSessionFixture;

/** A small campaign on the simulated rig: two sessions of generated images, a retrain after each. */
function campaignFlags(dir: string): CampaignFlags {
  return {
    sessions: "2",
    imagesPerSession: "30",
    testImages: "10",
    testRepeats: "3",
    trainRepeats: "1",
    db,
    out: join(dir, "campaign"),
    neurons: "builtin",
    units: "6",
    selection: "random",
    seed: "3",
    members: "2",
    width: "6",
    cycles: "1",
    steps: "5",
    blocks: "1",
    lr: "3e-3",
    patience: "3",
    stopOn: "loss",
    minCycles: "1",
    readoutL2: "1e-2",
    readouts: "per-session",
    warmStart: true,
    candidates: "60",
    imagesDir: join(dir, "no-images"),
    activeFraction: "0.5",
    gaudyFraction: "0.25",
    rig: "sim",
    frontEnd: "gabor-small",
    frontEndInput: "112",
    stimulusMs: "20",
    interStimulusMs: "20",
    propose: false,
    backend: "wasm",
  };
}

beforeAll(async () => {
  const run = promisify(execFile);
  const [, demo] = await Promise.all([
    ensureRenderer(),
    run(process.execPath, [join(repoRoot, "bin", "cortexloop.js"), "demo", "--db", db], {
      cwd: repoRoot,
      timeout: 110_000,
    }),
  ]);
  expect(demo.stderr).toMatch(/completed; 150\/150 presented/);
  // A model version trained on the session, as the training job would store it.
  const writer = SessionStore.open(db);
  sessionId = writer.listSessions()[0].id;
  writer.putModelVersion({
    name: "ensemble-1",
    kind: "deep-ensemble",
    metrics: { r2er: 0.4817, loss: 1.2 },
    sessionIds: [sessionId],
  });
  // A fault as the acquisition client records one, so the faults view has something to show.
  writer.recordFault(sessionId, {
    code: "heartbeat-lost",
    message:
      "Rig stopped answering heartbeats at presentation 41; 41 presentations are saved; reconnected after 800 ms.",
    presentationIdxs: [41, 42],
  });
  fixtureId = (await writeIncompleteSession(writer)).sessionId;
  writer.close();
  await runCampaignCommand(campaignFlags(tmp.dir), () => {});
  // A session whose controller has not ended it (still running, or crashed).
  const again = SessionStore.open(db);
  runningId = (await writeIncompleteSession(again, { finish: false })).sessionId;
  // A recorded `design tuning` sweep, its predictions stored with the design.
  tuningFx = await writeTuningSession(again, tmp.dir);
  again.close();
  store = SessionStore.open(db, { readonly: true });
  campaignIds = store
    .listSessions()
    .filter((s) => s.name.startsWith("campaign"))
    .map((s) => s.id);
  server = await startServer({ store, rendererDir, port: 0 });
}, 240_000);

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
    const r = await post(`${server.url}/api/getSession`, JSON.stringify({ session: 1, pad: "x".repeat(65 * 1024) }), {
      ...json,
      Authorization: `Bearer ${server.token}`,
    });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ ok: false, code: "too-large" });
  });
  it("a request from another origin", async () => {
    const r = await post(url(), "{}", {
      ...json,
      Authorization: `Bearer ${server.token}`,
      Origin: "http://attacker.example",
    });
    expect(r.status).toBe(403);
  });
  it("and accepts the same request with the token from its own origin", async () => {
    const r = await post(url(), "{}", { ...json, Authorization: `Bearer ${server.token}`, Origin: server.url });
    expect(r.status).toBe(200);
  });
});

const python = "/usr/bin/python3";
const validator = sharedDir() === undefined ? undefined : join(sharedDir()!, "nwb", "validate_nwb.py");
const canValidate =
  validator !== undefined && existsSync(validator) && spawnSync(python, ["-c", "import hdmf, h5py"]).status === 0;

describe.skipIf(!hasChromium)("review UI in Chromium", () => {
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const profile = tempDir("cortexloop-chromium-");
  let otherSite: Server | undefined;
  const shot = (name: string, fullPage = true): Promise<Buffer> =>
    page.screenshot({ path: join(screenshots, name), fullPage });
  /** The canvas really has coloured pixels (not blank): the share of non-transparent ones. */
  const painted = (selector: string): Promise<number> =>
    page
      .locator(selector)
      .first()
      .evaluate((c: HTMLCanvasElement) => {
        const ctx = c.getContext("2d");
        if (ctx === null) return 0;
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
        return n / (c.width * c.height);
      });

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    context = await launchChromium(profile.dir);
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

  it("lists the sessions, takes the token out of the address bar; filters and sorting change the rows", async () => {
    await page.goto(server.openUrl);
    const table = page.getByTestId("sessions-table");
    await table.waitFor();
    const all = store.listSessions();
    expect(all.length).toBe(6);
    expect(await table.locator("tbody tr").count()).toBe(all.length);
    await expect.poll(() => page.url()).not.toContain("token=");
    await shot("01-sessions.png");
    await page.getByTestId("filter-protocol").selectOption("demo");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
    await page.getByTestId("filter-protocol").selectOption("");
    await page.getByTestId("filter-faults").selectOption("with");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(all.filter((s) => s.faults > 0).length);
    await page.getByTestId("filter-faults").selectOption("");
    await page.getByTestId("sort-presentations").click();
    const firstName = (): Promise<string | null> => table.locator("tbody tr td").first().textContent();
    const fewest = [...all].sort((a, b) => a.presentations - b.presentations || a.id - b.id)[0]!;
    await expect.poll(firstName).toContain(fewest.name);
    // The filters live in the URL: a reload keeps them.
    await page.getByTestId("filter-rig").selectOption("fixture-rig");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(2);
    expect(page.url()).toContain("rig=fixture-rig");
    await page.reload();
    await table.waitFor();
    expect(await table.locator("tbody tr").count()).toBe(2);
    await shot("02-sessions-filtered.png");
    await page.getByTestId("filter-rig").selectOption("");
  });

  it("opens the demo session: protocol text and counts", async () => {
    await page.getByTestId(`open-session-${sessionId}`).click();
    await page.getByTestId("protocol-text").waitFor();
    expect(await page.getByTestId("protocol-text").textContent()).toContain('"name": "demo"');
    expect(page.url()).toContain(`#/session/${sessionId}/overview`);
    await shot("03-session-overview.png");
  });

  it("responses: units × images ordered by response, units × presentations, reliability per unit", async () => {
    await page.getByTestId("tab-responses").click();
    const images = page.getByTestId("image-heatmap");
    await images.waitFor();
    expect(await images.getAttribute("data-rows")).toBe("16");
    expect(await images.getAttribute("data-columns")).toBe("50");
    const heatmap = page.getByTestId("heatmap");
    expect(await heatmap.getAttribute("data-rows")).toBe("16");
    expect(await heatmap.getAttribute("data-columns")).toBe("150");
    expect(await painted('[data-testid="heatmap"] canvas')).toBeGreaterThan(0.5);
    expect(await painted('[data-testid="image-heatmap"] canvas')).toBeGreaterThan(0.5);
    await page.getByTestId("reliability").locator("path.recharts-rectangle").first().waitFor();
    expect(await page.getByTestId("reliability").locator("path.recharts-rectangle").count()).toBeGreaterThan(8);
    const firstByPopulation = await images.getAttribute("data-first");
    await page.getByTestId("heatmap-order").selectOption("shown");
    await expect.poll(() => images.getAttribute("data-first")).not.toBe(firstByPopulation);
    await page.getByTestId("heatmap-order").selectOption("population");
    await shot("04-responses.png");
  });

  it("responses ordered by a model's prediction: the page's image order is the stored model's", async () => {
    // The demo session's only model version has no weights: the option is disabled and says why.
    await page.goto(`${server.url}/#/session/${sessionId}/responses`);
    const unavailable = page.getByTestId("prediction-unavailable");
    await unavailable.waitFor();
    expect(await unavailable.textContent()).toMatch(/Model version \d+ has no weights stored/);
    const option = page.locator('[data-testid="heatmap-order"] option[value="prediction"]');
    expect(await option.isDisabled()).toBe(true);
    expect(await option.textContent()).toMatch(/unavailable, Model version \d+ has no weights stored/);

    // A campaign session (gabor-small front end): its newest retrain predicts it.
    const session = campaignIds[0]!;
    const newest = store
      .listModelVersions()
      .filter((v) => v.kind === "deep-ensemble" && v.sessionIds.includes(session))
      .at(-1)!;
    await page.goto(`${server.url}/#/session/${session}/responses`);
    await expect.poll(() => option.isEnabled(), { timeout: 60_000 }).toBe(true);
    expect(await option.textContent()).toBe(`model prediction (version ${newest.id})`);
    await page.getByTestId("heatmap-order").selectOption("prediction");
    await expect.poll(() => page.url()).toContain("order=prediction");
    const images = page.getByTestId("image-heatmap");
    await expect.poll(() => images.getAttribute("data-order")).toBe("prediction");
    // The store's predictions, computed here: images by the mean over units of each unit's standardized prediction.
    const stored = await predictStoredStimuli(store, { modelVersionId: newest.id, sessionId: session });
    const rows = stored.byUnit.filter((r): r is number[] => r !== null);
    expect(rows.length).toBe(6);
    const z = rows.map((r) => {
      const mean = r.reduce((a, b) => a + b, 0) / r.length;
      const sd = Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / r.length);
      return r.map((v) => (v - mean) / sd);
    });
    const score = stored.stimuli.map((_, i) => z.reduce((a, r) => a + r[i]!, 0) / z.length);
    const expected = stored.stimuli
      .map((sha, i) => ({ sha, i }))
      .sort((a, b) => score[b.i]! - score[a.i]! || a.i - b.i)
      .map((x) => x.sha.slice(0, 12));
    expect((await images.getAttribute("data-images"))!.split(" ")).toEqual(expected);
    expect(await images.getAttribute("data-first")).not.toBe(stored.stimuli[0]);
    const predicted = page.getByTestId("predicted-heatmap");
    await predicted.waitFor();
    expect(await predicted.getAttribute("data-columns")).toBe(String(stored.stimuli.length));
    expect(await painted('[data-testid="predicted-heatmap"] canvas')).toBeGreaterThan(0.5);
    expect(await images.textContent()).toMatch(
      new RegExp(`model version ${newest.id} \\(.*\\), readout session-${session}, .*no presentations counted`),
    );
    expect(await images.textContent()).toMatch(/\d+ of \d+ presentations counted/);
    // One unit's prediction orders by that unit alone; the route keeps the order over a reload.
    await page.getByTestId("heatmap-order").selectOption("unit-prediction");
    const unit = store.units(session)[2]!;
    await page.getByTestId("unit-picker").selectOption(String(unit.id));
    await expect.poll(() => page.url()).toContain(`unit=${unit.id}`);
    const row = stored.byUnit[2]!;
    const byUnit = stored.stimuli
      .map((sha, i) => ({ sha, i }))
      .sort((a, b) => row[b.i]! - row[a.i]! || a.i - b.i)
      .map((x) => x.sha.slice(0, 12));
    await expect.poll(async () => (await images.getAttribute("data-images"))!.split(" ")).toEqual(byUnit);
    await page.reload();
    await expect.poll(() => images.getAttribute("data-order"), { timeout: 60_000 }).toBe("unit-prediction");
    expect((await images.getAttribute("data-images"))!.split(" ")).toEqual(byUnit);
    await page.getByTestId("heatmap-order").selectOption("prediction");
    await shot("04b-responses-by-prediction.png");
  });

  it("unit: raster, PSTH, ranked responses with s.e.m. and the image on hover; reload and Back keep it", async () => {
    await page.goto(`${server.url}/#/session/${fixtureId}/unit?unit=${store.units(fixtureId)[1]!.id}`);
    const raster = page.getByTestId("raster");
    await raster.waitFor();
    expect(await raster.getAttribute("data-rows")).toBe("24");
    expect(await raster.getAttribute("data-bins")).toBe("4");
    expect(await raster.getAttribute("data-incomplete")).toBe("4");
    expect(await painted('[data-testid="raster"] canvas')).toBeGreaterThan(0.3);
    const psth = page.getByTestId("psth");
    await expect.poll(() => psth.locator("path.recharts-rectangle").count()).toBe(4);
    expect(await page.getByTestId("counting-text").textContent()).toMatch(
      /19 of 24 presentations counted \(complete counts only\); 4 with incomplete counts excluded/,
    );
    const ranked = page.getByTestId("ranked");
    expect(await ranked.getAttribute("data-points")).toBe("6");
    await expect.poll(() => ranked.locator(".recharts-line-dots circle").count()).toBe(6);
    const dot = ranked.locator(".recharts-line-dots circle").first();
    const box = (await dot.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const tip = page.getByTestId("ranked-tip");
    await tip.waitFor();
    await expect
      .poll(() => tip.locator("img").evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0))
      .toBe(true);
    await shot("05-unit-raster-psth-ranked.png");
    // A figure saves as PNG and as SVG.
    const [png] = await Promise.all([page.waitForEvent("download"), page.getByTestId("raster-png").click()]);
    expect(png.suggestedFilename()).toMatch(/^session-\d+-unit-.*-raster\.png$/);
    expect(
      readFileSync(await png.path())
        .subarray(1, 4)
        .toString("latin1"),
    ).toBe("PNG");
    const [svg] = await Promise.all([page.waitForEvent("download"), page.getByTestId("psth-svg").click()]);
    expect(readFileSync(await svg.path(), "utf8")).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // The route survives a reload, and Back returns to the previous place.
    const here = page.url();
    await page.reload();
    await page.getByTestId("raster").waitFor();
    expect(page.url()).toBe(here);
    expect(await page.getByTestId("unit-picker").inputValue()).toBe(String(store.units(fixtureId)[1]!.id));
    await page.getByTestId("unit-picker").selectOption(String(store.units(fixtureId)[2]!.id));
    await expect.poll(() => page.url()).toContain(`unit=${store.units(fixtureId)[2]!.id}`);
    await page.goBack();
    await expect.poll(() => page.getByTestId("unit-picker").inputValue()).toBe(String(store.units(fixtureId)[1]!.id));
  });

  it("tuning: orientation of the gratings, size and position of the dots, for a campaign session", async () => {
    await page.goto(`${server.url}/#/session/${campaignIds[0]}/tuning`);
    const orientation = page.getByTestId("tuning-orientationDeg");
    await orientation.waitFor();
    expect(Number(await orientation.getAttribute("data-points"))).toBeGreaterThan(2);
    await page.getByTestId("tuning-meanRadius").waitFor();
    await page.getByTestId("tuning-centroidX").waitFor();
    await expect.poll(() => orientation.locator(".recharts-line-dots circle").count()).toBeGreaterThan(2);
    // No tuning design made these images: measured curves only, as before.
    expect(await orientation.getAttribute("data-predicted")).toBe("0");
    expect(await page.getByTestId("tuning-predicted-note").count()).toBe(0);
    expect(await orientation.locator(".tuning-predicted").count()).toBe(0);
    await shot("06-tuning.png");
  });

  it("tuning: a design tuning sweep's predicted curve beside the measured one, on its own axis", async () => {
    await page.goto(`${server.url}/#/session/${tuningFx.sessionId}/tuning`);
    const orientation = page.getByTestId("tuning-orientationDeg");
    await orientation.waitFor();
    await page.getByTestId("tuning-predicted-note").waitFor();
    expect(await orientation.getAttribute("data-points")).toBe("4");
    expect(await orientation.getAttribute("data-predicted")).toBe("4");
    const predicted = orientation.locator(".recharts-line.tuning-predicted");
    await expect.poll(() => predicted.locator("path.recharts-curve").count()).toBe(1);
    // Four measured points and four predicted ones.
    await expect.poll(() => orientation.locator(".recharts-line-dots circle").count()).toBe(8);
    // The predicted curve's own axis, on the right.
    expect(await orientation.locator(".recharts-yAxis").count()).toBe(2);
    const legend = (): Promise<string | null> => orientation.locator(".recharts-legend-wrapper").textContent();
    expect(await legend()).toContain("measured (mean ± s.e.)");
    expect(await legend()).toContain(`predicted (ensemble v${tuningFx.ensembleId})`);
    expect(await orientation.locator("figcaption").textContent()).toContain(
      "on the right-hand axis (z-scored responses",
    );
    await shot("06b-tuning-predicted.png");
    const units = store.units(tuningFx.sessionId);
    await page.getByTestId("unit-picker").selectOption(String(units[1]!.id));
    await expect.poll(legend).toContain(`predicted (compact model v${tuningFx.compactId})`);
    // The unit no design named: measured only, and the caption says why.
    await page.getByTestId("unit-picker").selectOption(String(units[2]!.id));
    await expect.poll(() => orientation.getAttribute("data-predicted")).toBe("0");
    expect(await orientation.getAttribute("data-points")).toBe("4");
    expect(await orientation.locator("figcaption").textContent()).toContain("no prediction stored for unit e2/0");
    expect(await orientation.locator(".tuning-predicted").count()).toBe(0);
    await expect.poll(() => orientation.locator(".recharts-line-dots circle").count()).toBe(4);
  });

  it("models: the campaign's learning curve, and one version's r²_ER per unit", async () => {
    await page.goto(`${server.url}/#/session/${campaignIds[1]}/models`);
    const curve = page.getByTestId("learning-curve");
    await curve.waitFor();
    // The campaign's retrains; the readout of session 2 on the frozen first model is not a point of the curve.
    const campaignVersions = store
      .listModelVersions()
      .filter((v) => Array.isArray(v.metrics.r2erPerUnit) && v.config.readoutFirst !== true);
    expect(campaignVersions.length).toBe(2);
    expect(Number(await curve.getAttribute("data-points"))).toBe(3);
    await expect.poll(() => curve.locator("path.recharts-curve").count()).toBeGreaterThan(0);
    await page.getByTestId(`model-${campaignVersions[1]!.id}`).click();
    const units = page.getByTestId("version-units");
    await units.waitFor();
    expect(await units.getAttribute("data-units")).toBe("6");
    expect(page.url()).toContain(`model=${campaignVersions[1]!.id}`);
    await shot("07-models-learning-curve.png");
    await page.goto(`${server.url}/#/session/${sessionId}/models`);
    await page.getByTestId("models-table").waitFor();
    expect(await page.getByTestId("r2er").first().textContent()).toBe("0.482");
  });

  it("presentations and faults: filters change the rows; faults in time order with full timestamps", async () => {
    await page.goto(`${server.url}/#/session/${fixtureId}/presentations`);
    const table = page.getByTestId("presentations-table");
    await table.waitFor();
    expect(await table.locator("tbody tr").count()).toBe(24);
    await page.getByTestId("filter-counts").selectOption("incomplete");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(4);
    await page.getByTestId("filter-counts").selectOption("");
    await page.getByTestId("filter-status").selectOption("skipped");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
    await page.getByTestId("filter-status").selectOption("");
    await page.getByTestId("filter-late").fill("1");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(23);
    await page.getByTestId("filter-late").fill("2");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(0);
    await page.getByTestId("filter-late").fill("");
    await page.getByTestId("filter-counts").selectOption("incomplete");
    await shot("08-presentations-filtered.png");
    await page.getByTestId("tab-faults").click();
    const faults = page.getByTestId("faults-table");
    await faults.waitFor();
    expect(await faults.locator("tbody tr").count()).toBe(2);
    expect(await faults.locator("tbody tr td").first().textContent()).toMatch(
      /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [+-]\d{2}:\d{2}$/,
    );
    expect(await faults.locator("tbody tr td:nth-child(2)").allTextContents()).toEqual([
      "counts-incomplete",
      "heartbeat-lost",
    ]);
    await page.getByTestId("filter-code").selectOption("heartbeat-lost");
    await expect.poll(() => faults.locator("tbody tr").count()).toBe(1);
    await shot("09-faults.png");
  });

  it("export: the bundle unzips with the documented files; the NWB file validates; CSV as before", async () => {
    await page.goto(`${server.url}/#/session/${sessionId}/export`);
    const [bundle] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-bundle").click()]);
    expect(bundle.suggestedFilename()).toBe(`demo-${sessionId}.zip`);
    const entries = [...(await unzipFile(await bundle.path())).keys()];
    const folder = `demo-${sessionId}`;
    for (const name of [
      "README.md",
      "presentations.csv",
      "units.csv",
      "spike_counts.csv",
      "responses.csv",
      "faults.csv",
      "protocol.json",
      "rig.json",
      "replay-protocol.json",
    ]) {
      expect(entries).toContain(`${folder}/${name}`);
    }
    expect(entries.filter((e) => e.startsWith(`${folder}/stimuli/`) && e.endsWith(".png"))).toHaveLength(50);
    const [nwb] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-nwb").click()]);
    expect(nwb.suggestedFilename()).toBe(`demo-${sessionId}.nwb`);
    if (canValidate) {
      const v = spawnSync(python, [validator!, await nwb.path()], { encoding: "utf8" });
      expect(`${v.stdout}${v.stderr}`).toMatch(/VALID: 0 error\(s\)/);
      expect(v.status).toBe(0);
    }
    await page.getByTestId("export-csv").click();
    await page.getByTestId("csv-files").waitFor();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("download-presentations.csv").click(),
    ]);
    expect(download.suggestedFilename()).toBe(`demo-${sessionId}-presentations.csv`);
    const text = readFileSync(await download.path(), "utf8");
    expect(text.split("\n")[0]).toBe(
      "idx,block,stimulus_sha256,event_code,scheduled_ms,shown_ms,duration_ms,status,onset_sample,counts_complete",
    );
    expect(text.trim().split("\n")).toHaveLength(151);
    await shot("10-export.png");
  });

  it("had no console errors or CSP violations", () => {
    expect(problems).toEqual([]);
  });

  // After the console check: the refusal is a 409, which the browser logs as a failed resource.
  it("export of a session that has not ended: a clear refusal, then what was stored on request", async () => {
    await page.goto(`${server.url}/#/session/${runningId}/export`);
    await page.getByTestId("export-nwb").click();
    const error = page.getByTestId("export-error");
    await error.waitFor();
    expect(await error.textContent()).toMatch(/is still running \(state "started".*nothing was written.*\(conflict\)/);
    await shot("11-export-running-refused.png");
    const [nwb] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-unfinished").click()]);
    expect(nwb.suggestedFilename()).toBe(`incomplete-fixture-${runningId}.nwb`);
    if (canValidate) expect(spawnSync(python, [validator!, await nwb.path()]).status).toBe(0);
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
            const r = await fetch(url, {
              method: "POST",
              headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
              body: "{}",
            });
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
