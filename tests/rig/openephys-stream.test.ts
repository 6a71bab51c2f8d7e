import { describe, expect, it } from "vitest";
import { OpenEphysStream } from "../../src/main/rig/openephys-stream.js";
import { encodeSpike, encodeTtl, eventEnvelope } from "../../src/main/rig/openephys-wire.js";
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
    this.stream.push(encodeSpike({ messageNum: ++this.num, electrode, sortedId, sampleNum: sample, timestampMs: 0 }, waveform));
  }
  ttl(sample: number, word: number): void {
    this.stream.push(encodeTtl({ messageNum: ++this.num, sampleNum: sample, word, timestampMs: 0 }));
  }
  skip(n: number): void {
    this.num += n;
  }
}

function setup(bins = 1): { sink: RecordingSink; stream: OpenEphysStream; feed: Feeder } {
  const sink = new RecordingSink();
  const stream = new OpenEphysStream(sink, { sampleRate, countWindow: { startMs: 50, endMs: 150, bins }, graceMs: 250 });
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
    const stream = new OpenEphysStream(sink, { sampleRate, countWindow: { startMs: 50, endMs: 150, bins: 1 }, maxFrameBytes: 1024 });
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
    const short = encodeSpike({ messageNum: ++feed.num, electrode: "Electrode 1", sortedId: 0, sampleNum: 1700, timestampMs: 0 }, waveform);
    stream.push([short[0]!, short[1]!, short[2]!.subarray(0, 10)]);
    feed.spike(2000);
    feed.spike(60_000);
    expect(stream.stats).toMatchObject({ invalidJson: 1, unknownEnvelopes: 1, oversizedPayloads: 1, malformedFrames: 2, lostMessages: 0, gaps: 0 });
    expect(new Set(sink.faultCodes())).toEqual(new Set(["invalid-json", "unknown-envelope", "oversized-payload", "malformed-frame"]));
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
