/**
 * Pre-flight before a session, for the lab tech: each thing a session needs from the rig and this machine, checked
 * on its own and reported as a line (pass, warn, fail or skip) that says what was found and what to do. Nothing is
 * stored and no session starts; the rig's sockets are opened and closed again.
 *
 * The checks reuse the controller's own clients where they exist: the event box's identify (`?`) is SerialEventBox's
 * open, Network Events' IsAcquiring is NetworkEventsOutput's checkReady (as a session starts), the data stream is read
 * by the ZMTP subscriber a session uses, and a window display's calibration goes through the display pre-flight.
 */
import { connect, createServer } from "node:net";
import { accessSync, constants, existsSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { Request } from "zeromq";
import type { RigConfig, WindowDisplayConfig } from "../protocol/schema.js";
import { heartbeatReplies } from "../rig/openephys-zmq.js";
import { NetworkEventsOutput } from "../rig/network-events.js";
import { SerialEventBox, eventBoxIdentity } from "../rig/serial-eventbox.js";
import { ZmtpSubscriber } from "../rig/zmtp-subscriber.js";
import { checkZmtpGreeting, zmtpGreeting, zmtpGreetingBytes } from "../rig/zmtp.js";
import { displayPreflight } from "../display/preflight.js";
import { windowDefaults } from "../display/settings.js";
import type { PreflightCheck, PreflightCheckId, PreflightReport, PreflightStatus } from "./types.js";

export type { PreflightCheck, PreflightCheckId, PreflightReport, PreflightStatus } from "./types.js";

export interface PreflightOptions {
  /** The lab database a session would write to. */
  db: string;
  rigFile?: string;
  /** How long each socket check waits for an answer (default 2000 ms). */
  timeoutMs?: number;
  /** How long the data stream is watched for messages (default 1500 ms). */
  streamMs?: number;
  /** Less free space than this fails (default 200 MiB); less than `warnFreeBytes` warns (default 2 GiB). */
  minFreeBytes?: number;
  warnFreeBytes?: number;
  now?: Date;
}

const MiB = 1024 * 1024;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function formatBytes(n: number): string {
  if (n >= 1024 * MiB) return `${(n / (1024 * MiB)).toFixed(1)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(0)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

async function timed(
  id: PreflightCheckId,
  label: string,
  run: () => Promise<Omit<PreflightCheck, "id" | "label" | "ms">>,
): Promise<PreflightCheck> {
  const t0 = performance.now();
  let result: Omit<PreflightCheck, "id" | "label" | "ms">;
  try {
    result = await run();
  } catch (err) {
    result = { status: "fail", detail: message(err) };
  }
  return { id, label, ...result, ms: Math.round(performance.now() - t0) };
}

/**
 * Connects to the rig's data port and reads its ZMTP greeting: something listens there, and it is a ZeroMQ socket
 * (the ZMQ Interface's PUB), not another program.
 */
export function checkDataPort(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Omit<PreflightCheck, "id" | "label" | "ms">> {
  const where = `tcp://${host}:${port}`;
  return new Promise((done) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (status: PreflightStatus, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done({ status, detail });
    };
    const timer = setTimeout(() => {
      finish(
        "fail",
        received.length === 0 && !socket.connecting
          ? `${where} accepted the connection but sent no ZeroMQ greeting within ${timeoutMs} ms: another program ` +
              "holds the port. Point acquisition.dataPort at the ZMQ Interface's port."
          : `${where} did not answer within ${timeoutMs} ms (a firewall, or the wrong host?). Check acquisition.host.`,
      );
    }, timeoutMs);
    socket.on("connect", () => socket.write(zmtpGreeting()));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received[0] !== undefined && received[0] !== 0xff) {
        finish(
          "fail",
          `${where} answered, but not as ZeroMQ does (first byte 0x${received[0].toString(16)}): another program ` +
            "holds the port. Point acquisition.dataPort at the ZMQ Interface's port.",
        );
        return;
      }
      if (received.length < zmtpGreetingBytes) return;
      try {
        checkZmtpGreeting(received);
        finish("pass", `${where} is a ZeroMQ socket (ZMTP 3 greeting)`);
      } catch (err) {
        finish("fail", `${where} answered with a greeting cortexloop cannot use: ${message(err)}.`);
      }
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNREFUSED")
        finish(
          "fail",
          `nothing listens on ${where}. Start the Open Ephys GUI with the ZMQ Interface plugin (its editor shows the ` +
            "port; a taken port makes it bind port + 2), or `cortexloop sim-rig --rig <file>` for the simulated rig.",
        );
      else
        finish("fail", `could not reach ${where} (${err.code ?? err.message}). Check acquisition.host and dataPort.`);
    });
  });
}

/** Subscribes to the data port as a session does and counts messages (spikes, TTLs, continuous data) for a while. */
export async function checkDataStream(
  host: string,
  port: number,
  watchMs: number,
): Promise<Omit<PreflightCheck, "id" | "label" | "ms">> {
  let messages = 0;
  const types = new Map<string, number>();
  const sub = new ZmtpSubscriber({
    host,
    port,
    reconnectMs: 200,
    onMessage: (frames) => {
      messages++;
      const envelope = frames[0]?.toString("latin1").replace(/\0$/, "") ?? "?";
      types.set(envelope, (types.get(envelope) ?? 0) + 1);
    },
  });
  sub.start();
  await new Promise((r) => setTimeout(r, watchMs));
  sub.stop();
  const seconds = (watchMs / 1000).toFixed(1);
  if (messages === 0) {
    return {
      status: "warn",
      detail:
        `no message from tcp://${host}:${port} in ${seconds} s. A GUI that is not acquiring sends nothing: press ` +
        "play in the Open Ephys GUI (and check the ZMQ Interface's stream selection).",
    };
  }
  const kinds = [...types].map(([k, n]) => `${n} ${k}`).join(", ");
  return { status: "pass", detail: `${plural(messages, "message")} in ${seconds} s (${kinds})` };
}

/** Sends one heartbeat as a session does (REQ to data port + 1) and reads the answer. */
export async function checkHeartbeat(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Omit<PreflightCheck, "id" | "label" | "ms">> {
  const where = `tcp://${host}:${port}`;
  const req = new Request({ receiveTimeout: timeoutMs, sendTimeout: timeoutMs, linger: 0 });
  try {
    req.connect(where);
    await req.send(JSON.stringify({ application: "cortexloop-preflight", uuid: "preflight", type: "heartbeat" }));
    const [reply] = await req.receive();
    const text = reply?.toString("utf8") ?? "";
    if (heartbeatReplies.has(text)) return { status: "pass", detail: `${where} answered "${text}"` };
    return {
      status: "warn",
      detail:
        `${where} answered ${JSON.stringify(text.slice(0, 60))}, not the ZMQ Interface's "heartbeat received": the ` +
        "link counts as up, but is this the ZMQ Interface's heartbeat port (data port + 1)?",
    };
  } catch (err) {
    return {
      status: "fail",
      detail:
        `no heartbeat answer from ${where} within ${timeoutMs} ms (${message(err)}). The ZMQ Interface answers on ` +
        "its data port + 1; is the GUI running?",
    };
  } finally {
    req.close();
  }
}

/** The event box's identify: SerialEventBox.open sends `?` and waits for the firmware's name. */
export async function checkSerialEventBox(
  path: string,
  baudRate: number,
  timeoutMs: number,
): Promise<Omit<PreflightCheck, "id" | "label" | "ms">> {
  if (!existsSync(path)) {
    return {
      status: "fail",
      detail: `no serial port at ${path}. Plug the event box in, or fix eventCodes.path in the rig file.`,
    };
  }
  const box = new SerialEventBox({ path, baudRate, identifyTimeoutMs: timeoutMs });
  try {
    await box.open();
    return { status: "pass", detail: `${path} answered "?" with "${eventBoxIdentity}"` };
  } catch (err) {
    return { status: "fail", detail: message(err) };
  } finally {
    await box.close();
  }
}

/** Network Events as a session starts: IsAcquiring must answer 1, and the code lines are lowered. */
export async function checkNetworkEvents(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Omit<PreflightCheck, "id" | "label" | "ms">> {
  const out = new NetworkEventsOutput({ host, port, replyTimeoutMs: timeoutMs });
  try {
    await out.checkReady();
    return {
      status: "pass",
      detail: `Network Events at tcp://${host}:${port} answered IsAcquiring with 1 and took the line commands`,
    };
  } catch (err) {
    return { status: "fail", detail: message(err) };
  } finally {
    await out.close();
  }
}

/** A window display's calibration, through the display pre-flight (refresh and screen are measured when it opens). */
export function checkWindowCalibration(
  display: WindowDisplayConfig,
  now?: Date,
): Omit<PreflightCheck, "id" | "label" | "ms"> {
  const hz = display.refreshHz ?? windowDefaults.refreshHz;
  // The refresh is measured in the window itself; the expected rate stands in so only the calibration is judged.
  const problems = displayPreflight({
    display,
    refresh: { hz, periodMs: 1000 / hz, intervals: 0, jitterMs: 0 },
    now,
  });
  if (problems.length > 0)
    return { status: "warn", detail: `${problems.map((p) => `${p.code}: ${p.message}`).join("; ")}.` };
  return {
    status: "pass",
    detail:
      `calibrated${display.calibration?.date === undefined ? "" : ` on ${display.calibration.date}`}; the refresh ` +
      "rate and screen are checked when the stimulus window opens",
  };
}

/** The virtual display's endpoint, which a session binds to publish frames: free now, or held by another program. */
export function checkDisplayEndpoint(endpoint: string): Promise<Omit<PreflightCheck, "id" | "label" | "ms">> {
  const m = /^tcp:\/\/(\*|\[[^\]]+\]|[^:]+):(\d+)$/.exec(endpoint);
  if (m === null)
    return Promise.resolve({
      status: "warn",
      detail: `${endpoint} is not tcp://host:port; it is checked when it opens`,
    });
  const host = m[1] === "*" ? "0.0.0.0" : m[1]!.replace(/^\[|\]$/g, "");
  const port = Number(m[2]);
  return new Promise((done) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) =>
      done({
        status: "fail",
        detail:
          err.code === "EADDRINUSE"
            ? `${endpoint} is taken: another session (or program) publishes frames there. End it, or change ` +
              "display.endpoint."
            : `${endpoint} cannot be bound (${err.code ?? err.message}). Check display.endpoint.`,
      }),
    );
    server.listen(port, host, () =>
      server.close(() => done({ status: "pass", detail: `${endpoint} is free for the session's frames` })),
    );
  });
}

/** Free space where the database lives. */
export function checkDiskSpace(
  db: string,
  minFreeBytes: number,
  warnFreeBytes: number,
): Omit<PreflightCheck, "id" | "label" | "ms"> {
  const dir = dirname(resolve(db));
  if (!existsSync(dir)) return { status: "fail", detail: `the database's folder ${dir} does not exist; create it.` };
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const total = fs.blocks * fs.bsize;
  const where = `${formatBytes(free)} free of ${formatBytes(total)} in ${dir}`;
  if (free < minFreeBytes)
    return {
      status: "fail",
      detail: `${where}, under ${formatBytes(minFreeBytes)}: a session could fill the disk. Free some space first.`,
    };
  if (free < warnFreeBytes)
    return { status: "warn", detail: `${where}, under ${formatBytes(warnFreeBytes)}: enough for a few sessions.` };
  return { status: "pass", detail: where };
}

/** The database opens for writing and takes the write lock (then lets it go: nothing is written). */
export function checkDatabase(db: string): Omit<PreflightCheck, "id" | "label" | "ms"> {
  const file = resolve(db);
  if (!existsSync(file)) {
    const dir = dirname(file);
    try {
      accessSync(dir, constants.W_OK);
      return {
        status: "pass",
        detail: `${file} does not exist yet; the first session creates it (the folder is writable)`,
      };
    } catch {
      return {
        status: "fail",
        detail: `${file} does not exist and its folder ${dir} is not writable. Pick another --db.`,
      };
    }
  }
  let handle: Database.Database | undefined;
  try {
    handle = new Database(file, { fileMustExist: true, timeout: 2000 });
    const tables = handle
      .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('sessions', 'presentations')")
      .get() as { n: number };
    handle.exec("BEGIN IMMEDIATE");
    handle.exec("ROLLBACK");
    const sessions =
      tables.n === 2 ? (handle.prepare("SELECT count(*) AS n FROM sessions").get() as { n: number }).n : undefined;
    return {
      status: "pass",
      detail:
        sessions === undefined
          ? `${file} is writable (not a cortexloop database yet: the first session sets it up)`
          : `${file} is writable (${plural(sessions, "session")} in it)`,
    };
  } catch (err) {
    const m = message(err);
    const hint = /readonly|read-only|permission|EACCES/i.test(m)
      ? "Check the file's and folder's permissions."
      : /locked|busy/i.test(m)
        ? "Another program holds the write lock for over 2 s; close it."
        : "Check that it is a SQLite database.";
    return { status: "fail", detail: `${file} cannot be written (${m}). ${hint}` };
  } finally {
    handle?.close();
  }
}

/** Every check for a rig and database, in the checklist's order; never throws. */
export async function runPreflight(rig: RigConfig, options: PreflightOptions): Promise<PreflightReport> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const checks: PreflightCheck[] = [];
  const skip = (id: PreflightCheckId, label: string, detail: string): PreflightCheck => ({
    id,
    label,
    status: "skip",
    detail,
    ms: 0,
  });
  const acq = rig.acquisition;
  if (acq.format === "in-process") {
    const why = "the in-process simulated rig has no sockets";
    checks.push(skip("data-port", "Data port reachable", why));
    checks.push(skip("data-stream", "Data arriving", why));
    checks.push(skip("heartbeat", "Heartbeat answered", why));
  } else {
    const dataPort = await timed("data-port", `Data port reachable (${acq.host}:${acq.dataPort})`, () =>
      checkDataPort(acq.host, acq.dataPort, timeoutMs),
    );
    checks.push(dataPort);
    checks.push(
      dataPort.status === "pass"
        ? await timed("data-stream", "Data arriving", () =>
            checkDataStream(acq.host, acq.dataPort, options.streamMs ?? 1500),
          )
        : skip("data-stream", "Data arriving", "not checked: the data port is not reachable"),
    );
    checks.push(
      await timed("heartbeat", `Heartbeat answered (${acq.host}:${acq.dataPort + 1})`, () =>
        checkHeartbeat(acq.host, acq.dataPort + 1, timeoutMs),
      ),
    );
  }
  const codes = rig.eventCodes;
  if (codes.transport === "serial")
    checks.push(
      await timed("event-codes", `Event box answers "?" (${codes.path})`, () =>
        checkSerialEventBox(codes.path, codes.baudRate, timeoutMs),
      ),
    );
  else if (codes.transport === "openephys-network-events")
    checks.push(
      await timed("event-codes", `Network Events answers IsAcquiring (${codes.host}:${codes.port})`, () =>
        checkNetworkEvents(codes.host, codes.port, timeoutMs),
      ),
    );
  else checks.push(skip("event-codes", "Event codes", "the in-process simulated rig takes codes in memory"));
  const display = rig.display;
  if (display.kind === "window")
    checks.push(
      await timed("display", "Display calibration", async () => checkWindowCalibration(display, options.now)),
    );
  else if (display.kind === "virtual")
    checks.push(
      await timed("display", `Virtual display endpoint free (${display.endpoint})`, () =>
        checkDisplayEndpoint(display.endpoint),
      ),
    );
  else checks.push(skip("display", "Display", "no display in this rig file"));
  checks.push(
    await timed("disk-space", "Disk space", async () =>
      checkDiskSpace(options.db, options.minFreeBytes ?? 200 * MiB, options.warnFreeBytes ?? 2048 * MiB),
    ),
  );
  checks.push(await timed("database", "Database writable", async () => checkDatabase(options.db)));
  return {
    rigName: rig.name,
    rigFile: options.rigFile ?? null,
    db: resolve(options.db),
    at: (options.now ?? new Date()).toISOString(),
    ok: checks.every((c) => c.status === "pass" || c.status === "skip" || c.status === "warn"),
    checks,
  };
}

const marks: Record<PreflightStatus, string> = { pass: "ok  ", warn: "WARN", fail: "FAIL", skip: "skip" };

/** The checklist as lines of text (the CLI prints these). */
export function formatPreflight(report: PreflightReport): string[] {
  const lines = [`pre-flight of rig "${report.rigName}"${report.rigFile ? ` (${report.rigFile})` : ""}, ${report.at}`];
  for (const c of report.checks) lines.push(`  [${marks[c.status]}] ${c.label}: ${c.detail}`);
  const failed = report.checks.filter((c) => c.status === "fail").length;
  const warned = report.checks.filter((c) => c.status === "warn").length;
  lines.push(
    failed > 0
      ? `${plural(failed, "check")} failed: fix ${failed === 1 ? "it" : "them"} before starting a session.`
      : `ready${warned > 0 ? ` (${plural(warned, "warning")})` : ""}.`,
  );
  return lines;
}
