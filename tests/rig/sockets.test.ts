import { afterEach, describe, expect, it } from "vitest";
import { Reply, Subscriber } from "zeromq";
import { NetworkEventsOutput } from "../../src/main/rig/network-events.js";
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

async function startSim(opts: { faults?: SimFaults; displayEndpoint?: string; eventsPort?: number } = {}): Promise<SimRig> {
  const dataPort = await freePorts(2);
  const sim = new SimRig({
    host: "127.0.0.1",
    dataPort,
    sampleRate: 30000,
    eventCodes: opts.eventsPort === undefined ? { kind: "none" } : { kind: "network-events", host: "127.0.0.1", port: opts.eventsPort },
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
    const acq = new OpenEphysZmqAcquisition({ host: "127.0.0.1", dataPort: sim.dataPort, sampleRate: 30000, countWindow, heartbeatEveryMs: 50, heartbeatTimeoutMs: 200 });
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
    await waitFor(() => sink.links.lastIndexOf("connected") > sink.links.indexOf("degraded"), 5000, "the link to recover");
  });
});

describe("Network Events event codes", () => {
  it("confirms codes, reports a missing rig as unconfirmed and recovers with a fresh REQ socket", async () => {
    const port = await freePorts(1);
    const out = new NetworkEventsOutput({ host: "127.0.0.1", port, replyTimeoutMs: 100 });
    cleanups.push(() => out.close());
    await out.open();
    const lost = await out.send(3);
    expect(lost.confirmed).toBe(false);
    expect(lost.message).toMatch(/no reply from Network Events/);
    const rep = new Reply({ linger: 0 });
    await rep.bind(`tcp://127.0.0.1:${port}`);
    cleanups.push(() => rep.close());
    const received: string[] = [];
    void (async () => {
      try {
        for await (const [msg] of rep) {
          received.push(msg!.toString());
          await rep.send("TTLHandled");
        }
      } catch {
        // closed at the end of the test
      }
    })();
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) ok = (await out.send(4)).confirmed;
    expect(ok).toBe(true);
    await out.clear();
    expect(received).toContain("TTL Word=4");
    expect(received[received.length - 1]).toBe("TTL Word=0");
  });
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
    expect(JSON.parse(json!.toString())).toEqual({ v: 1, seq: 17, code: 4242, duration_ms: 100, width: 16, height: 16, channels: 3, dtype: "uint8", screen: { width: 16, height: 16, x: 0, y: 0 } });
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
    const sim = await startSim({ displayEndpoint, eventsPort, faults: { malformedFraction: 0.01, stallAfterPresentations: 40, stallMs: 300 } });
    const acq = new OpenEphysZmqAcquisition({ host: "127.0.0.1", dataPort: sim.dataPort, sampleRate: 30000, countWindow });
    const sink = new Collect();
    await acq.start(sink);
    cleanups.push(() => acq.stop());
    const display = new VirtualDisplay({ endpoint: displayEndpoint, waitForSubscriberMs: 2000 });
    await display.open();
    cleanups.push(() => display.close());
    const codes = new NetworkEventsOutput({ host: "127.0.0.1", port: eventsPort, replyTimeoutMs: 500 });
    await codes.open();
    cleanups.push(() => codes.close());
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
      for (const u of t.units) expect(c.units.find((x) => x.unit.electrode === u.electrode)?.bins ?? [0, 0]).toEqual(u.bins);
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
    expect(sim.stats.framesReceived).toBe(120);
  });
});
