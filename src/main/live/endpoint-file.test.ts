import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { liveEndpointPath, processAlive, readLiveEndpoint, writeLiveEndpoint } from "./endpoint-file.js";

const dir = mkdtempSync(join(tmpdir(), "cortexloop-endpoint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A process id that has certainly ended: a child that already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

const endpoint = { url: "http://127.0.0.1:40123", token: "tok-abc", kind: "run" as const };

describe("live endpoint record", () => {
  it("is written beside the database with mode 0600, read back, and removed", () => {
    const db = join(dir, "a.db");
    expect(readLiveEndpoint(db).state).toBe("none");
    const handle = writeLiveEndpoint(db, endpoint);
    expect(handle?.file).toBe(`${db}.live.json`);
    expect(liveEndpointPath(db)).toBe(`${db}.live.json`);
    expect(statSync(`${db}.live.json`).mode & 0o777).toBe(0o600);
    // Atomic: no temporary file is left beside it.
    expect(readdirSync(dir).filter((f) => f.startsWith("a.db"))).toEqual(["a.db.live.json"]);
    const found = readLiveEndpoint(db);
    expect(found.state).toBe("running");
    if (found.state !== "running") return;
    expect(found.record).toMatchObject({ ...endpoint, pid: process.pid });
    expect(Date.parse(found.record.startedAt)).toBeGreaterThan(Date.now() - 60_000);
    handle!.remove();
    expect(existsSync(`${db}.live.json`)).toBe(false);
    handle!.remove();
    expect(readLiveEndpoint(db).state).toBe("none");
  });

  it("ignores a stale record (its process has ended) and replaces it", () => {
    const db = join(dir, "b.db");
    const pid = deadPid();
    expect(processAlive(pid)).toBe(false);
    const stale = { ...endpoint, pid, startedAt: "2026-01-01T00:00:00.000Z" };
    writeFileSync(`${db}.live.json`, JSON.stringify(stale));
    const read = readLiveEndpoint(db);
    expect(read.state).toBe("none");
    if (read.state === "none") expect(read.message).toContain(`process ${pid} is stale`);
    const handle = writeLiveEndpoint(db, { ...endpoint, url: "http://127.0.0.1:40999" });
    expect(handle).toBeDefined();
    const now = readLiveEndpoint(db);
    expect(now.state === "running" && now.record.url).toBe("http://127.0.0.1:40999");
    handle!.remove();
  });

  it("keeps another live process's record and does not remove a record that is not its own", () => {
    const db = join(dir, "c.db");
    const other = { ...endpoint, pid: process.ppid, startedAt: "2026-01-01T00:00:00.000Z" };
    writeFileSync(`${db}.live.json`, JSON.stringify(other));
    const lines: string[] = [];
    expect(writeLiveEndpoint(db, endpoint, (l) => lines.push(l))).toBeUndefined();
    expect(lines.join("\n")).toContain(`process ${process.ppid}`);
    expect(JSON.parse(readFileSync(`${db}.live.json`, "utf8"))).toEqual(other);
    // Ours, then replaced by another writer: removing ours leaves theirs.
    const db2 = join(dir, "d.db");
    const handle = writeLiveEndpoint(db2, endpoint)!;
    writeFileSync(`${db2}.live.json`, JSON.stringify(other));
    handle.remove();
    expect(existsSync(`${db2}.live.json`)).toBe(true);
  });

  it("reads a corrupt or foreign file as none, saying it was ignored", () => {
    const db = join(dir, "e.db");
    writeFileSync(`${db}.live.json`, "{not json");
    const a = readLiveEndpoint(db);
    expect(a.state === "none" && a.message).toContain("could not be read");
    writeFileSync(`${db}.live.json`, JSON.stringify({ url: "file:///etc", token: "x", pid: 1, startedAt: "t" }));
    const b = readLiveEndpoint(db);
    expect(b.state === "none" && b.message).toContain("not a live endpoint record");
    expect(readLiveEndpoint(":memory:").state).toBe("none");
  });

  it("is removed when the process exits without calling remove", () => {
    const db = join(dir, "f.db");
    const module = join(__dirname, "endpoint-file.ts");
    const script =
      `const m = await import(${JSON.stringify(module)}); ` +
      `m.writeLiveEndpoint(${JSON.stringify(db)}, ${JSON.stringify(endpoint)}); ` +
      `console.log(require("node:fs").existsSync(${JSON.stringify(`${db}.live.json`)}));`;
    const tsx = join(__dirname, "..", "..", "..", "node_modules", ".bin", "tsx");
    const out = spawnSync(tsx, ["-e", `(async () => { ${script} })()`], { encoding: "utf8" });
    expect(out.stdout.trim()).toBe("true");
    expect(existsSync(`${db}.live.json`)).toBe(false);
  });
});
