/** Chromium for the UI tests: where it is, how it starts, and a renderer build no older than its sources. */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { repoRoot } from "./tmp.js";

export const chromiumPath = process.env.CORTEXLOOP_CHROMIUM ?? "/usr/bin/chromium";
export const hasChromium = existsSync(chromiumPath);
export const rendererDir = join(repoRoot, "dist-renderer");

/**
 * Says on the console that `testFile` (or the part of it named by `skipped`) does not run here, when there is no
 * Chromium; call it at the top of a test file whose browser suite is `describe.skipIf(!hasChromium)`.
 */
export function skipWithoutChromium(testFile: string, skipped = "skipping"): void {
  if (hasChromium) return;
  console.warn(
    `${testFile}: ${skipped}: no Chromium at ${chromiumPath} ` +
      "(apt-get install -y chromium, or set CORTEXLOOP_CHROMIUM).",
  );
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the renderer when dist-renderer is missing or older than its sources. */
export async function ensureRenderer(): Promise<void> {
  const index = join(rendererDir, "index.html");
  if (existsSync(index) && statSync(index).mtimeMs >= newestMtime(join(repoRoot, "src", "renderer"))) return;
  const { build } = await import("vite");
  await build({ configFile: join(repoRoot, "vite.config.ts"), logLevel: "warn" });
}

/** The flags every UI test starts Chromium with. */
export const basicChromiumArgs: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
];

/** The basic flags and no QUIC, component updates or sync: nothing reaches out while the review is driven. */
export const chromiumArgs: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Headless Chromium with downloads allowed, in a throwaway profile folder, started with `args`. */
export function launchChromium(profileDir: string, args: readonly string[] = chromiumArgs): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1360, height: 900 },
    args: [...args],
  });
}
