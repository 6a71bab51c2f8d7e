import { describe, expect, it } from "vitest";
import { encodeSpike } from "../rig/openephys-wire.js";
import { zmtpFrameHeader } from "../rig/zmtp.js";
import { SpikeFramer, type ByteSink } from "./spike-framer.js";

/** The general path: each frame with its ZMTP header, MORE on all but the last. */
function framed(frames: Buffer[]): Buffer {
  return Buffer.concat(frames.flatMap((f, i) => [zmtpFrameHeader(f.length, i < frames.length - 1), f]));
}

class Sink implements ByteSink {
  buf = Buffer.alloc(4096);
  used = 0;
  room(bytes: number) {
    if (this.buf.length - this.used < bytes) {
      const grown = Buffer.alloc(this.used + bytes);
      this.buf.copy(grown);
      this.buf = grown;
    }
    return { buf: this.buf, at: this.used };
  }
  advance(bytes: number) {
    this.used += bytes;
  }
}

const waves = [
  Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)),
  Float32Array.from({ length: 40 }, (_, i) => -i),
];

describe("SpikeFramer", () => {
  const fields = [
    { electrode: "Electrode 1", sortedId: 1, sourceNode: 104 },
    { electrode: "TT 3", sortedId: 7, sourceNode: 104, stream: "Rhythm Data" },
  ];
  const framer = new SpikeFramer(fields, [waves, waves]);

  it("writes the same bytes as encodeSpike framed by zmtpFrameHeader", () => {
    const cases = [
      { unit: 0, variant: 0, messageNum: 1, sampleNum: 0, timestampMs: 0 },
      { unit: 1, variant: 1, messageNum: -2147483648, sampleNum: 123456789012, timestampMs: 1_765_000_000_123.6 },
      { unit: 0, variant: 3, messageNum: 2147483647, sampleNum: 30000, timestampMs: 42.4 },
    ];
    for (const c of cases) {
      const sink = new Sink();
      framer.write(sink, c.unit, c.variant, c.messageNum, c.sampleNum, c.timestampMs);
      const expected = framed(encodeSpike({ ...fields[c.unit]!, ...c }, waves[c.variant % 2]!));
      expect(sink.buf.subarray(0, sink.used).equals(expected)).toBe(true);
    }
  });

  it("refuses a unit whose fixed fields contain a marker value, so it goes the general way", () => {
    const odd = new SpikeFramer([{ electrode: "1357913579", sortedId: 1 }], [waves]);
    expect(odd.handles(0)).toBe(false);
    expect(framer.handles(0)).toBe(true);
  });
});
