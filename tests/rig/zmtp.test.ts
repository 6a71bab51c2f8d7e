import { Publisher, Subscriber } from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { ZmtpSubscriber } from "../../src/main/rig/zmtp-subscriber.js";
import { readZmtpFrame, zmtpFrameHeader } from "../../src/main/rig/zmtp.js";
import { encodeSpike } from "../../src/main/rig/openephys-wire.js";
import { SpikeFramer } from "../../src/main/sim/spike-framer.js";
import { ZmtpPublisher } from "../../src/main/sim/zmtp-publisher.js";
import { freePorts, waitFor } from "./helpers.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const message = (i: number): Buffer[] => [
  Buffer.from("EVENT\0"),
  Buffer.from(JSON.stringify({ message_num: i })),
  Buffer.alloc(300, i % 256),
];

describe("ZMTP framing", () => {
  it("reads short and long frames, and waits for a frame split across chunks", () => {
    const long = Buffer.alloc(300, 7);
    const buf = Buffer.concat([
      zmtpFrameHeader(3, true),
      Buffer.from("abc"),
      zmtpFrameHeader(long.length, false),
      long,
    ]);
    const first = readZmtpFrame(buf, 0)!;
    expect(first.body.toString()).toBe("abc");
    expect(first.more).toBe(true);
    const second = readZmtpFrame(buf, first.next)!;
    expect(second.body.length).toBe(300);
    expect(second.more).toBe(false);
    expect(readZmtpFrame(buf.subarray(0, buf.length - 1), first.next)).toBeUndefined();
    expect(() => readZmtpFrame(buf, first.next, 100)).toThrow(/exceeds the 100-byte limit/);
  });
});

describe("ZMTP peers interoperate with libzmq", () => {
  it("our SUB reader receives every multipart message of a libzmq PUB", async () => {
    const port = await freePorts(1);
    const pub = new Publisher({ linger: 0 });
    await pub.bind(`tcp://127.0.0.1:${port}`);
    cleanups.push(() => pub.close());
    const got: Buffer[][] = [];
    const sub = new ZmtpSubscriber({ host: "127.0.0.1", port, onMessage: (frames) => got.push(frames) });
    sub.start();
    cleanups.push(() => sub.stop());
    // A PUB drops messages until the subscription has arrived: send a probe until one gets through.
    const deadline = Date.now() + 5000;
    while (got.length === 0) {
      if (Date.now() > deadline) throw new Error("the subscription never reached the libzmq PUB");
      await pub.send(message(0));
      await new Promise((r) => setTimeout(r, 10));
    }
    const before = got.length;
    for (let i = 1; i <= 500; i++) await pub.send(message(i));
    await waitFor(() => got.length === before + 500, 5000, "500 messages");
    const last = got[got.length - 1]!;
    expect(last).toHaveLength(3);
    expect(JSON.parse(last[1]!.toString())).toEqual({ message_num: 500 });
    expect(last[2]!.equals(Buffer.alloc(300, 500 % 256))).toBe(true);
  });

  it("our batched PUB reaches a libzmq SUB and our SUB reader alike", async () => {
    const port = await freePorts(1);
    const pub = new ZmtpPublisher();
    await pub.bind("127.0.0.1", port);
    cleanups.push(() => pub.close());
    const zmqSub = new Subscriber({ linger: 0 });
    zmqSub.connect(`tcp://127.0.0.1:${port}`);
    zmqSub.subscribe();
    cleanups.push(() => zmqSub.close());
    const ours: Buffer[][] = [];
    const sub = new ZmtpSubscriber({ host: "127.0.0.1", port, onMessage: (frames) => ours.push(frames) });
    sub.start();
    cleanups.push(() => sub.stop());
    const fromZmq: Buffer[][] = [];
    let receiving = true;
    const receiver = (async () => {
      while (receiving) fromZmq.push(await zmqSub.receive());
    })().catch(() => {});
    const numberedOf = (list: Buffer[][]): number[] =>
      list
        .filter((m) => m.length === 3)
        .map((m) => (JSON.parse(m[1]!.toString()) as { message_num: number }).message_num);
    // Publish probes until both subscribers have subscribed, then exactly 200 numbered messages.
    await waitFor(
      () => {
        pub.queue([Buffer.from("probe")]);
        pub.flush();
        return ours.length > 0 && fromZmq.length > 0;
      },
      5000,
      "both subscribers to subscribe",
    );
    for (let i = 1; i <= 200; i++) pub.queue(message(i));
    pub.flush();
    await waitFor(
      () => numberedOf(ours).length === 200 && numberedOf(fromZmq).length === 200,
      5000,
      "200 messages at both subscribers",
    );
    receiving = false;
    zmqSub.close();
    await receiver;
    const expected = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(numberedOf(fromZmq)).toEqual(expected);
    expect(numberedOf(ours)).toEqual(expected);
    expect(ours.find((m) => m.length === 3)![2]!.equals(Buffer.alloc(300, 1))).toBe(true);
  });

  it("spikes framed in place reach a libzmq SUB in order with queued messages, as encodeSpike frames", async () => {
    const port = await freePorts(1);
    const pub = new ZmtpPublisher();
    await pub.bind("127.0.0.1", port);
    cleanups.push(() => pub.close());
    const zmqSub = new Subscriber({ linger: 0 });
    zmqSub.connect(`tcp://127.0.0.1:${port}`);
    zmqSub.subscribe();
    cleanups.push(() => zmqSub.close());
    const got: Buffer[][] = [];
    let receiving = true;
    const receiver = (async () => {
      while (receiving) got.push(await zmqSub.receive());
    })().catch(() => {});
    await waitFor(
      () => {
        pub.queue([Buffer.from("probe")]);
        pub.flush();
        return got.length > 0;
      },
      5000,
      "the subscriber to subscribe",
    );
    const wave = Float32Array.from({ length: 40 }, (_, i) => i / 7);
    const fields = { electrode: "Electrode 3", sortedId: 2, sourceNode: 104 };
    const framer = new SpikeFramer([fields], [[wave]]);
    // Enough spikes to outgrow the publisher's first chunk, a general message between every 1,000.
    const expected: Buffer[][] = [];
    for (let i = 1; i <= 5000; i++) {
      if (i % 1000 === 0) {
        pub.queue(message(i));
        expected.push(message(i));
      }
      framer.write(pub, 0, 0, i, 30 * i, 1000 + i);
      expected.push(encodeSpike({ ...fields, messageNum: i, sampleNum: 30 * i, timestampMs: 1000 + i }, wave));
    }
    pub.flush();
    await waitFor(() => got.filter((m) => m.length === 3).length === 5005, 5000, "5005");
    receiving = false;
    zmqSub.close();
    await receiver;
    const received = got.filter((m) => m.length === 3);
    expect(received).toHaveLength(expected.length);
    received.forEach((m, i) => expect(Buffer.concat(m).equals(Buffer.concat(expected[i]!))).toBe(true));
  });
});
