/**
 * End to end: the review's Causal tab in Chromium over the web API, on a designed and recorded causal-test session
 * (tests/helpers/causal-session.ts). The table's values are those `cortexloop analyze causal` prints; the gallery
 * shows each image with its unit, kind, base image and responses; the figures save as PNG and SVG; a session
 * without causal images has the tab disabled with the reason. Screenshots go to artifacts/screenshots/.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/main/api/server.js";
import { analyzeCausal, causalTable, type CausalAnalysis } from "../../src/main/causal/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { ensureRenderer, hasChromium, launchChromium, rendererDir, skipWithoutChromium } from "../helpers/browser.js";
import { writeCausalSession, type CausalSessionFixture } from "../helpers/causal-session.js";
import { repoRoot, tempDir } from "../helpers/tmp.js";

skipWithoutChromium("tests/e2e/causal.test.ts", "skipping the browser part");

const screenshots = join(repoRoot, "artifacts", "screenshots");
const tmp = tempDir("cortexloop-causal-e2e-");
let fx: CausalSessionFixture;
let store: SessionStore;
let server: RunningServer;
let analysis: CausalAnalysis;

interface Provenance {
  sha: string;
  unit: string;
  kind: string;
  base: string | null;
  predicted: number;
}

beforeAll(async () => {
  [fx] = await Promise.all([writeCausalSession(tmp.dir), hasChromium ? ensureRenderer() : Promise.resolve()]);
  store = SessionStore.open(fx.db, { readonly: true });
  analysis = analyzeCausal(store, String(fx.causalSessionId));
  server = await startServer({ store, rendererDir, port: 0 });
}, 240_000);

afterAll(async () => {
  await server?.close();
  store?.close();
  tmp.cleanup();
});

describe.skipIf(!hasChromium)("the Causal tab in Chromium", () => {
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  /** Every response of status 400 or more, to say which request a console error is about. */
  const failedRequests: string[] = [];
  const profile = tempDir("cortexloop-chromium-causal-");

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    context = await launchChromium(profile.dir);
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("response", (r) => {
      if (r.status() >= 400) failedRequests.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    await page.goto(server.openUrl);
    await page.getByTestId("sessions-table").waitFor();
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    profile.cleanup();
  });

  it("is disabled, with the reason, for a session without causal images", async () => {
    await page.goto(`${server.url}/#/session/${fx.plainSessionId}/overview`);
    const tab = page.getByTestId("tab-causal");
    await tab.waitFor();
    expect(await tab.isDisabled()).toBe(true);
    expect(await tab.getAttribute("title")).toMatch(/showed no designed images of a causal test/);
    // A link straight to the tab says why there is nothing.
    await page.goto(`${server.url}/#/session/${fx.plainSessionId}/causal`);
    await page.reload();
    expect(await page.getByTestId("causal-none").textContent()).toMatch(
      /plain showed no designed images of a causal test/,
    );
  });

  it("shows per kind the measured %Δr, p and predicted %Δr that `analyze causal` prints", async () => {
    await page.goto(`${server.url}/#/session/${fx.causalSessionId}/overview`);
    await page.getByTestId("tab-causal").click();
    const table = page.getByTestId("causal-table");
    await table.waitFor();
    expect(page.url()).toContain(`#/session/${fx.causalSessionId}/causal`);
    // The terminal table: kind, against, units, measured %Δr (mean ± s.e.), p, predicted %Δr.
    // The table's rows: the lines after them say what scale the predicted column is on.
    const printed = causalTable(analysis)
      .slice(2, 2 + analysis.summary.length)
      .map((line) => line.trim().split(/\s{2,}/));
    expect(printed).toHaveLength(6);
    expect(await table.locator("tbody tr").count()).toBe(printed.length);
    for (const [kind, against, units, measured, p, predicted] of printed) {
      const row = page.getByTestId(`causal-kind-${kind}`);
      expect(await row.locator("td").nth(1).textContent()).toBe(against);
      expect(await row.getByTestId("units").textContent()).toBe(units);
      expect(await row.getByTestId("measured").textContent()).toBe(measured);
      expect(await row.getByTestId("p").textContent()).toBe(p);
      expect(await row.getByTestId("predicted").textContent()).toBe(predicted);
    }
    const scatter = page.getByTestId("causal-scatter");
    const points = analysis.rows.filter(
      (r) => Number.isFinite(r.measuredChange) && Number.isFinite(r.predictedChange),
    ).length;
    expect(await scatter.getAttribute("data-points")).toBe(String(points));
    await expect.poll(() => scatter.locator(".recharts-scatter-symbol").count()).toBe(points);
    const kinds = page.getByTestId("causal-kinds");
    expect(await kinds.getAttribute("data-kinds")).toBe("6");
    // Measured and predicted bars per kind, each with its s.e. bar.
    await expect.poll(() => kinds.locator("path.recharts-rectangle").count()).toBe(12);
    expect(await kinds.locator(".recharts-errorBar").count()).toBe(12);
    await kinds.screenshot({ path: join(screenshots, "causal-03-kinds.png") });
    // Per unit and kind, the analysis' rows.
    await page.locator("details summary", { hasText: "Per unit and kind" }).click();
    const units = page.getByTestId("causal-unit-table");
    expect(await units.locator("tbody tr").count()).toBe(analysis.rows.length);
    // The route keeps the tab.
    await page.reload();
    await table.waitFor();
    expect(page.url()).toContain(`/causal`);
  });

  it("shows every image with its unit, kind, base image and predicted and measured responses", async () => {
    const prov = store.db
      .prepare(
        "SELECT stimulus_sha256 AS sha, unit, kind, base_sha256 AS base, predicted FROM causal_images " +
          "WHERE design_id = ?",
      )
      .all(fx.designId) as Provenance[];
    const gallery = page.getByTestId("causal-gallery");
    await gallery.waitFor();
    expect(await gallery.getAttribute("data-images")).toBe(String(prov.length));
    const cells = gallery.getByTestId("causal-image");
    expect(await cells.count()).toBe(20);
    await expect.poll(() => gallery.getByTestId("causal-thumb").count()).toBe(20);
    await page.screenshot({ path: join(screenshots, "causal-01-tab.png"), fullPage: true });
    // One kind, one unit: the adversarial+ image of e1#0 with its base.
    await page.getByTestId("causal-unit").selectOption("e1#0");
    await page.getByTestId("causal-kind").selectOption("adversarial-plus");
    await expect.poll(() => cells.count()).toBe(1);
    const want = prov.find((p) => p.unit === "e1#0" && p.kind === "adversarial-plus")!;
    const cell = cells.first();
    expect(await cell.getAttribute("data-sha")).toBe(want.sha);
    expect(await cell.getAttribute("data-base")).toBe(want.base);
    expect(await cell.getByTestId("causal-unit-label").textContent()).toBe("e1#0 · ensemble");
    expect(await cell.getByTestId("causal-kind-label").textContent()).toBe("adversarial +");
    expect(await cell.getByTestId("causal-predicted").textContent()).toBe(`predicted ${want.predicted.toFixed(2)}`);
    // Recorded as prediction + shift ∓ 0.5 over two presentations.
    expect(await cell.getByTestId("causal-measured").textContent()).toBe(
      `measured ${(want.predicted + fx.shift).toFixed(2)} ± 0.50 (2)`,
    );
    const base = prov.find((p) => p.unit === "e1#0" && p.kind === "adversarial-base" && p.sha === want.base)!;
    expect(await cell.getByTestId("causal-base-responses").textContent()).toBe(
      `base: pred. ${base.predicted.toFixed(2)} · meas. ${(base.predicted + fx.shift).toFixed(2)}`,
    );
    await cell.getByTestId("causal-base-thumb").waitFor();
    expect(await cell.getByTestId("causal-thumb").getAttribute("href")).toMatch(/^data:image\/png;base64,/);
    expect(await cell.getByTestId("causal-base-thumb").getAttribute("href")).toMatch(/^data:image\/png;base64,/);
    // Random normal images have no base.
    await page.getByTestId("causal-kind").selectOption("random-normal");
    await expect.poll(() => cells.count()).toBe(3);
    expect(await gallery.getByTestId("causal-base-thumb").count()).toBe(0);
    await page.getByTestId("causal-kind").selectOption("");
    await page.getByTestId("causal-unit").selectOption("");
    await expect.poll(() => cells.count()).toBe(20);
    await page.getByTestId("causal-next").click();
    await expect.poll(() => cells.count()).toBe(prov.length - 20);
    expect(await page.getByTestId("causal-page").textContent()).toBe(`images 21–${prov.length} of ${prov.length}`);
  });

  it("measures a session whose units are named otherwise once the unit map says which is which", async () => {
    await page.goto(`${server.url}/#/session/${fx.renamedSessionId}/causal`);
    await page.reload();
    expect(await page.getByTestId("causal-missing").textContent()).toMatch(/did not record \(left out\): e0#0, e1#0/);
    expect(await page.getByTestId("causal-table").count()).toBe(0);
    await page.getByTestId("causal-map-e0#0").selectOption("Electrode 1#0");
    await page.getByTestId("causal-map-e1#0").selectOption("Electrode 2#0");
    const table = page.getByTestId("causal-table");
    await table.waitFor();
    expect(await page.getByTestId("causal-missing").count()).toBe(0);
    // The same recording as the causal session's: the same table.
    for (const [kind, , , measured, p, predicted] of causalTable(analysis)
      .slice(2, 2 + analysis.summary.length)
      .map((line) => line.trim().split(/\s{2,}/))) {
      const row = page.getByTestId(`causal-kind-${kind}`);
      expect(await row.getByTestId("measured").textContent()).toBe(measured);
      expect(await row.getByTestId("p").textContent()).toBe(p);
      expect(await row.getByTestId("predicted").textContent()).toBe(predicted);
    }
    await page.screenshot({ path: join(screenshots, "causal-05-unit-map.png") });
    // On to another session without reloading: its review is asked with no unit map (this session's would name
    // units it did not record, and the API would refuse it).
    await page.goto(`${server.url}/#/session/${fx.causalSessionId}/causal`);
    const gallery = page.getByTestId("causal-gallery");
    await expect.poll(async () => failedRequests.length > 0 || (await gallery.count()) > 0).toBe(true);
    expect(failedRequests).toEqual([]);
    await page.reload();
    await gallery.waitFor();
  });

  it("saves the gallery and the charts as SVG and PNG", async () => {
    await page.getByTestId("causal-unit").selectOption("e0#0");
    await expect.poll(() => page.getByTestId("causal-gallery").getByTestId("causal-thumb").count()).toBe(11);
    const [svg] = await Promise.all([page.waitForEvent("download"), page.getByTestId("causal-gallery-svg").click()]);
    expect(svg.suggestedFilename()).toBe(`session-${fx.causalSessionId}-causal-images.svg`);
    const text = readFileSync(await svg.path(), "utf8");
    expect(text).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(text.match(/<image /g)?.length).toBeGreaterThanOrEqual(11);
    expect(text).toContain("adversarial −");
    const [gpng] = await Promise.all([page.waitForEvent("download"), page.getByTestId("causal-gallery-png").click()]);
    expect(
      readFileSync(await gpng.path())
        .subarray(1, 4)
        .toString("latin1"),
    ).toBe("PNG");
    await gpng.saveAs(join(screenshots, "causal-04-gallery-export.png"));
    const [png] = await Promise.all([page.waitForEvent("download"), page.getByTestId("causal-scatter-png").click()]);
    expect(png.suggestedFilename()).toBe(`session-${fx.causalSessionId}-causal-measured-vs-predicted.png`);
    expect(
      readFileSync(await png.path())
        .subarray(1, 4)
        .toString("latin1"),
    ).toBe("PNG");
    await page.getByTestId("causal-gallery").screenshot({ path: join(screenshots, "causal-02-gallery-unit.png") });
    expect(problems, `responses of status 400 or more: ${failedRequests.join("; ") || "none"}`).toEqual([]);
  });
});
