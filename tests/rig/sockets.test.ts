import { afterEach, describe, expect, it } from "vitest";
import { Reply, Subscriber } from "zeromq";
import { NetworkEventsOutput } from "../../src/main/rig/network-events.js";
import { networkEventsStrobeLine } from "../../src/main/rig/ttl-codes.js";
import { RigNotReadyError } from "../../src/main/rig/types.js";
import { OpenEphysZmqAcquisition } from "../../src/main/rig/openephys-zmq.js";
import { VirtualDisplay } from "../../src/main/rig/virtual-display.js";
import { createRig } from "../../src/main/rig/factory.js";
import { rigSchema } from "../../src/main/protocol/schema.js";
import { calibrationFromFits } from "../../src/stimulus/index.js";
import type { AcquisitionSink, RigLinkState } from "../../src/main/rig/types.js";
import { SimRig, simNeuronsFrom, type SimFaults } from "../../src/main/sim/sim-rig.js";
import { builtinNeurons } from "../../src/main/sim/neurons.js";
import { generateImages } from "../../src/stimulus/index.js";
import type { FaultRecord, PresentationCounts } from "../../src/main/store/types.js";
import { freePorts, waitFor } from "./helpers.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const countWindow = { startMs: 50, endMs: 150, bins: 2 };

class Collect implements AcquisitionSink {
  readonly all: PresentationCounts[] = [];
  readonly faults: FaultRecord[] = [];
  readonly links: RigLinkState[] = [];
  counts(c: PresentationCounts): void {
    this.all.push(c);
  }
  ttl(): void {}
  fault(f: FaultRecord): void {
    this.faults.push(f);
  }
  link(state: RigLinkState): void {
    this.links.push(state);
  }
}

async function startSim(
  opts: { faults?: SimFaults; displayEndpoint?: string; eventsPort?: number } = {},
): Promise<SimRig> {
  const dataPort = await freePorts(2);
  const sim = new SimRig({
    host: "127.0.0.1",
    dataPort,
    sampleRate: 30000,
    eventCodes:
      opts.eventsPort === undefined
        ? { kind: "none" }
        : { kind: "network-events", host: "127.0.0.1", port: opts.eventsPort },
    displayEndpoint: opts.displayEndpoint,
    neurons: simNeuronsFrom(builtinNeurons(6, 4)),
    seed: 4,
    countWindow,
    keepTruth: true,
    faults: opts.faults,
  });
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

describe("Open Ephys ZMQ acquisition on loopback sockets", () => {
  it("reports the link degraded when heartbeats go unanswered, keeps the data flowing, and recovers", async () => {
    const sim = await startSim();
    const acq = new OpenEphysZmqAcquisition({
      host: "127.0.0.1",
      dataPort: sim.dataPort,
      sampleRate: 30000,
      countWindow,
      heartbeatEveryMs: 50,
      heartbeatTimeoutMs: 200,
    });
    cleanups.push(() => acq.stop());
    const sink = new Collect();
    await acq.start(sink);
    await waitFor(() => sink.links.includes("connected"), 3000, "the first heartbeat answer");
    sim.setHeartbeatAnswering(false);
    await waitFor(() => sink.links.includes("degraded"), 3000, "the link to be reported degraded");
    expect(sink.faults.map((f) => f.code)).toContain("heartbeat-lost");
    const before = acq.stats!.spikes;
    await waitFor(() => acq.stats!.spikes > before, 3000, "spikes while degraded");
    sim.setHeartbeatAnswering(true);
    await waitFor(
      () => sink.links.lastIndexOf("connected") > sink.links.indexOf("degraded"),
      5000,
      "the link to recover",
    );
  });
});

/** A REP on `port` that records each command and answers what `answer` says (the plugin's replies by default). */
async function networkEventsRep(port: number, answer: (cmd: string) => string): Promise<string[]> {
  const rep = new Reply({ linger: 0 });
  await rep.bind(`tcp://127.0.0.1:${port}`);
  cleanups.push(() => rep.close());
  const received: string[] = [];
  void (async () => {
    try {
      for await (const [msg] of rep) {
        received.push(msg!.toString());
        await rep.send(answer(msg!.toString()));
      }
    } catch {
      // closed at the end of the test
    }
  })();
  return received;
}

/** Network Events' own replies (NetworkEvents.cpp): acquiring, every line command handled. */
function pluginReply(cmd: string): string {
  if (cmd === "IsAcquiring") return "1";
  const m = /^TTL Line=(\d+) State=(\d)$/.exec(cmd);
  return m ? `TTLHandled: Line=${m[1]} State=${m[2]}` : "NotHandled";
}

describe("heartbeat answers", () => {
  it("takes each of the ZMQ Interface's three answers as a live link", async () => {
    const dataPort = await freePorts(2);
    const answers = ["message correctly parsed", "JSON message could not be read", "heartbeat received"];
    let i = 0;
    const rep = new Reply({ linger: 0 });
    await rep.bind(`tcp://127.0.0.1:${dataPort + 1}`);
    cleanups.push(() => rep.close());
    void (async () => {
      try {
        for await (const _ of rep) await rep.send(answers[Math.min(i++, answers.length - 1)]!);
      } catch {
        // closed at the end of the test
      }
    })();
    const log: string[] = [];
    const acq = new OpenEphysZmqAcquisition({
      host: "127.0.0.1",
      dataPort,
      sampleRate: 30000,
      countWindow,
      heartbeatEveryMs: 20,
      heartbeatTimeoutMs: 500,
      log: (l) => log.push(l),
    });
    cleanups.push(() => acq.stop());
    const sink = new Collect();
    await acq.start(sink);
    await waitFor(() => i > answers.length, 5000, "every answer");
    expect(sink.links).toEqual(["connected"]);
    expect(sink.faults).toEqual([]);
    expect(log.filter((l) => /heartbeat/.test(l))).toEqual([
      "the rig could not read cortexloop's heartbeat JSON; the link counts as up, but tell the developers",
    ]);
  });
});

describe("Network Events event codes", () => {
  it(
    "sends a code as lines 1..16 (only those that change) and the strobe on line 17, lowers them after, and " +
      "recovers with a fresh socket after a lost reply",
    async () => {
      const port = await freePorts(1);
      const out = new NetworkEventsOutput({ host: "127.0.0.1", port, replyTimeoutMs: 400 });
      cleanups.push(() => out.close());
      await out.open();
      const lost = await out.send(3);
      expect(lost.confirmed).toBe(false);
      expect(lost.message).toMatch(/"TTL Line=17 State=0" got no reply within 400 ms/);
      const received = await networkEventsRep(port, pluginReply);
      let ready = false;
      for (let i = 0; i < 20 && !ready; i++)
        ready = await out.checkReady().then(
          () => true,
          () => false,
        );
      expect(ready).toBe(true);
      expect(received.slice(-17)).toEqual(
        [17, ...Array.from({ length: 16 }, (_, k) => k + 1)].map((n) => `TTL Line=${n} State=0`),
      );
      received.length = 0;
      expect(await out.send(5)).toEqual({ confirmed: true, attempts: 1 });
      expect(received).toEqual(["TTL Line=1 State=1", "TTL Line=3 State=1", "TTL Line=17 State=1"]);
      received.length = 0;
      expect(await out.clear()).toEqual({ confirmed: true, attempts: 1 });
      expect(received).toEqual(["TTL Line=17 State=0", "TTL Line=1 State=0", "TTL Line=3 State=0"]);
      received.length = 0;
      expect((await out.send(6)).confirmed).toBe(true);
      expect(received).toEqual(["TTL Line=2 State=1", "TTL Line=3 State=1", "TTL Line=17 State=1"]);
    },
  );

  it(
    "confirms a command only by its own reply: another line, another state, InvalidChannel, NotHandled and an old " +
      "plugin's reply are each unconfirmed, saying which",
    async () => {
      const port = await freePorts(1);
      let bad: ((cmd: string) => string | undefined) | undefined;
      const received = await networkEventsRep(port, (cmd) => bad?.(cmd) ?? pluginReply(cmd));
      const out = new NetworkEventsOutput({ host: "127.0.0.1", port, replyTimeoutMs: 2000 });
      cleanups.push(() => out.close());
      await out.checkReady();
      const cases: [(cmd: string) => string | undefined, RegExp][] = [
        [
          (c) => (c === "TTL Line=17 State=1" ? "TTLHandled: Line=16 State=1" : undefined),
          new RegExp(
            'raising the strobe: "TTL Line=17 State=1" was answered "TTLHandled: Line=16 State=1" \\(a reply for ' +
              "another line or state\\)",
          ),
        ],
        [
          (c) => (c === "TTL Line=17 State=1" ? "TTLHandled: Line=17 State=0" : undefined),
          /answered "TTLHandled: Line=17 State=0"/,
        ],
        [
          (c) => (c === "TTL Line=1 State=1" ? "InvalidChannel" : undefined),
          new RegExp(
            '"TTL Line=1 State=1" was answered "InvalidChannel" \\(the plugin refused the line number\\); the strobe ' +
              "\\(line 17\\) was not raised",
          ),
        ],
        [
          (c) => (c.startsWith("TTL") ? "NotHandled" : undefined),
          /"NotHandled" \(whatever answers on this port does not know the command/,
        ],
        [(c) => (c.startsWith("TTL") ? "TTLHandled: Channel=1 on=0" : undefined), /older than 0\.2\.1/],
      ];
      for (const [answer, message] of cases) {
        bad = answer;
        received.length = 0;
        const r = await out.send(1);
        expect(r.confirmed).toBe(false);
        expect(r.message).toMatch(message);
        // A code line that failed never raises the strobe: no onset can carry a wrong word.
        if (/not raised/.test(r.message!)) expect(received).not.toContain("TTL Line=17 State=1");
        bad = undefined;
        expect((await out.clear()).confirmed).toBe(true);
      }
      // After a failure the lines' states are unknown: the next code lowers the strobe, sets every line again, and is
      // confirmed.
      bad = cases[0]![0];
      expect((await out.send(1)).confirmed).toBe(false);
      bad = undefined;
      received.length = 0;
      expect((await out.send(2)).confirmed).toBe(true);
      expect(received).toEqual([
        "TTL Line=17 State=0",
        ...Array.from({ length: 16 }, (_, k) => `TTL Line=${k + 1} State=${k === 1 ? 1 : 0}`),
        "TTL Line=17 State=1",
      ]);
    },
  );

  it("refuses to start unless IsAcquiring answers 1, saying why", async () => {
    const port = await freePorts(1);
    let acquiring = "0";
    await networkEventsRep(port, (cmd) => (cmd === "IsAcquiring" ? acquiring : pluginReply(cmd)));
    const out = new NetworkEventsOutput({ host: "127.0.0.1", port, replyTimeoutMs: 500 });
    cleanups.push(() => out.close());
    await expect(out.checkReady()).rejects.toThrow(
      new RegExp(
        "The Open Ephys GUI is not acquiring .* No session was started and nothing was stored\\. Start acquisition " +
          "in the GUI",
      ),
    );
    await expect(out.checkReady()).rejects.toBeInstanceOf(RigNotReadyError);
    acquiring = "NotHandled";
    await expect(out.checkReady()).rejects.toThrow(/answered IsAcquiring with "NotHandled"/);
    acquiring = "1";
    await expect(out.checkReady()).resolves.toBeUndefined();
    const silent = new NetworkEventsOutput({ host: "127.0.0.1", port: await freePorts(1), replyTimeoutMs: 100 });
    cleanups.push(() => silent.close());
    await expect(silent.checkReady()).rejects.toThrow(/did not answer IsAcquiring \(no reply within 100 ms/);
  });

  it(
    "starts and stops the GUI's recording with the session's id in PrependText, quoting a folder with " + "spaces",
    async () => {
      const port = await freePorts(1);
      let recording = false;
      const received = await networkEventsRep(port, (cmd) => {
        if (cmd.startsWith("StartRecord")) return recording ? "NotHandled" : ((recording = true), "StartedRecording");
        if (cmd === "StopRecord") return ((recording = false), "StoppedRecording");
        return pluginReply(cmd);
      });
      const out = new NetworkEventsOutput({
        host: "127.0.0.1",
        port,
        replyTimeoutMs: 500,
        recording: { recDir: "/data/my rig", appendText: "v4" },
      });
      cleanups.push(() => out.close());
      expect(await out.startRecording("1234-abcd")).toEqual({ confirmed: true, attempts: 1 });
      expect(received[0]).toBe('StartRecord PrependText=1234-abcd_ RecDir="/data/my rig" AppendText=v4');
      const again = await out.startRecording("5678");
      expect(again.confirmed).toBe(false);
      expect(again.message).toMatch(/already recording/);
      expect(await out.stopRecording()).toEqual({ confirmed: true, attempts: 1 });
      const none = new NetworkEventsOutput({ host: "127.0.0.1", port, replyTimeoutMs: 500 });
      cleanups.push(() => none.close());
      expect(await none.startRecording("x")).toEqual({ confirmed: true, attempts: 0 });
    },
  );
});

/** A SUB on the virtual display's frames, closed after the test. */
function frameSubscriber(endpoint: string): Subscriber {
  const sub = new Subscriber({ linger: 0 });
  sub.connect(endpoint);
  sub.subscribe("frame");
  cleanups.push(() => sub.close());
  return sub;
}

describe("virtual display", () => {
  it("publishes frame, JSON header and RGB pixels", async () => {
    const port = await freePorts(1);
    const endpoint = `tcp://127.0.0.1:${port}`;
    const sub = frameSubscriber(endpoint);
    const display = new VirtualDisplay({ endpoint, waitForSubscriberMs: 2000 });
    cleanups.push(() => display.close());
    await display.open();
    const image = generateImages("dots", 1, 16, 1)[0]!;
    await display.show({ seq: 17, code: 4242, durationMs: 100, image });
    const [topic, json, pixels] = await sub.receive();
    expect(topic!.toString()).toBe("frame");
    expect(JSON.parse(json!.toString())).toEqual({
      v: 1,
      seq: 17,
      code: 4242,
      duration_ms: 100,
      width: 16,
      height: 16,
      channels: 3,
      dtype: "uint8",
      screen: { width: 16, height: 16, x: 0, y: 0 },
    });
    expect(Buffer.compare(pixels!, Buffer.from(image.pixels0to255))).toBe(0);
  });

  it("a calibrated rig emits the pixels after its lookup tables", async () => {
    const port = await freePorts(1);
    const endpoint = `tcp://127.0.0.1:${port}`;
    const sub = frameSubscriber(endpoint);
    const fit = { gamma: 2.2, black: 0.5, white: 100, rmse: 0 };
    const rig = await createRig(
      rigSchema.parse({
        name: "calibrated",
        acquisition: { format: "openephys-zmq", dataPort: await freePorts(2) },
        eventCodes: { transport: "openephys-network-events", port: await freePorts(1) },
        display: { kind: "virtual", endpoint, calibration: { red: fit, green: { ...fit, gamma: 1.8 }, blue: fit } },
      }),
      { countWindow: { startMs: 50, endMs: 150, bins: 1 } },
    );
    cleanups.push(() => rig.close());
    await rig.display.open();
    const image = { width: 1, height: 1, pixels0to255: new Uint8Array([128, 128, 0]) };
    await rig.display.show({ seq: 1, code: 7, durationMs: 100, image });
    const [, , pixels] = await sub.receive();
    const lut = calibrationFromFits({ red: fit, green: { ...fit, gamma: 1.8 }, blue: fit });
    expect(Array.from(pixels!)).toEqual([lut.red[128], lut.green[128], 0]);
    // Linearizing a gamma > 1 display brightens the middle levels.
    expect(pixels![0]).toBeGreaterThan(128);
    expect(pixels![1]).not.toBe(pixels![0]);
  });
});

describe("controller rig parts against the in-process simulated rig", () => {
  it("counts a stream with malformed frames and a stall exactly where no fault was reported", async () => {
    const displayPort = await freePorts(1);
    const eventsPort = await freePorts(1);
    const displayEndpoint = `tcp://127.0.0.1:${displayPort}`;
    const sim = await startSim({
      displayEndpoint,
      eventsPort,
      faults: { malformedFraction: 0.01, stallAfterPresentations: 40, stallMs: 300 },
    });
    const acq = new OpenEphysZmqAcquisition({
      host: "127.0.0.1",
      dataPort: sim.dataPort,
      sampleRate: 30000,
      countWindow,
      codeLines: { strobeLine: networkEventsStrobeLine },
    });
    const sink = new Collect();
    await acq.start(sink);
    cleanups.push(() => acq.stop());
    const display = new VirtualDisplay({ endpoint: displayEndpoint, waitForSubscriberMs: 2000 });
    await display.open();
    cleanups.push(() => display.close());
    const codes = new NetworkEventsOutput({ host: "127.0.0.1", port: eventsPort, replyTimeoutMs: 2000 });
    await codes.open();
    cleanups.push(() => codes.close());
    await codes.checkReady();
    const images = generateImages("gratings", 20, 32, 2);
    const codeOf = new Map<number, number>();
    for (let i = 0; i < 120; i++) {
      const code = 100 + i;
      codeOf.set(i, code);
      acq.expect({ presentationIdx: i, code });
      // Alternate which reaches the rig first: the simulated rig joins picture and code either way.
      if (i % 2 === 0) {
        await display.show({ seq: i, code, durationMs: 20, image: images[i % 20]! });
        expect((await codes.send(code)).confirmed).toBe(true);
      } else {
        expect((await codes.send(code)).confirmed).toBe(true);
        await display.show({ seq: i, code, durationMs: 20, image: images[i % 20]! });
      }
      await new Promise((r) => setTimeout(r, 15));
      await codes.clear();
    }
    await acq.drain(5000);
    expect(sink.all).toHaveLength(120);
    expect(sim.stats.stalls).toBe(1);
    expect(sim.stats.malformedSent).toBeGreaterThan(0);
    const flagged = new Set(sink.faults.flatMap((f) => f.presentationIdxs));
    const truth = new Map(sim.truth.map((t) => [`${t.code}:${t.onsetSample}`, t]));
    let compared = 0;
    for (const c of sink.all) {
      if (!c.complete) {
        expect(flagged.has(c.presentationIdx)).toBe(true);
        continue;
      }
      expect(flagged.has(c.presentationIdx)).toBe(false);
      const t = truth.get(`${codeOf.get(c.presentationIdx)}:${c.onsetSample}`)!;
      expect(t).toBeDefined();
      for (const u of t.units)
        expect(c.units.find((x) => x.unit.electrode === u.electrode)?.bins ?? [0, 0]).toEqual(u.bins);
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
    expect(sim.stats.framesReceived).toBe(120);
  });
});
