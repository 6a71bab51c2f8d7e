/**
 * Replay and dry-run jobs as child processes, without a browser: a cancelled run ends its session cleanly with what
 * it recorded, a second run while one runs is refused, and a run on a rig that is not there fails at its pre-flight
 * and records nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { builtinProtocolsDir } from "../../src/main/paths.js";
import { simRigPorts } from "../../src/main/rig/ports.js";
import { SessionStore } from "../../src/main/store/index.js";
import { TechJobError } from "../../src/main/tech/jobs.js";
import { TechService } from "../../src/main/tech/service.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-tech-jobs-");
const db = join(tmp.dir, "lab.db");
let store: SessionStore;
let tech: TechService;
const demo = `file:${join(builtinProtocolsDir, "demo.json")}`;

beforeAll(async () => {
  SessionStore.open(db).close();
  // The lab's rig, not running: nothing listens on its ports.
  const { dataPort, eventsPort, displayPort } = await simRigPorts();
  const rig = JSON.parse(readFileSync(join(builtinProtocolsDir, "rigs", "sim-network.json"), "utf8")) as Record<
    string,
    Record<string, unknown>
  >;
  rig.acquisition!.dataPort = dataPort;
  rig.eventCodes = { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort };
  rig.display = { kind: "virtual", endpoint: `tcp://127.0.0.1:${displayPort}` };
  const rigFile = join(tmp.dir, "rig.json");
  writeFileSync(rigFile, JSON.stringify(rig));
  store = SessionStore.open(db, { readonly: true });
  tech = new TechService({ db, protocolDirs: [builtinProtocolsDir], rigFile, allowRuns: true }, store);
});

afterAll(async () => {
  await tech?.close();
  store?.close();
  tmp.cleanup();
}, 60_000);

describe("tech jobs", () => {
  it("cancels a dry run: the session ends interrupted with what it recorded; one run at a time", async () => {
    const job = await tech.start(store, { kind: "dry-run", protocol: demo, rig: "sim" });
    expect(job).toMatchObject({ kind: "dry-run", state: "starting", total: 38, done: 0 });
    await expect(tech.start(store, { kind: "dry-run", protocol: demo, rig: "sim" })).rejects.toThrow(TechJobError);
    const deadline = Date.now() + 90_000;
    while (tech.list()[0]!.done < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    tech.cancel(job.id);
    const end = await tech.settled(job.id);
    expect(end.state).toBe("cancelled");
    expect(end.sessionId).not.toBeNull();
    const session = store.listSessions().find((s) => s.id === end.sessionId)!;
    expect(session.state).toBe("interrupted");
    expect(session.presentations).toBeGreaterThanOrEqual(5);
    expect(session.presentations).toBeLessThan(38);
    expect(store.countResults(session.id).filter((r) => r.complete).length).toBeGreaterThanOrEqual(end.done);
    expect(() => tech.cancel(job.id)).toThrow(/already ended/);
  }, 120_000);

  it("fails a run on a stopped rig at its pre-flight, naming the failed checks; nothing recorded", async () => {
    const before = store.listSessions().length;
    const job = await tech.start(store, { kind: "dry-run", protocol: demo, rig: "configured" });
    const end = await tech.settled(job.id);
    expect(end.state).toBe("failed");
    expect(end.message).toMatch(/^Pre-flight failed, so the session was not started/);
    expect(end.message).toContain("nothing listens on");
    expect(end.message).toContain("did not answer IsAcquiring");
    expect(end.sessionId).toBeNull();
    expect(store.listSessions().length).toBe(before);
  }, 120_000);
});
