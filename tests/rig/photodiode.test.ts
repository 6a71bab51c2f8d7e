/**
 * The photodiode's TTL edges matched to presentations (RIG_PROTOCOL.md section 3), fed to the decoder as the GUI sends
 * them: the first rising edge after a code's onset and before the next code's is the light onset; a presentation
 * without one has lightOnsetSample null; extra edges, edges before any code and a restart are handled.
 */
import { describe, expect, it } from "vitest";
import { OpenEphysStream } from "../../src/main/rig/openephys-stream.js";
import { encodeData, encodeTtl } from "../../src/main/rig/openephys-wire.js";
import { PhotodiodeMatcher, type LightOnsetRecord } from "../../src/main/rig/photodiode.js";
import { networkEventsStrobeLine } from "../../src/main/rig/ttl-codes.js";
import type { AcquisitionSink } from "../../src/main/rig/types.js";
import type { FaultRecord, PresentationCounts } from "../../src/main/store/types.js";

const sampleRate = 30000;
const line = 23;

class Sink implements AcquisitionSink {
  readonly lights: LightOnsetRecord[] = [];
  readonly counted: PresentationCounts[] = [];
  readonly faults: FaultRecord[] = [];
  counts(c: PresentationCounts): void {
    this.counted.push(c);
  }
  ttl(): void {}
  fault(f: FaultRecord): void {
    this.faults.push(f);
  }
  light(l: LightOnsetRecord): void {
    this.lights.push(l);
  }
}

function setup(strobe = false): {
  sink: Sink;
  stream: OpenEphysStream;
  send: (s: number, l: number, st: number, w: number) => void;
  data: (s: number) => void;
} {
  const sink = new Sink();
  const stream = new OpenEphysStream(sink, {
    sampleRate,
    countWindow: { startMs: 50, endMs: 150, bins: 1 },
    graceMs: 250,
    codeLines: { strobeLine: strobe ? networkEventsStrobeLine : undefined, maskedLines: [line] },
    photodiodeLine: line,
  });
  let num = 0;
  const send = (sampleNum: number, l: number, state: number, word: number): void =>
    stream.push(encodeTtl({ messageNum: ++num, sampleNum, line: l, state, word, timestampMs: 0 }));
  const data = (sampleNum: number): void =>
    stream.push(
      encodeData({ messageNum: ++num, channelNum: 0, sampleNum, sampleRate, timestampMs: 0 }, new Float32Array(1)),
    );
  return { sink, stream, send, data };
}

const pd = 2 ** line;

describe("photodiode edges matched to presentations", () => {
  it("takes the first rising edge after each code's onset; a presentation with none has no light", () => {
    const { sink, stream, send, data } = setup();
    stream.expect(0, 5);
    stream.expect(1, 6);
    stream.expect(2, 7);
    // code 5 on lines 0 and 2 at 1000; light at 1600 (with the code still set: the word carries both)
    send(1000, 0, 1, 5);
    send(1000, 2, 1, 5);
    send(1600, line, 1, 5 + pd);
    send(1650, line, 0, 5);
    send(1700, line, 1, 5 + pd); // a second flash: not the onset
    send(1720, line, 0, 5);
    send(4000, 0, 0, 0);
    send(4000, 2, 0, 0);
    // code 6 at 10000, no light before code 7 at 20000
    send(10000, 1, 1, 6);
    send(10000, 2, 1, 6);
    send(14000, 1, 0, 0);
    send(14000, 2, 0, 0);
    send(20000, 0, 1, 7);
    send(20000, 1, 1, 7);
    send(20000, 2, 1, 7);
    send(20450, line, 1, 7 + pd);
    data(60_000);
    expect(sink.faults).toEqual([]);
    expect(sink.lights).toEqual([
      { presentationIdx: 0, codeOnsetSample: 1000, lightOnsetSample: 1600, lightOffsetSample: 1650 },
      { presentationIdx: 1, codeOnsetSample: 10000, lightOnsetSample: null, lightOffsetSample: null },
      { presentationIdx: 2, codeOnsetSample: 20000, lightOnsetSample: 20450, lightOffsetSample: null },
    ]);
    // The photodiode's line never disturbed the codes: three onsets, every count final.
    expect(sink.counted.map((c) => [c.presentationIdx, c.onsetSample, c.complete])).toEqual([
      [0, 1000, true],
      [1, 10000, true],
      [2, 20000, true],
    ]);
  });

  it("with the Network Events strobe, ignores a light that came before the code's onset", () => {
    const { sink, stream, send, data } = setup(true);
    stream.expect(0, 3);
    send(500, line, 1, pd); // a flash before any code
    send(600, line, 0, 0);
    send(1000, 0, 1, 1);
    send(1000, 1, 1, 3);
    send(1010, networkEventsStrobeLine, 1, 3 + 2 ** 16);
    send(1500, line, 1, pd);
    data(40_000);
    expect(sink.lights).toEqual([
      { presentationIdx: 0, codeOnsetSample: 1010, lightOnsetSample: 1500, lightOffsetSample: null },
    ]);
  });

  it("forgets old edges and starts again after a restart", () => {
    const m = new PhotodiodeMatcher(line);
    for (let i = 0; i < 2000; i++) m.edge(i * 10, i % 2 === 0 ? 1 : 0);
    m.codeOnset(5);
    expect(m.resolve(0, 5)).toMatchObject({ lightOnsetSample: 20, lightOffsetSample: 30 });
    m.forgetBelow(10_000);
    expect(m.resolve(0, 5).lightOnsetSample).toBe(10_000);
    m.reset();
    expect(m.remembered).toBe(0);
    expect(() => new PhotodiodeMatcher(300)).toThrow(/outside 0..255/);
  });
});
