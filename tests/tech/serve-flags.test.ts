/** `cortexloop serve`'s tech view flags, through the real command: what it refuses, and what it then serves. */
import { afterAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { repoRoot, tempDir } from "../helpers/tmp.js";

const cli = join(repoRoot, "bin", "cortexloop.js");
const tmp = tempDir("cortexloop-serve-flags-");
afterAll(() => tmp.cleanup());
// serve needs a built renderer to start; these tests only speak to its API, so a stub page does.
const rendererDir = join(tmp.dir, "renderer");
mkdirSync(rendererDir);
writeFileSync(join(rendererDir, "index.html"), "<!doctype html><title>stub</title>");

async function refused(args: string[]): Promise<string> {
  try {
    await promisify(execFile)(process.execPath, [cli, "serve", "--renderer-dir", rendererDir, ...args], {
      cwd: repoRoot,
      timeout: 60_000,
    });
  } catch (err) {
    return (err as { stderr: string }).stderr;
  }
  throw new Error("serve started");
}

describe("cortexloop serve --rig / --protocols / --allow-runs", () => {
  it("refuses a rig file that does not parse and a protocols folder that is not there, starting nothing", async () => {
    const db = join(tmp.dir, "a.db");
    const rig = join(tmp.dir, "bad-rig.json");
    writeFileSync(rig, JSON.stringify({ name: "x", acquisition: { format: "nope" } }));
    expect(await refused(["--db", db, "--rig", rig, "--allow-runs"])).toContain("$.acquisition.format");
    expect(await refused(["--db", db, "--protocols", join(tmp.dir, "nowhere")])).toContain("no such folder");
    expect(existsSync(db)).toBe(false);
  }, 120_000);

  it("with --allow-runs makes a new database and says runs are allowed over the API", async () => {
    const db = join(tmp.dir, "new.db");
    const child = spawn(
      process.execPath,
      [cli, "serve", "--renderer-dir", rendererDir, "--db", db, "--allow-runs", "--protocols", tmp.dir],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once("line", resolve);
        child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const { origin, hash } = new URL(url);
      const res = await fetch(`${origin}/api/techConfig`, {
        method: "POST",
        headers: { Authorization: `Bearer ${hash.slice("#token=".length)}`, "Content-Type": "application/json" },
        body: "{}",
      });
      const reply = (await res.json()) as { ok: boolean; value: { allowRuns: boolean; protocolDirs: string[] } };
      expect(reply.ok).toBe(true);
      expect(reply.value.allowRuns).toBe(true);
      expect(reply.value.protocolDirs).toEqual([join(repoRoot, "protocols"), tmp.dir]);
      expect(existsSync(db)).toBe(true);
    } finally {
      child.kill("SIGTERM");
    }
  }, 120_000);
});
