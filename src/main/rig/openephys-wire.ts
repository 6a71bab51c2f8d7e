import type { CountWindow } from "../protocol/schema.js";

/** Envelopes of the Open Ephys ZMQ Interface (RIG_PROTOCOL.md section 1): the NUL is part of the frame. */
export const eventEnvelope = Buffer.from("EVENT\0", "latin1");
export const dataEnvelope = Buffer.from("DATA\0", "latin1");

/** Samples per spike waveform the simulated rig emits (Open Ephys' default spike length). */
export const waveformSamples = 40;

/** A count window on the rig's clock: sample offsets from the onset, bins, and the grace before counts are final. */
export interface SampleWindow {
  startSamples: number;
  endSamples: number;
  bins: number;
  graceSamples: number;
}

export function msToSamples(ms: number, sampleRate: number): number {
  return Math.round((ms * sampleRate) / 1000);
}

export function sampleWindow(window: CountWindow, sampleRate: number, graceMs: number): SampleWindow {
  return {
    startSamples: msToSamples(window.startMs, sampleRate),
    endSamples: msToSamples(window.endMs, sampleRate),
    bins: window.bins,
    graceSamples: msToSamples(graceMs, sampleRate),
  };
}

/** The bin a spike at `sample` falls in for a presentation with `onset`, or -1 outside the window; the simulator's ground truth uses the same rule. */
export function binOf(sample: number, onset: number, w: SampleWindow): number {
  const rel = sample - onset - w.startSamples;
  const span = w.endSamples - w.startSamples;
  if (rel < 0 || rel >= span) return -1;
  return Math.floor((rel * w.bins) / span);
}

export interface SpikeFields {
  messageNum: number;
  electrode: string;
  sortedId: number;
  sampleNum: number;
  timestampMs: number;
  stream?: string;
  sourceNode?: number;
}

/** A spike message exactly as the ZMQ Interface sends it: envelope, JSON header, float32 LE waveform. */
export function encodeSpike(s: SpikeFields, waveform: Float32Array): Buffer[] {
  const header =
    `{"message_num":${s.messageNum},"type":"spike","spike":{"stream":${JSON.stringify(s.stream ?? "example_data")},"source_node":${s.sourceNode ?? 104},` +
    `"electrode":${JSON.stringify(s.electrode)},"sample_num":${s.sampleNum},"num_channels":1,"num_samples":${waveform.length},"sorted_id":${s.sortedId},"threshold":[-50.0]},` +
    `"timestamp":${Math.round(s.timestampMs)}}`;
  return [eventEnvelope, Buffer.from(header, "utf8"), Buffer.from(waveform.buffer, waveform.byteOffset, waveform.byteLength)];
}

export interface TtlFields {
  messageNum: number;
  sampleNum: number;
  word: number;
  line?: number;
  state?: number;
  timestampMs: number;
  stream?: string;
  sourceNode?: number;
}

/** A TTL event message: envelope, JSON header, payload uint8 line, uint8 state, uint64 LE word. */
export function encodeTtl(t: TtlFields): Buffer[] {
  const header =
    `{"message_num":${t.messageNum},"type":"event","content":{"stream":${JSON.stringify(t.stream ?? "example_data")},"source_node":${t.sourceNode ?? 104},"type":3,"sample_num":${t.sampleNum}},` +
    `"data_size":10,"timestamp":${Math.round(t.timestampMs)}}`;
  const payload = Buffer.alloc(10);
  payload.writeUInt8(t.line ?? 0, 0);
  payload.writeUInt8(t.state ?? (t.word === 0 ? 0 : 1), 1);
  payload.writeUInt32LE(t.word >>> 0, 2);
  payload.writeUInt32LE(Math.floor(t.word / 2 ** 32) >>> 0, 6);
  return [eventEnvelope, Buffer.from(header, "utf8"), payload];
}

/** Reads the uint64 LE TTL word without BigInt (words above 2^53 lose precision, which no event code reaches). */
export function readTtlWord(payload: Uint8Array): number {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return view.getUint32(6, true) * 2 ** 32 + view.getUint32(2, true);
}
