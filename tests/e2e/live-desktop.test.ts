/**
 * The desktop's Live view in Chromium, without Electron (its binary is not available here): the page gets the
 * bridge the preload gives the desktop renderer (`window.cortexloop`, each channel answered by the IPC guard over a
 * store on the same database, as the main process does), so it runs the desktop's code path: it finds the record a
 * real `run --serve` child writes beside the database, attaches to that session's WebSocket, shows its counts
 * arriving, pauses and resumes it from the page, and says no session runs once the child has ended. (The page is
 * loaded from the child's own server, as Chromium cannot serve cortexloop://app; tests/api/live-attach.test.ts checks
 * the server admits that origin.) Screenshots: artifacts/screenshots/live-desktop-*.png (git-ignored).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { channelNames } from "../../src/main/api/channels.js";
import { guardIpcCall, rendererOrigin } from "../../src/main/api/ipc-guard.js";
import { readLiveEndpoint } from "../../src/main/live/endpoint-file.js";
import { SessionStore } from "../../src/main/store/index.js";
import {
  basicChromiumArgs,
  ensureRenderer,
  hasChromium,
  launchChromium,
  skipWithoutChromium,
} from "../helpers/browser.js";
import { repoRoot, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

skipWithoutChromium("tests/e2e/live-desktop.test.ts");

const screenshots = join(repoRoot, "artifacts", "screenshots");

const tmp = tempDir("cortexloop-live-desktop-");
const db = join(tmp.dir, "lab.db");

describe.skipIf(!hasChromium)("desktop Live view in Chromium", () => {
  let context: BrowserContext;
  let page: Page;
  let child: ChildProcess | undefined;
  let store: SessionStore | undefined;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    await ensureRenderer();
    SessionStore.open(db).close();
    store = SessionStore.open(db, { readonly: true });
    context = await launchChromium(join(tmp.dir, "profile"), basicChromiumArgs);
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    // The preload's bridge: every channel goes to the main process's IPC guard (our own renderer's frame).
    await page.exposeFunction("cortexloopIpc", (channel: unknown, request: unknown) =>
      guardIpcCall(store!, { senderUrl: `${rendererOrigin}/index.html`, isMainFrame: true, channel, request }),
    );
    await page.addInitScript((names: readonly string[]) => {
      const w = window as unknown as Record<string, unknown> & {
        cortexloopIpc: (c: string, r: unknown) => Promise<unknown>;
      };
      w.cortexloop = Object.freeze(
        Object.fromEntries(names.map((n) => [n, (request: unknown) => w.cortexloopIpc(n, request)])),
      );
    }, channelNames);
  }, 180_000);

  afterAll(async () => {
    child?.kill("SIGTERM");
    await context?.close();
    store?.close();
    tmp.cleanup();
  });

  it("attaches to a run --serve child on the same database, controls it, and says so when it has ended", async () => {
    const protocol = writeQuickProtocol(tmp.dir, { count: 10, repeats: 3, stimulusMs: 100, interStimulusMs: 100 });
    child = spawn(process.execPath, [join(repoRoot, "bin", "cortexloop.js"), "run", protocol, "--db", db, "--serve"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));
    await expect.poll(() => readLiveEndpoint(db).state, { timeout: 30_000 }).toBe("running");
    const found = readLiveEndpoint(db);
    if (found.state !== "running") throw new Error(stderr);

    // No token in the address: the page finds the session through the desktop bridge alone.
    await page.goto(`${found.record.url}/#/live`);
    const desktop = page.getByTestId("live-desktop");
    await desktop.waitFor();
    await expect.poll(() => desktop.getAttribute("data-attached"), { timeout: 15_000 }).toBe(found.record.url);
    const phase = page.getByTestId("live-phase");
    const committed = page.getByTestId("live-committed");
    const count = async (): Promise<number> => Number(await committed.getAttribute("data-committed"));
    await expect.poll(() => phase.getAttribute("data-phase"), { timeout: 30_000 }).toBe("running");
    await expect.poll(count, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    const first = await count();
    await expect.poll(count, { timeout: 10_000 }).toBeGreaterThan(first);
    expect(await page.getByTestId("live-unit").count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(screenshots, "live-desktop-attached.png"), fullPage: true });

    // The controls act on the attached session (over its socket, not the desktop's own controller).
    await page.getByTestId("live-pause").click();
    await expect.poll(() => phase.getAttribute("data-phase"), { timeout: 10_000 }).toBe("paused");
    expect(await page.getByTestId("live-pause-reason").textContent()).toContain("operator");
    await page.getByTestId("live-resume").click();
    await expect.poll(() => phase.getAttribute("data-phase"), { timeout: 10_000 }).not.toBe("paused");
    await expect.poll(() => phase.getAttribute("data-phase"), { timeout: 60_000 }).toBe("ended");
    expect(await page.getByTestId("live-ended").textContent()).toContain("60 of 60 presented");

    expect(await exited, stderr).toBe(0);
    expect(existsSync(`${db}.live.json`)).toBe(false);
    // The record is gone: the page says no session runs and keeps looking; the last state stays shown.
    const lookup = page.getByTestId("live-desktop-lookup");
    await expect.poll(() => lookup.textContent(), { timeout: 20_000 }).toContain("No session runs with --serve");
    expect(await lookup.textContent()).toContain("Looking again every 3 s");
    expect(await phase.getAttribute("data-phase")).toBe("ended");
    await page.screenshot({ path: join(screenshots, "live-desktop-ended.png"), fullPage: true });
    expect(problems).toEqual([]);
  }, 180_000);
});
