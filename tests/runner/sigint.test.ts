import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SessionStore } from "../../src/main/store/index.js";
import { repoRoot, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe("command line", () => {
  it("Ctrl-C ends a session cleanly: state interrupted, exit 0, everything so far saved", async () => {
    const protocol = writeQuickProtocol(tmp.dir, { count: 20, repeats: 30 });
    const db = join(tmp.dir, "sigint.db");
    const child = spawn(
      process.execPath,
      [join(repoRoot, "bin", "cortexloop.js"), "run", protocol, "--db", db, "--print-stored"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    let sent = false;
    child.stdout.on("data", () => {
      if (!sent) {
        sent = true;
        setTimeout(() => child.kill("SIGINT"), 300);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).toContain("ending the session cleanly");
    const store = SessionStore.open(db);
    try {
      const [s] = store.listSessions();
      expect(s?.state).toBe("interrupted");
      expect(s!.presentations).toBeGreaterThan(0);
      expect(store.countResults(s!.id)).toHaveLength(s!.presentations);
    } finally {
      store.close();
    }
  });

  it("a bad protocol file exits 1 with the message and stores nothing", async () => {
    const db = join(tmp.dir, "bad.db");
    const child = spawn(
      process.execPath,
      [join(repoRoot, "bin", "cortexloop.js"), "run", join(repoRoot, "package.json"), "--db", db],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(1);
    expect(stderr).toContain("package.json is not a valid file");
    expect(stderr).toContain("$.blocks: expected array, found nothing");
    expect(existsSync(db)).toBe(false);
  });
});
