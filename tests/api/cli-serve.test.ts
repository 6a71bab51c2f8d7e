import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, tempDir } from "../helpers/tmp.js";
import { quickStore } from "./fixture.js";

const cli = join(repoRoot, "bin", "cortexloop.js");
const tmp = tempDir("cortexloop-serve-");
const rendererDir = join(tmp.dir, "renderer");
let db: string;
let cleanupStore: () => void;

beforeAll(async () => {
  const fx = await quickStore();
  db = fx.store.file;
  fx.store.close();
  cleanupStore = fx.cleanup;
  mkdirSync(rendererDir);
  writeFileSync(join(rendererDir, "index.html"), "<!doctype html>");
});
afterAll(() => {
  cleanupStore?.();
  tmp.cleanup();
});

describe("cortexloop serve", () => {
  it("prints a loopback URL with a token, serves the API, and stops cleanly on SIGTERM", async () => {
    const child = spawn(process.execPath, [cli, "serve", "--db", db, "--port", "0", "--renderer-dir", rendererDir], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`no URL printed; stderr: ${stderr}`)), 20_000);
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          if (out.includes("\n")) {
            clearTimeout(timer);
            resolve(out.split("\n")[0]);
          }
        });
      });
      const m = /^(http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]{40,})$/.exec(line);
      expect(m, line).not.toBeNull();
      const [, base, token] = m as RegExpExecArray;
      const ok = await fetch(`${base}/api/listSessions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: "{}",
      });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { value: unknown[] }).value).toHaveLength(1);
      const denied = await fetch(`${base}/api/listSessions`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
      expect(denied.status).toBe(401);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: stopping the server/);
  });

  it("refuses a bad port and a missing database without starting", async () => {
    const run = promisify(execFile);
    const fail = (args: string[]): Promise<{ code?: number; stderr?: string }> =>
      run(process.execPath, [cli, "serve", ...args], { cwd: repoRoot }).then(
        () => ({ code: 0 }),
        (e: { code?: number; stderr?: string }) => e,
      );
    const port = await fail(["--db", db, "--port", "http"]);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--port must be a whole number/);
    const missing = await fail(["--db", join(tmp.dir, "nope.db"), "--renderer-dir", rendererDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No database at .*nope\.db/);
  });
});
