// The simulated rig behaves as the Open Ephys GUI does (RIG_PROTOCOL.md sections 1-2): Network Events' replies, one TTL
// event per line change or changed bit, DATA messages block by block, JUCE-formatted headers, the heartbeat's answers.
import { afterEach, describe, expect, it } from "vitest";
import { Request, Subscriber } from "zeromq";
import { SimNetworkEvents, type NetworkEventsHost } from "../../src/main/sim/network-events-sim.js";
import { builtinNeurons } from "../../src/main/sim/neurons.js";
import { SimRig, simNeuronsFrom } from "../../src/main/sim/sim-rig.js";
import { TtlChannel } from "../../src/main/sim/ttl-channel.js";
import { freePorts, waitFor } from "./helpers.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function host(): NetworkEventsHost & { on: boolean; lines: [number, number][]; words: number[] } {
  const h = {
    on: true,
    lines: [] as [number, number][],
    words: [] as number[],
    acquiring: () => h.on,
    setAcquiring: (on: boolean) => void (h.on = on),
    line: (line: number, state: 0 | 1) => void h.lines.push([line, state]),
    word: (code: number) => void h.words.push(code),
  };
  return h;
}

describe("simulated Network Events plugin", () => {
  it("answers as NetworkEvents.cpp does", () => {
    const h = host();
    const plugin = new SimNetworkEvents(h);
    expect(plugin.handle("TTL Line=3 State=1")).toBe("TTLHandled: Line=3 State=1");
    expect(plugin.handle("ttl line=17 state=0")).toBe("TTLHandled: Line=17 State=0");
    expect(plugin.handle("TTL Line=257 State=1")).toBe("InvalidChannel");
    expect(plugin.handle("TTL Line=0 State=1")).toBe("InvalidChannel");
    // No word command: the plugin reads `TTL Word=5` as line 1 off.
    expect(plugin.handle("TTL Word=5")).toBe("TTLHandled: Line=1 State=0");
    expect(plugin.handle("IsAcquiring")).toBe("1");
    expect(plugin.handle('StartRecord PrependText=abc_ RecDir="/data/my rig"')).toBe("StartedRecording");
    expect(plugin.handle("StartRecord")).toBe("NotHandled");
    expect(plugin.recordings).toEqual([{ PrependText: "abc_", RecDir: "/data/my rig" }]);
    expect(plugin.handle("StopRecord")).toBe("StoppedRecording");
    expect(plugin.handle("Hello")).toBe("NotHandled");
    expect(h.lines).toEqual([
      [2, 1],
      [16, 0],
      [0, 0],
    ]);
    h.on = false;
    expect(plugin.handle("IsAcquiring")).toBe("0");
    expect(plugin.handle("TTL Line=2 State=1")).toBe("TTLHandled: Line=2 State=1");
    expect(h.lines).toHaveLength(3);
    expect(plugin.handle("StartAcquisition")).toBe("StartedAcquisition");
    expect(h.on).toBe(true);
  });

  it("answers the old word command only in its test mode", () => {
    const h = host();
    const plugin = new SimNetworkEvents(h, { wordCommand: true });
    expect(plugin.handle("TTL Word=5")).toBe("TTLHandled: Word=5");
    expect(h.words).toEqual([5]);
    expect(h.lines).toEqual([]);
  });

  it("a TTL channel sends one event per changed bit, ascending, each with the whole new word", () => {
    const ch = new TtlChannel();
    expect(ch.setWord(5)).toEqual([
      { line: 0, state: 1, word: 5 },
      { line: 2, state: 1, word: 5 },
    ]);
    expect(ch.setWord(6)).toEqual([
      { line: 0, state: 0, word: 6 },
      { line: 1, state: 1, word: 6 },
    ]);
    expect(ch.setLine(16, 1)).toEqual({ line: 16, state: 1, word: 6 + 2 ** 16 });
    expect(ch.setLine(16, 1)).toEqual({ line: 16, state: 1, word: 6 + 2 ** 16 });
  });
});

interface Message {
  envelope: string;
  header: string;
  json: Record<string, unknown>;
  payload: Buffer | undefined;
}

async function simOnSockets(
  wordCommand = false,
): Promise<{ sim: SimRig; messages: Message[]; dataPort: number; eventsPort: number }> {
  const dataPort = await freePorts(2);
  const eventsPort = await freePorts(1);
  const sim = new SimRig({
    host: "127.0.0.1",
    dataPort,
    sampleRate: 30000,
    eventCodes: { kind: "network-events", host: "127.0.0.1", port: eventsPort, wordCommand },
    neurons: simNeuronsFrom(builtinNeurons(2, 3)),
    seed: 3,
    countWindow: { startMs: 50, endMs: 150, bins: 1 },
  });
  const sub = new Subscriber({ linger: 0 });
  sub.connect(`tcp://127.0.0.1:${dataPort}`);
  sub.subscribe();
  await sim.start();
  cleanups.push(() => sim.stop());
  cleanups.push(() => sub.close());
  const messages: Message[] = [];
  void (async () => {
    try {
      for await (const [envelope, header, payload] of sub) {
        messages.push({
          envelope: envelope!.toString("latin1"),
          header: header!.toString("utf8"),
          json: JSON.parse(header!.toString("utf8")) as Record<string, unknown>,
          payload,
        });
      }
    } catch {
      // closed at the end of the test
    }
  })();
  await waitFor(() => messages.length > 0, 5000, "the first message");
  return { sim, messages, dataPort, eventsPort };
}

async function request(req: Request, text: string): Promise<string> {
  await req.send(text);
  const [reply] = await req.receive();
  return reply!.toString("utf8");
}

function ttlEvents(messages: Message[]): { sample: number; line: number; state: number; word: number }[] {
  return messages
    .filter((m) => m.json.type === "event")
    .map((m) => ({
      sample: (m.json.content as { sample_num: number }).sample_num,
      line: m.payload![0]!,
      state: m.payload![1]!,
      word: Number(m.payload!.readBigUInt64LE(2)),
    }));
}

describe("simulated rig on sockets", () => {
  it(
    "sends JUCE headers, DATA blocks for 4 channels, one TTL event per Network Events line, and the heartbeat's " +
      "three answers",
    async () => {
      const { sim, messages, dataPort, eventsPort } = await simOnSockets();
      const req = new Request({ linger: 0, receiveTimeout: 2000 });
      req.connect(`tcp://127.0.0.1:${eventsPort}`);
      cleanups.push(() => req.close());
      expect(await request(req, "IsAcquiring")).toBe("1");
      for (const cmd of ["TTL Line=1 State=1", "TTL Line=3 State=1", "TTL Line=17 State=1"])
        expect(await request(req, cmd)).toBe(`TTLHandled: ${cmd.slice(4)}`);
      await waitFor(() => ttlEvents(messages).length >= 3, 5000, "three TTL events");
      const ttls = ttlEvents(messages);
      expect(ttls.map(({ line, state, word }) => [line, state, word])).toEqual([
        [0, 1, 1],
        [2, 1, 5],
        [16, 1, 5 + 2 ** 16],
      ]);
      expect(sim.stats.codesReceived).toBe(1);
      await waitFor(() => messages.filter((m) => m.envelope === "DATA\0").length >= 8, 5000, "two blocks of DATA");
      type Content = { content: { channel_num: number; num_samples: number; sample_num: number; sample_rate: number } };
      const data = messages.filter((m) => m.envelope === "DATA\0");
      const channel0 = data.filter((m) => (m.json as Content).content.channel_num === 0);
      const first = channel0[0]!.json as Content;
      expect(first.content).toMatchObject({ channel_num: 0, sample_rate: 30000 });
      expect(first.content.num_samples).toBeGreaterThanOrEqual(512);
      expect(channel0[0]!.payload!.byteLength).toBe(first.content.num_samples * 4);
      // Blocks follow each other without a gap, four channels each.
      expect((channel0[1]!.json as Content).content.sample_num).toBe(
        first.content.sample_num + first.content.num_samples,
      );
      expect(
        data
          .slice(data.indexOf(channel0[0]!), data.indexOf(channel0[0]!) + 4)
          .map((m) => (m.json as Content).content.channel_num),
      ).toEqual([0, 1, 2, 3]);
      expect(data[0]!.header).toMatch(
        /^\{\r\n {2}"message_num": \d+,\r\n {2}"type": "data",\r\n {2}"content": \{\r\n {4}"stream"/,
      );
      expect(data[0]!.header).toContain('"sample_rate": 30000.0');
      expect(messages.map((m) => m.json.message_num)).toEqual(
        messages.map((_, i) => (messages[0]!.json.message_num as number) + i),
      );
      const hb = new Request({ linger: 0, receiveTimeout: 2000 });
      hb.connect(`tcp://127.0.0.1:${dataPort + 1}`);
      cleanups.push(() => hb.close());
      expect(await request(hb, JSON.stringify({ application: "t", uuid: "u", type: "heartbeat" }))).toBe(
        "heartbeat received",
      );
      expect(
        await request(hb, JSON.stringify({ application: "t", uuid: "u", type: "event", event: { type: 3 } })),
      ).toBe("message correctly parsed");
      expect(await request(hb, "not json")).toBe("JSON message could not be read");
    },
  );

  it("in its test-only word mode sets the whole word at once, one event per changed bit at one sample", async () => {
    const { messages, eventsPort } = await simOnSockets(true);
    const req = new Request({ linger: 0, receiveTimeout: 2000 });
    req.connect(`tcp://127.0.0.1:${eventsPort}`);
    cleanups.push(() => req.close());
    expect(await request(req, "TTL Word=5")).toBe("TTLHandled: Word=5");
    await waitFor(() => ttlEvents(messages).length >= 2, 5000, "two TTL events");
    const [a, b] = ttlEvents(messages);
    expect([a!.line, a!.word, b!.line, b!.word]).toEqual([0, 5, 2, 5]);
    expect(a!.sample).toBe(b!.sample);
  });
});
