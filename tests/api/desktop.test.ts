import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { parseDesktopOptions } from "../../src/main/electron/options.js";
import { repoRoot } from "../helpers/tmp.js";

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : /\.(ts|tsx|mts)$/.test(name) ? [p] : [];
  });
}

describe("desktop shell boundaries", () => {
  it("only src/main/electron imports electron", () => {
    const offenders = sourceFiles(join(repoRoot, "src"))
      .filter((f) => !relative(repoRoot, f).startsWith(join("src", "main", "electron")))
      .filter((f) =>
        /from\s+["']electron["']|require\(\s*["']electron["']\s*\)|import\(\s*["']electron["']\s*\)/.test(
          readFileSync(f, "utf8"),
        ),
      );
    expect(offenders.map((f) => relative(repoRoot, f))).toEqual([]);
  });

  it("the renderer imports only types from the controller, apart from the dependency-free channel list", () => {
    for (const f of sourceFiles(join(repoRoot, "src", "renderer"))) {
      for (const m of readFileSync(f, "utf8").matchAll(/^import\s+(type\s+)?[^;]*?from\s+"(\.\.\/main\/[^"]+)"/gm)) {
        if (m[1] === undefined) expect(m[2], relative(repoRoot, f)).toBe("../main/api/channels.js");
      }
    }
  });

  it("the preload exposes the contract through contextBridge, never ipcRenderer itself", () => {
    const preload = readFileSync(join(repoRoot, "src", "main", "electron", "preload.ts"), "utf8");
    expect(preload).toMatch(/contextBridge\.exposeInMainWorld\("cortexloop"/);
    expect(preload).not.toMatch(/exposeInMainWorld\([^)]*ipcRenderer\s*\)/);
    const main = readFileSync(join(repoRoot, "src", "main", "electron", "main.ts"), "utf8");
    for (const setting of [
      "contextIsolation: true",
      "sandbox: true",
      "nodeIntegration: false",
      "will-navigate",
      "setWindowOpenHandler",
      'action: "deny"',
      "guardIpcCall",
    ]) {
      expect(main, setting).toContain(setting);
    }
  });
});

describe("desktop options", () => {
  it("reads --db in both spellings, else CORTEXLOOP_DB", () => {
    expect(parseDesktopOptions(["/app", "--db", "/x/lab.db"], {}).db).toBe("/x/lab.db");
    expect(parseDesktopOptions(["--db=/y.db"], { CORTEXLOOP_DB: "/z.db" }).db).toBe("/y.db");
    expect(parseDesktopOptions([], { CORTEXLOOP_DB: "/z.db" }).db).toBe("/z.db");
    expect(parseDesktopOptions(["--db"], {}).db).toBeUndefined();
  });

  it("accepts a dev server URL only on loopback http", () => {
    expect(parseDesktopOptions([], { CORTEXLOOP_DEV_URL: "http://localhost:5173/" }).devServerUrl).toBe(
      "http://localhost:5173",
    );
    expect(parseDesktopOptions([], { CORTEXLOOP_DEV_URL: "https://evil.example" }).devServerUrl).toBeUndefined();
    expect(parseDesktopOptions([], { CORTEXLOOP_DEV_URL: "http://192.168.1.4:5173" }).devServerUrl).toBeUndefined();
    expect(parseDesktopOptions([], { CORTEXLOOP_DEV_URL: "::" }).devServerUrl).toBeUndefined();
  });
});

const electronInstalled = existsSync(join(repoRoot, "node_modules", "electron", "path.txt"));

describe.skipIf(electronInstalled)("npm start without Electron's binary", () => {
  it("builds, then exits 1 with what to do instead (no stack trace)", async () => {
    const run = promisify(execFile);
    const err = await run(process.execPath, [join(repoRoot, "scripts", "start-desktop.mjs"), "--no-download"], {
      cwd: repoRoot,
      timeout: 60_000,
      env: { ...process.env, CORTEXLOOP_SKIP_RENDERER_BUILD: "1" },
    }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/Electron's binary is not installed/);
    expect(err?.stderr).toMatch(/cortexloop serve --db <file>/);
    expect(err?.stderr).toMatch(/ELECTRON_MIRROR/);
    expect(err?.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(existsSync(join(repoRoot, "dist", "main", "electron", "main.js"))).toBe(true);
    expect(readFileSync(join(repoRoot, "dist", "main", "electron", "preload.cjs"), "utf8")).toMatch(
      /require\("electron"\)/,
    );
  });
});
