/**
 * End to end, the experimenter's live view in Chromium: `cortexloop run --serve` in its own process (a session on the
 * in-process rig); the page shows counts arriving while it runs (compared with the store), pauses and resumes it;
 * then a campaign's proposal approved from the page (the campaign's StoredApproval waiting on it). Screenshots go to
 * artifacts/screenshots/live-*.png (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { startServer, type RunningServer } from "../../src/main/api/server.js";
import { SessionStore } from "../../src/main/store/index.js";
import { StoredApproval } from "../../src/main/campaign/stored-approval.js";
import { LiveHub } from "../../src/main/live/hub.js";
import { liveProposal } from "../../src/main/live/campaign-events.js";
import { getProposal } from "../../src/main/store/proposals.js";
import {
  basicChromiumArgs,
  ensureRenderer,
  hasChromium,
  launchChromium,
  rendererDir,
  skipWithoutChromium,
} from "../helpers/browser.js";
import { repoRoot, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

skipWithoutChromium("tests/e2e/live.test.ts");

const screenshots = join(repoRoot, "artifacts", "screenshots");

/** Per unit (`electrode#sortedId`): presentations with complete counts and their summed counts, from the store. */
function storedUnitTotals(store: SessionStore, sessionId: number): Map<string, { n: number; sum: number }> {
  const rows = store.db
    .prepare(
      `SELECT u.electrode AS electrode, u.sorted_id AS sortedId, COUNT(DISTINCT c.presentation_idx) AS n,
        SUM(c.count) AS sum
       FROM spike_counts c
       JOIN units u ON u.id = c.unit_id
       JOIN count_results r ON r.session_id = c.session_id AND r.presentation_idx = c.presentation_idx
       WHERE c.session_id = ? AND r.complete = 1
       GROUP BY u.id`,
    )
    .all(sessionId) as { electrode: string; sortedId: number; n: number; sum: number }[];
  return new Map(rows.map((r) => [`${r.electrode}#${r.sortedId}`, { n: r.n, sum: r.sum }]));
}

const tmp = tempDir("cortexloop-live-e2e-");
const db = join(tmp.dir, "lab.db");

describe.skipIf(!hasChromium)("live view in Chromium", () => {
  let context: BrowserContext;
  let page: Page;
  let child: ChildProcess | undefined;
  const problems: string[] = [];
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(screenshots, name), fullPage: true });

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    await ensureRenderer();
    context = await launchChromium(join(tmp.dir, "profile"), basicChromiumArgs);
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  }, 180_000);

  afterAll(async () => {
    child?.kill("SIGTERM");
    await context?.close();
    tmp.cleanup();
  });

  it("run --serve: counts arrive while it runs; pause and resume from the page; totals match the store", async () => {
    // 20 images × 3 repeats at a 200 ms cycle: about 12 s, time to watch, pause and resume.
    const protocol = writeQuickProtocol(tmp.dir, { count: 10, repeats: 3, stimulusMs: 100, interStimulusMs: 100 });
    child = spawn(process.execPath, [join(repoRoot, "bin", "cortexloop.js"), "run", protocol, "--db", db, "--serve"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child!.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /^live-view (\S+)$/m.exec(out);
        if (m !== null) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`run exited ${code} before serving: ${stderr}`)));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#\/live&token=/);
    await page.goto(url);
    const view = page.getByTestId("live-view");
    await view.waitFor();
    // The token left the address bar; the view stayed.
    await expect.poll(() => page.url()).toMatch(/#\/live$/);
    const phase = page.getByTestId("live-phase");
    const committed = page.getByTestId("live-committed");
    const count = async (): Promise<number> => Number(await committed.getAttribute("data-committed"));
    await expect.poll(() => phase.getAttribute("data-phase"), { timeout: 30_000 }).toBe("running");
    await expect.poll(count, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    const first = await count();
    // More arrive while it runs: pushed, the page asks for nothing.
    await expect.poll(count, { timeout: 10_000 }).toBeGreaterThan(first);
    expect(Number(await view.getAttribute("data-batches"))).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId("live-unit").count()).toBeGreaterThan(0);
    await page.getByTestId("stimulus-thumb").first().waitFor();
    await shot("live-01-running.png");

    await page.getByTestId("live-pause").click();
    await expect.poll(() => phase.getAttribute("data-phase"), { timeout: 10_000 }).toBe("paused");
    const progress = page.getByTestId("live-progress");
    const pausedAt = Number(await progress.getAttribute("data-n"));
    await page.waitForTimeout(1500);
    expect(Number(await progress.getAttribute("data-n"))).toBe(pausedAt);
    expect(await page.getByTestId("live-pause-reason").textContent()).toContain("operator");
    // The store says so too, and holds every presentation shown so far.
    const reader = SessionStore.open(db, { readonly: true });
    try {
      const session = reader.listSessions()[0]!;
      expect(reader.sessionEvents(session.id).map((e) => e.kind)).toContain("paused");
      expect(reader.presentations(session.id)).toHaveLength(pausedAt);
    } finally {
      reader.close();
    }
    await shot("live-02-paused.png");

    await page.getByTestId("live-resume").click();
    await expect.poll(() => phase.getAttribute("data-phase"), { timeout: 10_000 }).not.toBe("paused");
    await expect
      .poll(async () => Number(await progress.getAttribute("data-n")), { timeout: 10_000 })
      .toBeGreaterThan(pausedAt);
    await expect.poll(() => phase.getAttribute("data-phase"), { timeout: 60_000 }).toBe("ended");
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/completed; 60\/60 presented/);
    await shot("live-03-ended.png");

    // What the page shows is what the store holds: per unit, complete presentations and summed counts.
    const store = SessionStore.open(db, { readonly: true });
    try {
      const session = store.listSessions()[0]!;
      expect(store.sessionEvents(session.id).map((e) => e.kind)).toEqual(
        expect.arrayContaining(["paused", "resumed", "completed"]),
      );
      const stored = storedUnitTotals(store, session.id);
      const rows = page.getByTestId("live-unit");
      const shown = new Map<string, { n: number; sum: number }>();
      for (let i = 0; i < (await rows.count()); i++) {
        const r = rows.nth(i);
        shown.set((await r.getAttribute("data-unit"))!, {
          n: Number(await r.getAttribute("data-n")),
          sum: Number(await r.getAttribute("data-sum")),
        });
      }
      expect(shown.size).toBe(stored.size);
      expect(shown).toEqual(stored);
      expect(await count()).toBe(store.countResults(session.id).length);
    } finally {
      store.close();
    }
    child = undefined;
    // The controller ended with its session: the page's reconnect attempts fail, as they should, and say so.
    await page.goto("about:blank");
    expect(problems.filter((p) => !/WebSocket connection .*ERR_CONNECTION_REFUSED/.test(p))).toEqual([]);
    problems.length = 0;
  }, 150_000);

  it("a campaign's proposal is approved from the page", async () => {
    const store = SessionStore.open(db);
    const hub = new LiveHub();
    const stored = new StoredApproval(store, { onProposal: (row) => hub.publish(liveProposal(row)) });
    let server: RunningServer | undefined;
    try {
      server = await startServer({ store, rendererDir, port: 0, context: { proposals: stored, live: hub } });
      const session = store.listSessions()[0]!;
      const stimuli = [...new Set(store.presentations(session.id).map((p) => p.stimulusSha256))].slice(0, 12);
      const decided = stored.approve({
        label: "live test",
        session: 2,
        protocolFile: join(tmp.dir, "session-2.json"),
        description: "12 images chosen by the ensemble's disagreement",
        blocks: [{ name: "active", images: 12, repeats: 2 }],
        presentations: 24,
        modelVersionId: undefined,
        protocolText: "{}",
        stimuli,
      });
      await page.goto(`${server.url}/#/live&token=${server.token}`);
      const proposal = page.getByTestId("live-proposal");
      await proposal.waitFor({ timeout: 15_000 });
      expect(await proposal.locator("figure").count()).toBe(12);
      await expect.poll(() => proposal.getByTestId("stimulus-thumb").count(), { timeout: 30_000 }).toBe(12);
      await shot("live-04-proposal.png");
      await page.getByTestId("live-approve").click();
      expect(await decided).toBe(true);
      const id = Number(await proposal.getAttribute("data-proposal"));
      expect(getProposal(store.db, id)?.decision).toMatchObject({ decision: "approved", via: "web" });
      await expect.poll(() => page.getByTestId("live-decision").textContent()).toContain("approved");
      await shot("live-05-approved.png");
      // That proposal carried no predictions (as before the designer stored them); the next one carries them: each
      // image shows its predicted response under it, by block, with the disagreement of active learning's picks.
      expect(await proposal.textContent()).toContain("carries no predicted responses");
      const predicted = (i: number): number => Math.round((i - 5.5) * 100) / 100;
      const next = stored.approve({
        label: "live test",
        session: 3,
        protocolFile: join(tmp.dir, "session-3.json"),
        description: "4 test images and 8 chosen by the ensemble's disagreement",
        blocks: [
          { name: "test", images: 4, repeats: 2 },
          { name: "active-learning", images: 8, repeats: 1 },
        ],
        presentations: 16,
        modelVersionId: undefined,
        protocolText: "{}",
        stimuli,
        predictions: {
          modelVersionId: null,
          readouts: ["session 1"],
          units: 3,
          members: 2,
          scale: "z-scored",
          images: stimuli.map((sha, i) => ({
            block: i < 4 ? "test" : "active-learning",
            sha256: sha,
            predicted: predicted(i),
            ...(i < 4 ? {} : { disagreement: i / 10 }),
          })),
        },
      });
      await expect.poll(() => proposal.getAttribute("data-proposal")).not.toBe(String(id));
      const blocks = proposal.getByTestId("live-proposal-block");
      expect(await blocks.evaluateAll((els) => els.map((e) => e.getAttribute("data-block")))).toEqual([
        "test",
        "active-learning",
      ]);
      const captions = await proposal.getByTestId("live-predicted").allTextContents();
      expect(captions.length).toBe(12);
      expect(captions.map((c) => Number(c.split(" ")[0]))).toEqual(stimuli.map((_, i) => predicted(i)));
      expect(await proposal.getByTestId("live-disagreement").count()).toBe(8);
      await shot("live-06-predictions.png");
      await page.getByTestId("live-decline").click();
      expect(await next).toBe(false);
      expect(problems).toEqual([]);
    } finally {
      // A failed run must not leave the approval waiting on a closed database.
      const waiting = stored.pending();
      if (waiting !== undefined && waiting.decision === null) stored.decide(waiting.id, "declined", "program");
      await server?.close();
      await new Promise((r) => setTimeout(r, 300));
      store.close();
    }
  }, 90_000);
});
