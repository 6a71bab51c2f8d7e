import { afterEach, describe, expect, it } from "vitest";
import { realpathSync, renameSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ReadlineParser, SerialPort } from "serialport";
import { openSerialPort } from "../../src/main/rig/serial-open.js";
import { SerialEventBox, eventBoxIdentity } from "../../src/main/rig/serial-eventbox.js";
import { PortLostError } from "../../src/main/runner/runner.js";
import { SimRig, simNeuronsFrom } from "../../src/main/sim/sim-rig.js";
import { builtinNeurons } from "../../src/main/sim/neurons.js";
import { freePorts, PtyPair, socatAvailable, tempDir, waitFor, writeJson } from "./helpers.js";
import { compareWithTruth, protocolText, runSession } from "./session-harness.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function ptyPair(): Promise<PtyPair> {
  const dir = tempDir("pty");
  const pair = new PtyPair(join(dir, "controller"), join(dir, "rig"));
  await pair.start();
  cleanups.push(() => pair.stop());
  return pair;
}

async function simOnSerial(path: string): Promise<SimRig> {
  const dataPort = await freePorts(2);
  const sim = new SimRig({
    host: "127.0.0.1",
    dataPort,
    sampleRate: 30000,
    eventCodes: { kind: "serial", path },
    neurons: simNeuronsFrom(builtinNeurons(4, 1)),
    seed: 1,
    countWindow: { startMs: 50, endMs: 150, bins: 1 },
  });
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

/** The rig's end of the pair, open (a line written to the other end before it opens may be flushed). */
async function openFarSide(path: string): Promise<SerialPort> {
  const port = await openSerialPort(path, 115200);
  cleanups.push(() => new Promise<void>((r) => port.close(() => r())));
  return port;
}

/** Tries `box.open()` every 100 ms for up to `ms`: whether it opened. */
async function openWithin(box: SerialEventBox, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    try {
      await box.open();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}

describe.skipIf(!socatAvailable)("serial event box on a real pty pair", () => {
  it("identifies the box, confirms codes and clears the word", async () => {
    const pair = await ptyPair();
    const sim = await simOnSerial(pair.rigPath);
    const box = new SerialEventBox({ path: pair.controllerPath, ackTimeoutMs: 200 });
    cleanups.push(() => box.close());
    await box.open();
    for (const code of [1, 42, 65535]) expect(await box.send(code)).toMatchObject({ confirmed: true, attempts: 1 });
    await box.clear();
    expect(sim.stats.codesReceived).toBe(3);
  });

  it("retries once, then reports the code unconfirmed", async () => {
    const pair = await ptyPair();
    // A box that identifies itself but never acknowledges: count what it is sent.
    const port = await openFarSide(pair.rigPath);
    const lines: string[] = [];
    port.pipe(new ReadlineParser({ delimiter: "\n" })).on("data", (l: string) => {
      lines.push(l);
      if (l === "?") port.write(`${eventBoxIdentity}\n`);
    });
    const box = new SerialEventBox({ path: pair.controllerPath });
    cleanups.push(() => box.close());
    await box.open();
    const result = await box.send(9);
    expect(result.confirmed).toBe(false);
    expect(result.attempts).toBe(2);
    expect(result.message).toMatch(/no "A9"/);
    await waitFor(() => lines.filter((l) => l === "W9").length === 2, 5000, "two W9 lines");
  });

  it("asks again for the identity of a box that missed the first question (one that resets on open)", async () => {
    const pair = await ptyPair();
    const port = await openFarSide(pair.rigPath);
    let asked = 0;
    port.pipe(new ReadlineParser({ delimiter: "\n" })).on("data", (l: string) => {
      if (l === "?" && ++asked >= 3) port.write(`${eventBoxIdentity}\n`);
    });
    const box = new SerialEventBox({ path: pair.controllerPath, identifyRetryMs: 100 });
    cleanups.push(() => box.close());
    await box.open();
    expect(box.isOpen).toBe(true);
    expect(asked).toBe(3);
  });

  it("refuses a port where no event box answers", async () => {
    const pair = await ptyPair();
    const box = new SerialEventBox({ path: pair.controllerPath, identifyTimeoutMs: 100 });
    await expect(box.open()).rejects.toThrow(/No event box answered/);
  });

  it("throws PortLostError when the port disappears and opens again when it returns", async () => {
    const pair = await ptyPair();
    const sim = await simOnSerial(pair.rigPath);
    const box = new SerialEventBox({ path: pair.controllerPath, ackTimeoutMs: 200 });
    cleanups.push(() => box.close());
    await box.open();
    expect((await box.send(5)).confirmed).toBe(true);
    await pair.stop();
    // The box notices through the port's close event or, at the latest, at the next send (device node gone).
    await expect(box.send(6)).rejects.toBeInstanceOf(PortLostError);
    expect(box.isOpen).toBe(false);
    await expect(box.open()).rejects.toThrow();
    await pair.start();
    // The simulated box reopens its end by itself; the controller's open() succeeds once both are back.
    const opened = await openWithin(box, 10_000);
    expect(opened).toBe(true);
    expect(await box.send(7)).toMatchObject({ confirmed: true });
    expect(sim.stats.codesReceived).toBe(2);
  });
});

/** Points `link` at `target` in one step, as udev does when a device comes back under the same name. */
function pointLink(link: string, target: string): void {
  symlinkSync(realpathSync(target), `${link}.new`);
  renameSync(`${link}.new`, link);
}

/** A box on `path` that identifies itself and acknowledges every code: the codes it was sent. */
function ackingBox(path: string): { codes: number[] } {
  const port = new SerialPort({ path, baudRate: 115200 });
  const box = { codes: [] as number[] };
  port.pipe(new ReadlineParser({ delimiter: "\n" })).on("data", (l: string) => {
    if (l === "?") port.write(`${eventBoxIdentity}\n`);
    else if (/^W\d+$/.test(l)) {
      box.codes.push(Number(l.slice(1)));
      port.write(`A${l.slice(1)}\n`);
    }
  });
  cleanups.push(() => new Promise<void>((r) => port.close(() => r())));
  return box;
}

// A pty whose other end went away reads 0 bytes forever instead of failing, so neither side's port
// need ever close: both ends watch the path they opened and treat a path that names another device as
// a lost port. Here the first pair stays up (no hangup at all) while the path moves to a second pair.
describe.skipIf(!socatAvailable)("a serial path that comes to name another device", () => {
  it("the controller's box reports the port lost instead of writing to the old device", async () => {
    const first = await ptyPair();
    const second = await ptyPair();
    const oldBox = ackingBox(first.rigPath);
    const newBox = ackingBox(second.rigPath);
    const link = join(tempDir("moved"), "eventbox");
    pointLink(link, first.controllerPath);
    const box = new SerialEventBox({ path: link, ackTimeoutMs: 500 });
    cleanups.push(() => box.close());
    await box.open();
    expect((await box.send(3)).confirmed).toBe(true);
    pointLink(link, second.controllerPath);
    await expect(box.send(4)).rejects.toThrow(/now names another device/);
    await box.open();
    expect((await box.send(5)).confirmed).toBe(true);
    await waitFor(() => newBox.codes.length === 1, 2000, "the code on the new device");
    expect(oldBox.codes).toEqual([3]);
    expect(newBox.codes).toEqual([5]);
  });

  it("the simulated box follows the path to the new device", async () => {
    const first = await ptyPair();
    const second = await ptyPair();
    const link = join(tempDir("moved-sim"), "box-rig");
    pointLink(link, first.rigPath);
    const sim = await simOnSerial(link);
    const box = new SerialEventBox({ path: first.controllerPath, ackTimeoutMs: 500 });
    cleanups.push(() => box.close());
    await box.open();
    expect((await box.send(1)).confirmed).toBe(true);
    pointLink(link, second.rigPath);
    const moved = new SerialEventBox({ path: second.controllerPath, ackTimeoutMs: 500, identifyTimeoutMs: 300 });
    cleanups.push(() => moved.close());
    const opened = await openWithin(moved, 2000);
    expect(opened, "the simulated box answers on the device its path now names").toBe(true);
    expect((await moved.send(2)).confirmed).toBe(true);
    expect(sim.stats.codesReceived).toBe(2);
  });
});

describe.skipIf(!socatAvailable)("a session whose serial port disappears and returns", () => {
  it("pauses with everything saved, resumes on the same pty path and completes", async () => {
    const dir = tempDir("serial-session");
    const pair = new PtyPair(join(dir, "box"), join(dir, "box-rig"));
    await pair.start();
    cleanups.push(() => pair.stop());
    const dataPort = await freePorts(2);
    const displayEndpoint = `tcp://127.0.0.1:${await freePorts(1)}`;
    const rigFile = writeJson(join(dir, "rig.json"), {
      name: "test-sim-serial",
      acquisition: {
        format: "openephys-zmq",
        host: "127.0.0.1",
        dataPort,
        sampleRate: 30000,
        countWindowMs: [50, 150],
        graceMs: 250,
      },
      eventCodes: { transport: "serial", path: pair.controllerPath },
      display: { kind: "virtual", endpoint: displayEndpoint },
    });
    const sim = new SimRig({
      host: "127.0.0.1",
      dataPort,
      sampleRate: 30000,
      eventCodes: { kind: "serial", path: pair.rigPath },
      displayEndpoint,
      neurons: simNeuronsFrom(builtinNeurons(6, 2)),
      seed: 2,
      countWindow: { startMs: 50, endMs: 150, bins: 1 },
      keepTruth: true,
    });
    await sim.start();
    cleanups.push(() => sim.stop());
    // Pull the cable a second into the session and plug it back in 800 ms later.
    const unplug = setTimeout(() => {
      void pair
        .stop()
        .then(() => new Promise((r) => setTimeout(r, 800)))
        .then(() => pair.start());
    }, 1500);
    cleanups.push(() => clearTimeout(unplug));
    // A session that never resumes is interrupted well inside the test's time, so its log is shown.
    const { result, store, log } = await runSession(
      dir,
      rigFile,
      protocolText("serial-unplug", 20, 6, { fixationMs: 300, stimulusMs: 20, interStimulusMs: 20 }),
      AbortSignal.timeout(40_000),
    );
    cleanups.push(() => store.close());
    expect(result.state, log.join("\n")).toBe("completed");
    expect(result.presented).toBe(120);
    const events = store.sessionEvents(result.sessionId).map((e) => e.kind);
    expect(events).toContain("paused");
    expect(events).toContain("resumed");
    expect(store.faults(result.sessionId).map((f) => f.code)).toContain("serial-port-lost");
    const cmp = compareWithTruth(store, result.sessionId, sim.truth);
    expect(cmp.uncovered).toEqual([]);
    expect(cmp.incompleteWithoutFault).toEqual([]);
    expect(cmp.mismatches).toEqual([]);
    expect(cmp.matched).toBeGreaterThan(50);
  }, 60_000);
});
