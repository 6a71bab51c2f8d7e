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

/**
 * The bin a spike at `sample` falls in for a presentation with `onset`, or -1 outside the window; the simulator's
 * ground truth uses the same rule.
 */
export function binOf(sample: number, onset: number, w: SampleWindow): number {
  const rel = sample - onset - w.startSamples;
  const span = w.endSamples - w.startSamples;
  if (rel < 0 || rel >= span) return -1;
  return Math.floor((rel * w.bins) / span);
}

/** JUCE's JSON::toString layout, which the ZMQ Interface uses for every header: CRLF line ends, two-space indent. */
const crlf = "\r\n";

/** A JSON number as JUCE writes a double: whole values keep one decimal (-50.0), others in shortest form. */
function juceDouble(v: number): string {
  if (!Number.isFinite(v)) return "null";
  return Number.isInteger(v) && Math.abs(v) < 1e6 ? v.toFixed(1) : String(v);
}

export interface SpikeFields {
  messageNum: number;
  electrode: string;
  sortedId: number;
  sampleNum: number;
  timestampMs: number;
  /**
   * Channels of the electrode (1 single, 2 stereotrode, 4 tetrode); the waveform holds channels x samples values,
   * channel-major.
   */
  channels?: number;
  stream?: string;
  sourceNode?: number;
  threshold?: number;
}

/** A spike message exactly as the ZMQ Interface sends it: envelope, JUCE-formatted JSON header, float32 LE waveform. */
export function encodeSpike(s: SpikeFields, waveform: Float32Array): Buffer[] {
  const channels = s.channels ?? 1;
  const threshold = juceDouble(s.threshold ?? -50);
  let thresholds = "";
  for (let c = 0; c < channels; c++) thresholds += `${c > 0 ? `,${crlf}` : ""}      ${threshold}`;
  const header =
    `{${crlf}  "message_num": ${s.messageNum},${crlf}  "type": "spike",${crlf}  "spike": {${crlf}` +
    (`    "stream": ${JSON.stringify(s.stream ?? "example_data")},${crlf}    "source_node": ${s.sourceNode ?? 104},` +
      `${crlf}`) +
    (`    "electrode": ${JSON.stringify(s.electrode)},${crlf}    "sample_num": ${s.sampleNum},${crlf}    ` +
      `"num_channels": ${channels},${crlf}`) +
    (`    "num_samples": ${waveform.length / channels},${crlf}    "sorted_id": ${s.sortedId},${crlf}    ` +
      `"threshold": [${crlf}${thresholds}${crlf}    ]${crlf}  },${crlf}`) +
    `  "timestamp": ${Math.round(s.timestampMs)}${crlf}}`;
  return [
    eventEnvelope,
    Buffer.from(header, "utf8"),
    Buffer.from(waveform.buffer, waveform.byteOffset, waveform.byteLength),
  ];
}

export interface TtlFields {
  messageNum: number;
  sampleNum: number;
  word: number;
  /** Event line that changed (from 0); its new state. */
  line?: number;
  state?: number;
  timestampMs: number;
  stream?: string;
  sourceNode?: number;
}

/** A TTL event message: envelope, JUCE-formatted JSON header, payload uint8 line, uint8 state, uint64 LE word. */
export function encodeTtl(t: TtlFields): Buffer[] {
  const header =
    `{${crlf}  "message_num": ${t.messageNum},${crlf}  "type": "event",${crlf}  "content": {${crlf}` +
    (`    "stream": ${JSON.stringify(t.stream ?? "example_data")},${crlf}    "source_node": ${t.sourceNode ?? 104},` +
      `${crlf}    "type": 3,${crlf}`) +
    (`    "sample_num": ${t.sampleNum}${crlf}  },${crlf}  "data_size": 10,${crlf}  "timestamp": ` +
      `${Math.round(t.timestampMs)}${crlf}}`);
  const payload = Buffer.alloc(10);
  payload.writeUInt8(t.line ?? 0, 0);
  payload.writeUInt8(t.state ?? (t.word === 0 ? 0 : 1), 1);
  payload.writeUInt32LE(t.word >>> 0, 2);
  payload.writeUInt32LE(Math.floor(t.word / 2 ** 32) >>> 0, 6);
  return [eventEnvelope, Buffer.from(header, "utf8"), payload];
}

export interface DataFields {
  messageNum: number;
  channelNum: number;
  channelName?: string;
  sampleNum: number;
  sampleRate: number;
  timestampMs: number;
  stream?: string;
}

/**
 * A continuous data message (one channel, one processing block): `DATA\0`, JUCE-formatted header, float32 LE samples.
 */
export function encodeData(d: DataFields, samples: Float32Array): Buffer[] {
  const header =
    `{${crlf}  "message_num": ${d.messageNum},${crlf}  "type": "data",${crlf}  "content": {${crlf}` +
    `    "stream": ${JSON.stringify(d.stream ?? "example_data")},${crlf}    "channel_num": ${d.channelNum},${crlf}` +
    (`    "channel_name": ${JSON.stringify(d.channelName ?? `CH${d.channelNum + 1}`)},${crlf}    "num_samples": ` +
      `${samples.length},${crlf}`) +
    `    "sample_num": ${d.sampleNum},${crlf}    "sample_rate": ${juceDouble(d.sampleRate)}${crlf}  },${crlf}` +
    `  "data_size": ${samples.byteLength},${crlf}  "timestamp": ${Math.round(d.timestampMs)}${crlf}}`;
  return [
    dataEnvelope,
    Buffer.from(header, "utf8"),
    Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength),
  ];
}

/**
 * A TTL event's payload: the line that changed (from 0), its new state, and the whole word after the change in two
 * 32-bit halves.
 */
export interface TtlPayload {
  line: number;
  state: number;
  wordLo: number;
  wordHi: number;
}

export function readTtl(payload: Uint8Array): TtlPayload {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return {
    line: view.getUint8(0),
    state: view.getUint8(1),
    wordLo: view.getUint32(2, true),
    wordHi: view.getUint32(6, true),
  };
}

/**
 * What one message_num says about the stream, `message_num` being the plugin's signed 32-bit counter (it wraps on long
 * runs).
 */
export type MessageStep = { kind: "next"; missing: number } | { kind: "restart" } | { kind: "stale" };

/**
 * Steps from `last` to `next`: forward (by the 32-bit distance, so 2147483647 -> -2147483648 is one step), a restart
 * (a small non-negative number that is not a short step forward), or a repeat or step back (stale).
 */
export function messageStep(last: number, next: number, restartBelow: number): MessageStep {
  const forward = (next - last + 2 ** 32) % 2 ** 32;
  if (next >= 0 && next < restartBelow && forward > restartBelow) return { kind: "restart" };
  if (forward === 0 || forward >= 2 ** 31) return { kind: "stale" };
  return { kind: "next", missing: forward - 1 };
}

/** True for the plugin's message_num: an integer in the signed 32-bit range. */
export function isMessageNum(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;
}
