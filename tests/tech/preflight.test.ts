/**
 * The pre-flight checks against real sockets, ports and files: a ZeroMQ PUB and REP, a plain TCP server that is not
 * ZeroMQ, a port with nothing on it, an emulated Network Events plugin, a serial pty pair, a locked database.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { ReadlineParser, SerialPort } from "serialport";
import { Publisher, Reply } from "zeromq";
import { eventBoxIdentity } from "../../src/main/rig/serial-eventbox.js";
import {
  checkDatabase,
  checkDataPort,
  checkDataStream,
  checkDisplayEndpoint,
  checkWindowCalibration,
  checkDiskSpace,
  checkHeartbeat,
  checkNetworkEvents,
  checkSerialEventBox,
  formatPreflight,
  runPreflight,
} from "../../src/main/tech/preflight.js";
import { loadRigFile } from "../../src/main/protocol/index.js";
import { inProcessRigFile } from "../helpers/tmp.js";
import { freePorts, PtyPair, socatAvailable, tempDir } from "../rig/helpers.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tcpServer(onConnection: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    onConnection(socket);
  });
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

/** A REP that answers each request with `answer(request)` (or never, when it returns undefined). */
async function replier(answer: (request: string) => string | undefined): Promise<{ port: number; seen: string[] }> {
  const port = await freePorts(1);
  const rep = new Reply({ linger: 0 });
  await rep.bind(`tcp://127.0.0.1:${port}`);
  const seen: string[] = [];
  let open = true;
  cleanups.push(() => {
    open = false;
    rep.close();
  });
  void (async () => {
    try {
      while (open) {
        const [msg] = await rep.receive();
        const text = msg!.toString("utf8");
        seen.push(text);
        const reply = answer(text);
        if (reply === undefined) return;
        await rep.send(reply);
      }
    } catch {
      // closed
    }
  })();
  return { port, seen };
}

describe("data port", () => {
  it("fails when nothing listens, saying so", async () => {
    const port = await freePorts(1);
    const r = await checkDataPort("127.0.0.1", port, 1000);
    expect(r.status).toBe("fail");
    expect(r.detail).toContain(`nothing listens on tcp://127.0.0.1:${port}`);
  });

  it("fails on a port held by a program that is not ZeroMQ (it answers otherwise, or not at all)", async () => {
    const http = await tcpServer((s) => s.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    const talker = await checkDataPort("127.0.0.1", http, 1000);
    expect(talker.status).toBe("fail");
    expect(talker.detail).toContain("not as ZeroMQ does");
    const silent = await tcpServer(() => {});
    const mute = await checkDataPort("127.0.0.1", silent, 400);
    expect(mute.status).toBe("fail");
    expect(mute.detail).toContain("sent no ZeroMQ greeting");
  });

  it("passes on a ZeroMQ PUB, and counts what it publishes (or warns when it publishes nothing)", async () => {
    const port = await freePorts(1);
    const pub = new Publisher({ linger: 0 });
    await pub.bind(`tcp://127.0.0.1:${port}`);
    cleanups.push(() => pub.close());
    const r = await checkDataPort("127.0.0.1", port, 1000);
    expect(r).toEqual({ status: "pass", detail: `tcp://127.0.0.1:${port} is a ZeroMQ socket (ZMTP 3 greeting)` });
    const quiet = await checkDataStream("127.0.0.1", port, 400);
    expect(quiet.status).toBe("warn");
    expect(quiet.detail).toContain("no message");
    const timer = setInterval(() => void pub.send(["DATA\0", "{}", Buffer.alloc(8)]).catch(() => {}), 20);
    cleanups.push(() => clearInterval(timer));
    const flowing = await checkDataStream("127.0.0.1", port, 600);
    expect(flowing.status).toBe("pass");
    expect(flowing.detail).toMatch(/^\d+ messages in 0\.6 s \(\d+ DATA\)$/);
  });
});

describe("heartbeat", () => {
  it("passes on the ZMQ Interface's answer to the heartbeat JSON", async () => {
    const rep = await replier(() => "heartbeat received");
    const r = await checkHeartbeat("127.0.0.1", rep.port, 1000);
    expect(r.status).toBe("pass");
    expect(JSON.parse(rep.seen[0]!)).toMatchObject({ type: "heartbeat" });
  });

  it("warns on another answer, fails on none", async () => {
    const odd = await replier(() => "pong");
    expect((await checkHeartbeat("127.0.0.1", odd.port, 1000)).status).toBe("warn");
    const mute = await replier(() => undefined);
    const r = await checkHeartbeat("127.0.0.1", mute.port, 300);
    expect(r.status).toBe("fail");
    expect(r.detail).toContain("no heartbeat answer");
    const nobody = await freePorts(1);
    expect((await checkHeartbeat("127.0.0.1", nobody, 300)).status).toBe("fail");
  });
});

describe("Network Events", () => {
  /** The plugin's answers (RIG_PROTOCOL.md section 2): IsAcquiring, and TTL commands confirmed line by line. */
  const plugin = (acquiring: "1" | "0") => (request: string) => {
    if (request === "IsAcquiring") return acquiring;
    const m = /^TTL Line=(\d+) State=([01])$/.exec(request);
    return m ? `TTLHandled: Line=${m[1]} State=${m[2]}` : "NotHandled";
  };

  it("passes when the GUI acquires and takes the line commands", async () => {
    const rep = await replier(plugin("1"));
    const r = await checkNetworkEvents("127.0.0.1", rep.port, 1000);
    expect(r.status).toBe("pass");
    expect(rep.seen[0]).toBe("IsAcquiring");
    expect(rep.seen).toContain("TTL Line=17 State=0");
  });

  it("fails when the GUI is not acquiring, or nothing answers, saying which", async () => {
    const idle = await replier(plugin("0"));
    const r = await checkNetworkEvents("127.0.0.1", idle.port, 1000);
    expect(r.status).toBe("fail");
    expect(r.detail).toContain("not acquiring");
    const nobody = await freePorts(1);
    const gone = await checkNetworkEvents("127.0.0.1", nobody, 300);
    expect(gone.status).toBe("fail");
    expect(gone.detail).toContain("did not answer IsAcquiring");
  });
});

describe.skipIf(!socatAvailable)("serial event box", () => {
  async function pair(): Promise<PtyPair> {
    const dir = tempDir("preflight-pty");
    const p = new PtyPair(join(dir, "controller"), join(dir, "rig"));
    await p.start();
    cleanups.push(() => p.stop());
    return p;
  }

  it('passes when the box answers "?" with its firmware name, fails when it is silent or absent', async () => {
    const p = await pair();
    const box = new SerialPort({ path: p.rigPath, baudRate: 115200 });
    cleanups.push(() => new Promise((r) => (box.isOpen ? box.close(r) : r(undefined))));
    const lines = box.pipe(new ReadlineParser({ delimiter: "\n" }));
    let answer = true;
    lines.on("data", (line: string) => {
      if (answer && line.trim() === "?") box.write(`${eventBoxIdentity}\n`);
    });
    await new Promise((r) => box.once("open", r));
    const ok = await checkSerialEventBox(p.controllerPath, 115200, 1000);
    expect(ok).toEqual({ status: "pass", detail: `${p.controllerPath} answered "?" with "${eventBoxIdentity}"` });
    answer = false;
    const silent = await checkSerialEventBox(p.controllerPath, 115200, 300);
    expect(silent.status).toBe("fail");
    expect(silent.detail).toContain("No event box answered");
    const absent = await checkSerialEventBox(join(tempDir("no-port"), "ttyUSB9"), 115200, 300);
    expect(absent.status).toBe("fail");
    expect(absent.detail).toContain("no serial port at");
  });
});

describe("display", () => {
  it("a virtual display's endpoint: free passes, taken fails", async () => {
    const port = await freePorts(1);
    expect(await checkDisplayEndpoint(`tcp://127.0.0.1:${port}`)).toMatchObject({ status: "pass" });
    const taken = await tcpServer(() => {});
    const r = await checkDisplayEndpoint(`tcp://127.0.0.1:${taken}`);
    expect(r.status).toBe("fail");
    expect(r.detail).toContain("is taken");
  });

  it("a window display's calibration through the display pre-flight: missing or old warns, recent passes", () => {
    const fit = { gamma: 2.2, black: 0.5, white: 100, rmse: 0 };
    const display = { kind: "window" as const };
    const now = new Date("2026-06-01T00:00:00Z");
    expect(checkWindowCalibration(display, now)).toMatchObject({ status: "warn", detail: /^uncalibrated: / });
    const old = { ...display, calibration: { red: fit, green: fit, blue: fit, date: "2026-01-01" } };
    expect(checkWindowCalibration(old, now)).toMatchObject({ status: "warn", detail: /^calibration-old: / });
    const recent = { ...display, calibration: { red: fit, green: fit, blue: fit, date: "2026-05-20" } };
    expect(checkWindowCalibration(recent, now)).toMatchObject({ status: "pass", detail: /^calibrated on 2026-05-20/ });
  });
});

describe("disk and database", () => {
  it("judges free space against the limits", () => {
    const dir = tempDir("preflight-disk");
    const db = join(dir, "lab.db");
    expect(checkDiskSpace(db, 0, 0).status).toBe("pass");
    expect(checkDiskSpace(db, 0, Number.MAX_SAFE_INTEGER).status).toBe("warn");
    const full = checkDiskSpace(db, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    expect(full.status).toBe("fail");
    expect(full.detail).toContain("Free some space first");
    expect(checkDiskSpace(join(dir, "missing", "lab.db"), 0, 0).status).toBe("fail");
  });

  it("passes a new database and an existing one; fails a locked one and one that is not SQLite", () => {
    const dir = tempDir("preflight-db");
    const db = join(dir, "lab.db");
    expect(checkDatabase(db).detail).toContain("does not exist yet");
    const handle = new Database(db);
    handle.exec("CREATE TABLE sessions (id INTEGER); CREATE TABLE presentations (id INTEGER)");
    handle.exec("INSERT INTO sessions VALUES (1), (2)");
    expect(checkDatabase(db)).toMatchObject({ status: "pass", detail: expect.stringContaining("2 sessions") });
    // Another connection holds the write lock (a program that never lets go).
    handle.exec("BEGIN IMMEDIATE");
    const locked = checkDatabase(db);
    handle.exec("ROLLBACK");
    handle.close();
    expect(locked.status).toBe("fail");
    expect(locked.detail).toContain("write lock");
    const junk = join(dir, "junk.db");
    writeFileSync(junk, "not a database, just text that is long enough to have a header ".repeat(4));
    expect(checkDatabase(junk).status).toBe("fail");
  }, 20_000);
});

describe("the checklist", () => {
  it("skips the socket checks of the in-process rig and prints one line per check", async () => {
    const dir = tempDir("preflight-list");
    const { rig } = loadRigFile(inProcessRigFile);
    const report = await runPreflight(rig, { db: join(dir, "lab.db"), rigFile: inProcessRigFile });
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ["data-port", "skip"],
      ["data-stream", "skip"],
      ["heartbeat", "skip"],
      ["event-codes", "skip"],
      ["display", "skip"],
      ["disk-space", report.checks[5]!.status],
      ["database", "pass"],
    ]);
    const lines = formatPreflight(report);
    expect(lines).toHaveLength(report.checks.length + 2);
    expect(lines[1]).toMatch(/^ {2}\[skip\] Data port reachable: /);
  });
});
