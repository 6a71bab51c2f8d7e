import { describe, expect, it } from "vitest";
import { OpenEphysStream } from "../../src/main/rig/openephys-stream.js";
import { encodeData, encodeSpike, encodeTtl, eventEnvelope } from "../../src/main/rig/openephys-wire.js";
import { networkEventsStrobeLine, type CodeLines } from "../../src/main/rig/ttl-codes.js";
import type { AcquisitionSink } from "../../src/main/rig/types.js";
import type { FaultRecord, PresentationCounts, TtlOnsetRecord, UnitKey } from "../../src/main/store/types.js";

// 30 kHz: window [50, 150) ms = samples [1500, 4500) after onset; grace 250 ms = 7500 samples.
const sampleRate = 30000;

class RecordingSink implements AcquisitionSink {
  readonly countsList: PresentationCounts[] = [];
  readonly ttls: TtlOnsetRecord[] = [];
  readonly faults: FaultRecord[] = [];
  readonly units: UnitKey[] = [];
  counts(c: PresentationCounts): void {
    this.countsList.push(c);
  }
  ttl(t: TtlOnsetRecord): void {
    this.ttls.push(t);
  }
  fault(f: FaultRecord): void {
    this.faults.push(f);
  }
  unit(u: UnitKey): void {
    this.units.push(u);
  }
  countsOf(idx: number): PresentationCounts | undefined {
    return this.countsList.find((c) => c.presentationIdx === idx);
  }
  faultCodes(): string[] {
    return this.faults.map((f) => f.code);
  }
}

const waveform = new Float32Array(40);

/** Feeds messages with a running message_num, like a rig would. */
class Feeder {
  num = 0;
  constructor(readonly stream: OpenEphysStream) {}
  spike(sample: number, electrode = "Electrode 1", sortedId = 0): void {
    this.stream.push(
      encodeSpike({ messageNum: this.next(), electrode, sortedId, sampleNum: sample, timestampMs: 0 }, waveform),
    );
  }
  ttl(sample: number, word: number, line = 0, state?: number): void {
    this.stream.push(encodeTtl({ messageNum: this.next(), sampleNum: sample, word, line, state, timestampMs: 0 }));
  }
  /** A hardware word change as the GUI sends it: one event per changed bit, ascending, each with the whole new word. */
  word(sample: number, from: number, to: number): void {
    for (let bit = 0; bit < 32; bit++) {
      const was = (from >>> bit) & 1;
      const now = (to >>> bit) & 1;
      if (was !== now) this.ttl(sample, to, bit, now);
    }
  }
  data(sample: number, samples: number): void {
    this.stream.push(
      encodeData(
        { messageNum: this.next(), channelNum: 0, sampleNum: sample, sampleRate, timestampMs: 0 },
        new Float32Array(samples),
      ),
    );
  }
  skip(n: number): void {
    this.num += n;
  }
  /** The plugin's counter: signed 32-bit, wrapping. */
  next(): number {
    this.num = (this.num + 1) | 0;
    return this.num;
  }
}

function setup(bins = 1, codeLines?: CodeLines): { sink: RecordingSink; stream: OpenEphysStream; feed: Feeder } {
  const sink = new RecordingSink();
  const stream = new OpenEphysStream(sink, {
    sampleRate,
    countWindow: { startMs: 50, endMs: 150, bins },
    graceMs: 250,
    codeLines,
  });
  return { sink, stream, feed: new Feeder(stream) };
}

function bins(c: PresentationCounts | undefined, electrode = "Electrode 1"): number[] | undefined {
  return c?.units.find((u) => u.unit.electrode === electrode)?.bins;
}

describe("OpenEphysStream counting", () => {
  it("counts spikes that arrive before and after their TTL, with inclusive start and exclusive end", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 7);
    // Before the TTL (arrival order): in-window spikes at onset+1500 and onset+4499, out at onset+4500.
    feed.spike(11_500);
    feed.spike(14_499);
    feed.spike(14_500);
    feed.spike(11_499, "Electrode 2");
    feed.ttl(10_000, 7);
    feed.spike(12_000);
    feed.spike(13_000, "Electrode 2");
    expect(sink.countsList).toHaveLength(0);
    expect(stream.openPresentations).toBe(1);
    feed.spike(10_000 + 4500 + 7500 - 1);
    expect(sink.countsList).toHaveLength(0);
    feed.spike(10_000 + 4500 + 7500);
    const c = sink.countsOf(0)!;
    expect(c.complete).toBe(true);
    expect(c.onsetSample).toBe(10_000);
    expect(bins(c)).toEqual([3]);
    expect(bins(c, "Electrode 2")).toEqual([1]);
    expect(sink.ttls).toEqual([{ presentationIdx: 0, eventCode: 7, onsetSample: 10_000 }]);
    expect(sink.faults).toEqual([]);
    expect(sink.units.map((u) => u.electrode)).toEqual(["Electrode 1", "Electrode 2"]);
  });

  it("splits the window into equal bins", () => {
    const { sink, stream, feed } = setup(4);
    stream.expect(3, 9);
    feed.ttl(0, 9);
    for (const s of [1500, 2249, 2250, 3000, 3749, 3750, 4499]) feed.spike(s);
    feed.spike(20_000);
    expect(bins(sink.countsOf(3))).toEqual([2, 1, 2, 2]);
  });

  it("keeps overlapping windows apart and counts units by (electrode, sorted_id)", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 1);
    feed.ttl(0, 1);
    stream.expect(1, 2);
    feed.ttl(600, 2);
    feed.spike(1600, "E", 0);
    feed.spike(2200, "E", 1);
    feed.spike(4550, "E", 0);
    feed.spike(30_000, "E", 0);
    expect(bins(sink.countsOf(0), "E")).toEqual([1]);
    const c1 = sink.countsOf(1)!;
    expect(c1.units.find((u) => u.unit.sortedId === 0)!.bins).toEqual([1]);
    expect(c1.units.find((u) => u.unit.sortedId === 1)!.bins).toEqual([1]);
    expect(c1.complete).toBe(true);
  });

  it("flags counts incomplete on drain when the stream never passes the window", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 5);
    stream.expect(1, 6);
    feed.ttl(100, 5);
    feed.spike(2000);
    stream.flushIncomplete("before the test ended");
    expect(sink.countsOf(0)).toMatchObject({ complete: false, onsetSample: 100 });
    expect(sink.countsOf(1)).toMatchObject({ complete: false, onsetSample: null, units: [] });
    expect(sink.faultCodes()).toEqual(["counts-incomplete", "counts-incomplete"]);
    expect(stream.openPresentations).toBe(0);
  });
});

describe("OpenEphysStream faults", () => {
  it("turns a message_num jump into a message-gap fault naming the presentations whose windows overlap it", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 1);
    feed.ttl(0, 1);
    stream.expect(1, 2);
    feed.ttl(30_000, 2);
    feed.spike(31_600);
    feed.skip(3);
    feed.spike(32_000);
    feed.spike(60_000);
    expect(stream.stats.lostMessages).toBe(3);
    expect(stream.stats.gaps).toBe(1);
    const gap = sink.faults.find((f) => f.code === "message-gap")!;
    expect(gap.presentationIdxs).toEqual([1]);
    expect(sink.countsOf(1)!.complete).toBe(false);
    expect(sink.countsOf(0)!.complete).toBe(true);
  });

  it("flags a presentation whose TTL arrives after a gap that overlaps its window", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 1);
    feed.spike(1800);
    feed.skip(1);
    feed.spike(2000);
    feed.ttl(0, 1);
    feed.spike(60_000);
    expect(sink.faults.map((f) => [f.code, f.presentationIdxs])).toEqual([
      ["message-gap", []],
      ["message-gap", [0]],
    ]);
    expect(sink.countsOf(0)!.complete).toBe(false);
  });

  it("detects a rig restart, flags open windows and counts on the new clock", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 1);
    feed.ttl(500_000, 1);
    feed.spike(502_000);
    feed.num = 0;
    stream.expect(1, 2);
    feed.ttl(100, 2);
    feed.spike(2000);
    feed.spike(30_000);
    expect(stream.stats.restarts).toBe(1);
    const restart = sink.faults.find((f) => f.code === "rig-restart")!;
    expect(restart.presentationIdxs).toEqual([0]);
    expect(sink.countsOf(0)).toMatchObject({ complete: false, onsetSample: 500_000 });
    expect(sink.countsOf(1)).toMatchObject({ complete: true, onsetSample: 100 });
    expect(bins(sink.countsOf(1))).toEqual([1]);
    expect(sink.faultCodes()).toEqual(["rig-restart"]);
  });

  it("counts malformed frames, invalid JSON, unknown envelopes and oversized payloads without a spurious gap", () => {
    const sink = new RecordingSink();
    const stream = new OpenEphysStream(sink, {
      sampleRate,
      countWindow: { startMs: 50, endMs: 150, bins: 1 },
      maxFrameBytes: 1024,
    });
    const feed = new Feeder(stream);
    stream.expect(0, 1);
    feed.ttl(0, 1);
    feed.spike(1600);
    stream.push([eventEnvelope, Buffer.from("{not json"), Buffer.alloc(160)]);
    feed.num++;
    stream.push([Buffer.from("NOPE\0"), Buffer.from("{}")]);
    feed.num++;
    stream.push([eventEnvelope, Buffer.from("{}"), Buffer.alloc(4096)]);
    feed.num++;
    stream.push([eventEnvelope]);
    feed.num++;
    const short = encodeSpike(
      { messageNum: ++feed.num, electrode: "Electrode 1", sortedId: 0, sampleNum: 1700, timestampMs: 0 },
      waveform,
    );
    stream.push([short[0]!, short[1]!, short[2]!.subarray(0, 10)]);
    feed.spike(2000);
    feed.spike(60_000);
    expect(stream.stats).toMatchObject({
      invalidJson: 1,
      unknownEnvelopes: 1,
      oversizedPayloads: 1,
      malformedFrames: 2,
      lostMessages: 0,
      gaps: 0,
    });
    expect(new Set(sink.faultCodes())).toEqual(
      new Set(["invalid-json", "unknown-envelope", "oversized-payload", "malformed-frame"]),
    );
    for (const f of sink.faults) expect(f.presentationIdxs).toEqual([0]);
    const c = sink.countsOf(0)!;
    expect(c.complete).toBe(false);
    expect(bins(c)).toEqual([2]);
  });

  it("flags an out-of-order TTL and keeps counting", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 1);
    feed.ttl(10_000, 1);
    stream.expect(1, 2);
    feed.ttl(9_000, 2);
    feed.spike(11_000);
    feed.spike(60_000);
    expect(stream.stats.ttlOutOfOrder).toBe(1);
    const f = sink.faults.find((x) => x.code === "ttl-out-of-order")!;
    expect(f.presentationIdxs).toEqual([1]);
    expect(sink.countsOf(0)!.complete).toBe(true);
    expect(sink.countsOf(1)!.complete).toBe(false);
  });

  it("records duplicate and unexpected codes without changing stored onsets, and ignores partial words", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 5);
    feed.ttl(0, 5);
    feed.ttl(300, 5);
    feed.ttl(400, 0);
    feed.ttl(500, 77);
    stream.expect(1, 6);
    feed.ttl(600, 4);
    feed.ttl(601, 6);
    feed.spike(60_000);
    expect(stream.stats).toMatchObject({ duplicateCodes: 1, unexpectedCodes: 1, partialWords: 1 });
    expect(sink.faults.map((f) => [f.code, f.presentationIdxs])).toEqual([
      ["duplicate-code", [0]],
      ["unexpected-code", []],
    ]);
    expect(sink.countsOf(0)).toMatchObject({ onsetSample: 0, complete: true });
    expect(sink.countsOf(1)).toMatchObject({ onsetSample: 601, complete: true });
  });

  it("flags a presentation whose TTL never arrived once a later one's does", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 1);
    stream.expect(1, 2);
    feed.ttl(100, 2);
    expect(sink.countsOf(0)).toMatchObject({ complete: false, onsetSample: null });
    expect(sink.faults[0]).toMatchObject({ code: "counts-incomplete", presentationIdxs: [0] });
    expect(stream.openPresentations).toBe(1);
  });

  it("keeps bounded spike buffers under a long stream", () => {
    const { sink, stream, feed } = setup();
    for (let s = 0; s < 3_000_000; s += 30) feed.spike(s);
    stream.expect(0, 3);
    feed.ttl(3_000_000, 3);
    for (let s = 3_000_000; s < 3_020_000; s += 30) feed.spike(s);
    expect(bins(sink.countsOf(0))).toEqual([100]);
    expect(sink.faults).toEqual([]);
  });
});

describe("OpenEphysStream and the real GUI's habits", () => {
  it(
    "takes a hardware word change sent as one event per changed bit as one onset; the code again at a later " +
      "sample is a fault",
    () => {
      const { sink, stream, feed } = setup();
      stream.expect(0, 5);
      feed.word(1000, 0, 5);
      feed.spike(3000);
      feed.word(4000, 5, 0);
      stream.expect(1, 6);
      feed.word(6000, 0, 6);
      feed.word(6500, 6, 7);
      feed.word(9000, 7, 0);
      feed.spike(60_000);
      expect(sink.ttls.filter((t) => t.presentationIdx !== null)).toEqual([
        { presentationIdx: 0, eventCode: 5, onsetSample: 1000 },
        { presentationIdx: 1, eventCode: 6, onsetSample: 6000 },
      ]);
      expect(stream.stats.sameSampleEvents).toBe(2);
      expect(bins(sink.countsOf(0))).toEqual([1]);
      // 6 -> 7 (line 0 up) is code 7, which nobody sent.
      expect(sink.faults.map((f) => f.code)).toEqual(["unexpected-code"]);
      // Code 5 again (both of its bits' events at one later sample): one duplicate fault.
      feed.word(20_000, 0, 5);
      expect(sink.faults.map((f) => [f.code, f.presentationIdxs])).toEqual([
        ["unexpected-code", []],
        ["duplicate-code", [0]],
      ]);
    },
  );

  it("lets lines come down one at a time through earlier codes' words without a fault", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 4);
    feed.ttl(100, 4, 2, 1);
    stream.expect(1, 7);
    feed.ttl(9000, 0, 2, 0);
    // Progressive words on the way up (1, 3) are parts of the pending code; on the way down (6, then 4, a recent code)
    // clears.
    feed.ttl(12_000, 1, 0, 1);
    feed.ttl(12_000, 3, 1, 1);
    feed.ttl(12_000, 7, 2, 1);
    feed.ttl(20_000, 6, 0, 0);
    feed.ttl(20_000, 4, 1, 0);
    feed.ttl(20_000, 0, 2, 0);
    feed.spike(60_000);
    expect(sink.faults).toEqual([]);
    expect(sink.countsOf(1)).toMatchObject({ onsetSample: 12_000, complete: true });
  });

  it("with Network Events takes the strobe's rising edge as the onset, the word with bit 16 masked as the code", () => {
    const strobe = 2 ** networkEventsStrobeLine;
    const { sink, stream, feed } = setup(1, { strobeLine: networkEventsStrobeLine });
    stream.expect(0, 5);
    // Code lines rise one per command (the word after each change), then the strobe; a later block lowers them.
    feed.ttl(960, 1, 0, 1);
    feed.ttl(960, 5, 2, 1);
    feed.ttl(1440, 5 + strobe, networkEventsStrobeLine, 1);
    feed.spike(3500);
    feed.ttl(4800, 5, networkEventsStrobeLine, 0);
    feed.ttl(4800, 4, 0, 0);
    feed.ttl(4800, 0, 2, 0);
    stream.expect(1, 4);
    feed.ttl(6240, 4, 2, 1);
    feed.ttl(6240, 4 + strobe, networkEventsStrobeLine, 1);
    feed.spike(60_000);
    expect(sink.faults).toEqual([]);
    expect(sink.countsOf(0)).toMatchObject({ onsetSample: 1440, complete: true });
    expect(bins(sink.countsOf(0))).toEqual([1]);
    expect(sink.countsOf(1)).toMatchObject({ onsetSample: 6240, complete: true });
    expect(sink.ttls.map((t) => t.eventCode)).toEqual([5, 4]);
    // A strobe whose word is no code sent, and the same code's strobe again later, are faults.
    feed.ttl(20_000, 9 + strobe, networkEventsStrobeLine, 1);
    feed.ttl(20_100, 4 + strobe, networkEventsStrobeLine, 1);
    expect(sink.faults.map((f) => f.code)).toEqual(["unexpected-code", "duplicate-code"]);
  });

  it("masks the photodiode's line out of the word and never takes its edges for codes", () => {
    const pd = 23;
    const light = 2 ** pd;
    const { sink, stream, feed } = setup(1, { maskedLines: [pd] });
    stream.expect(0, 3);
    feed.ttl(500, light, pd, 1);
    feed.ttl(1000, light + 1, 0, 1);
    feed.ttl(1000, light + 3, 1, 1);
    feed.ttl(1200, 3, pd, 0);
    feed.ttl(1900, 3 + light, pd, 1);
    feed.spike(60_000);
    expect(sink.faults).toEqual([]);
    expect(sink.countsOf(0)).toMatchObject({ onsetSample: 1000, complete: true });
  });

  it("makes counts final from DATA messages alone: the rig clock is sample_num + num_samples", () => {
    const { sink, stream, feed } = setup();
    stream.expect(0, 2);
    feed.ttl(0, 2);
    feed.spike(2000);
    const deadline = 4500 + 7500;
    for (let s = 0; s + 1024 <= deadline; s += 1024) feed.data(s, 1024);
    expect(sink.countsList).toHaveLength(0);
    feed.data(deadline - 1, 1);
    expect(sink.countsOf(0)).toMatchObject({ complete: true, onsetSample: 0 });
    expect(bins(sink.countsOf(0))).toEqual([1]);
    expect(stream.stats.dataMessages).toBeGreaterThan(10);
    expect(sink.faults).toEqual([]);
  });

  it(
    "flags a window a lost spike may have fallen in even when the next message is a DATA block that lags the " +
      "spikes",
    () => {
      const { sink, stream, feed } = setup();
      stream.expect(0, 2);
      feed.ttl(2950, 2);
      feed.spike(4480);
      // A spike at about 4500 (in the window [4450, 7450)) is lost; the next message is DATA for a block ending at
      // 4000.
      feed.skip(1);
      feed.data(3489, 512);
      feed.spike(60_000);
      expect(sink.countsOf(0)).toMatchObject({ complete: false, onsetSample: 2950 });
      expect(sink.faults.map((f) => [f.code, f.presentationIdxs])).toEqual([["message-gap", [0]]]);
    },
  );

  it(
    "follows message_num across the signed 32-bit wrap: no restart, no gap, and a loss across it counted " + "exactly",
    () => {
      const { sink, stream, feed } = setup();
      feed.num = 2 ** 31 - 4;
      stream.expect(0, 1);
      feed.ttl(0, 1);
      feed.spike(1600);
      feed.spike(1700);
      expect(feed.num).toBe(2 ** 31 - 1);
      feed.spike(1800);
      expect(feed.num).toBe(-(2 ** 31));
      feed.spike(1900);
      expect(stream.stats).toMatchObject({ restarts: 0, gaps: 0, lostMessages: 0 });
      feed.num += 2;
      feed.spike(2000);
      feed.spike(60_000);
      expect(stream.stats).toMatchObject({ restarts: 0, gaps: 1, lostMessages: 2 });
      expect(bins(sink.countsOf(0))).toEqual([5]);
      expect(sink.faults.map((f) => f.code)).toEqual(["message-gap"]);
      // A small number after a wrapped (negative) one is a restart, not two billion lost messages.
      feed.num = 0;
      feed.spike(100);
      expect(stream.stats).toMatchObject({ restarts: 1, lostMessages: 2 });
    },
  );

  it("refuses a pre-0.3 ZMQ Interface (message_no) once, naming the versions needed", () => {
    const { sink, stream } = setup();
    stream.expect(0, 1);
    for (let i = 1; i <= 50; i++) {
      const header = JSON.stringify({
        message_no: i,
        type: "event",
        content: { type: 3, sample_num: i * 100, event_id: 1, event_channel: 0 },
        data_size: 0,
      });
      stream.push([eventEnvelope, Buffer.from(header)]);
    }
    expect(sink.faults).toHaveLength(1);
    expect(sink.faults[0]).toMatchObject({ code: "rig-incompatible", presentationIdxs: [0] });
    expect(sink.faults[0]!.message).toMatch(
      /older than 0\.3\.0 .* ZMQ Interface 0\.3\.0 or newer on Open Ephys GUI 0\.6 or newer/,
    );
    expect(stream.refused).toBe(sink.faults[0]!.message);
    expect(stream.stats).toMatchObject({ refusedMessages: 50, lostMessages: 0, malformedFrames: 0 });
  });

  it(
    "reads headers as JUCE writes them (CRLF, two-space indent) and refuses message_num outside the signed 32-bit " +
      "range",
    () => {
      const [, header] = encodeSpike(
        { messageNum: 1, electrode: "Tetrode 1", sortedId: 2, sampleNum: 10, timestampMs: 0, channels: 4 },
        new Float32Array(160),
      );
      expect(header!.toString()).toMatch(
        /^\{\r\n {2}"message_num": 1,\r\n {2}"type": "spike",\r\n {2}"spike": \{\r\n {4}"stream"/,
      );
      expect(header!.toString()).toContain(
        '"threshold": [\r\n      -50.0,\r\n      -50.0,\r\n      -50.0,\r\n      -50.0\r\n    ]\r\n  },',
      );
      const { sink, stream } = setup();
      stream.push([eventEnvelope, Buffer.from(JSON.stringify({ message_num: 2 ** 31, type: "spike" }))]);
      stream.push([eventEnvelope, Buffer.from(JSON.stringify({ message_num: 1.5, type: "spike" }))]);
      expect(stream.stats.malformedFrames).toBe(2);
      expect(sink.faults).toEqual([]);
    },
  );
});
