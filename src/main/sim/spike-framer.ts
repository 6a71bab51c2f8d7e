import { encodeSpike, type SpikeFields } from "../rig/openephys-wire.js";
import { zmtpFrameHeader } from "../rig/zmtp.js";

/** Where framed bytes go: a buffer with room for `bytes` more at `at`, then `advance` past what was written. */
export interface ByteSink {
  room(bytes: number): { buf: Buffer; at: number };
  advance(bytes: number): void;
}

/** Marker values that cannot occur in a unit's fixed fields, split out of a template header. */
const markers = { messageNum: 1_357_913_579, sampleNum: 2_468_024_680, timestampMs: 975_319_753_197 } as const;

interface UnitTemplate {
  /** Header bytes between message_num and sample_num, between sample_num and timestamp. */
  afterMessageNum: Buffer;
  afterSampleNum: Buffer;
  /** Each waveform variant with its ZMTP frame header (the message's last frame). */
  waveforms: Buffer[];
}

/**
 * Spike messages of the simulated rig written straight into ZMTP frames, byte for byte what `encodeSpike` and
 * `zmtpFrameHeader` give (a test holds them equal), at a fraction of the cost: each unit's fixed header text is
 * encoded once, and only message_num, sample_num and timestamp are written per spike. At 100,000 spikes/s the
 * general path spent most of a core building strings and small buffers, and a simulated rig that lags its own
 * clock makes every latency the ingest benchmark reports look worse than the controller is.
 */
export class SpikeFramer {
  /** The envelope frame and the header text up to message_num; its first `envelopeBytes` are the envelope frame. */
  private readonly head: Buffer;
  private readonly envelopeBytes: number;
  private readonly tail: Buffer;
  private readonly units: (UnitTemplate | undefined)[];

  /** `fields`: each unit's fixed fields (electrode, sorted id, stream, source node); `waveforms`: its variants. */
  constructor(fields: Omit<SpikeFields, "messageNum" | "sampleNum" | "timestampMs">[], waveforms: Float32Array[][]) {
    let head: Buffer | undefined;
    let envelopeBytes = 0;
    let tail: Buffer | undefined;
    this.units = fields.map((f, u) => {
      const wf = waveforms[u]!;
      const frames = encodeSpike({ ...f, ...markers }, wf[0]!);
      const text = frames[1]!.toString("latin1");
      const parts = text.split(new RegExp(`${markers.messageNum}|${markers.sampleNum}|${markers.timestampMs}`));
      // A marker inside a fixed field (or non-Latin-1 text) would make the template ambiguous: that unit takes the
      // general path.
      if (parts.length !== 4 || Buffer.byteLength(text, "utf8") !== text.length) return undefined;
      if (head === undefined) {
        const envelope = zmtpFrame(frames[0]!, true);
        envelopeBytes = envelope.length;
        head = Buffer.concat([envelope, Buffer.from(parts[0]!, "latin1")]);
      }
      tail ??= Buffer.from(parts[3]!, "latin1");
      return {
        afterMessageNum: Buffer.from(parts[1]!, "latin1"),
        afterSampleNum: Buffer.from(parts[2]!, "latin1"),
        waveforms: wf.map((w) => zmtpFrame(Buffer.from(w.buffer, w.byteOffset, w.byteLength), false)),
      };
    });
    this.head = head ?? Buffer.alloc(0);
    this.envelopeBytes = envelopeBytes;
    this.tail = tail ?? Buffer.alloc(0);
  }

  /** False when a unit's messages must go the general way (`encodeSpike`). */
  handles(unit: number): boolean {
    return this.units[unit] !== undefined;
  }

  /** Writes one spike message's frames into `sink`. */
  write(sink: ByteSink, unit: number, variant: number, messageNum: number, sampleNum: number, timestampMs: number) {
    const t = this.units[unit]!;
    const m = String(messageNum);
    const s = String(sampleNum);
    const ts = String(Math.round(timestampMs));
    const wf = t.waveforms[variant % t.waveforms.length]!;
    const e = this.envelopeBytes;
    const headerLength =
      this.head.length -
      e +
      m.length +
      t.afterMessageNum.length +
      s.length +
      t.afterSampleNum.length +
      ts.length +
      this.tail.length;
    const long = headerLength >= 256;
    const { buf, at } = sink.room(e + (long ? 9 : 2) + headerLength + wf.length);
    let o = at;
    // The envelope frame, then the header frame's own header (ZMTP: flags with MORE, then a 1- or 8-byte size),
    // then the header text.
    o += this.head.copy(buf, o, 0, e);
    if (long) {
      buf[o] = 0x03;
      buf.writeUInt32BE(0, o + 1);
      buf.writeUInt32BE(headerLength, o + 5);
      o += 9;
    } else {
      buf[o] = 0x01;
      buf[o + 1] = headerLength;
      o += 2;
    }
    o += this.head.copy(buf, o, e);
    o += buf.write(m, o, "latin1");
    o += t.afterMessageNum.copy(buf, o);
    o += buf.write(s, o, "latin1");
    o += t.afterSampleNum.copy(buf, o);
    o += buf.write(ts, o, "latin1");
    o += this.tail.copy(buf, o);
    o += wf.copy(buf, o);
    sink.advance(o - at);
  }
}

function zmtpFrame(body: Buffer, more: boolean): Buffer {
  return Buffer.concat([zmtpFrameHeader(body.length, more), body]);
}
