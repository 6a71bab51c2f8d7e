import type { CountWindow } from "../protocol/schema.js";
import type { FaultCode, UnitKey } from "../store/types.js";
import type { AcquisitionSink } from "./types.js";
import {
  binOf,
  dataEnvelope,
  eventEnvelope,
  isMessageNum,
  messageStep,
  msToSamples,
  readTtl,
  sampleWindow,
  type SampleWindow,
} from "./openephys-wire.js";
import { CodeReader, type CodeLines } from "./ttl-codes.js";
import { PhotodiodeMatcher } from "./photodiode.js";

export interface StreamOptions {
  sampleRate: number;
  countWindow: CountWindow;
  /** Rig time after the window's end before counts are final (RIG_PROTOCOL.md section 1). */
  graceMs?: number;
  /** Frames larger than this are refused as oversized. */
  maxFrameBytes?: number;
  /** A message_num that falls back below this is a rig restart; a larger step back is a misordered message. */
  restartBelow?: number;
  /**
   * Rig time either side of a message loss that counts as touched by it, on top of the largest disorder the stream has
   * shown (messages are only roughly time-ordered: the GUI sends a block's spikes, then its TTLs at the block's first
   * sample, then its DATA).
   */
  lossMarginMs?: number;
  /**
   * How codes ride on the TTL lines: the strobe of Network Events, the photodiode's masked line (default: the serial
   * box's whole word).
   */
  codeLines?: CodeLines;
  /** Event line (from 0) of the photodiode (RIG_PROTOCOL.md section 3): its edges are matched to presentations. */
  photodiodeLine?: number;
  /** Wall clock for the latency bookkeeping (tests pass their own). */
  nowMs?: () => number;
}

/** What the decoder has seen: every anomaly is counted here as well as stored as a fault. */
export interface StreamStats {
  messages: number;
  spikes: number;
  ttlEvents: number;
  dataMessages: number;
  ignoredMessages: number;
  /** Messages of a pre-0.3 ZMQ Interface (`message_no`), refused. */
  refusedMessages: number;
  lostMessages: number;
  gaps: number;
  restarts: number;
  malformedFrames: number;
  invalidJson: number;
  unknownEnvelopes: number;
  oversizedPayloads: number;
  ttlOutOfOrder: number;
  duplicateCodes: number;
  unexpectedCodes: number;
  partialWords: number;
  /** Further per-bit events of one word change at an onset's sample (one onset, not repeats). */
  sameSampleEvents: number;
  countsFinal: number;
  countsIncomplete: number;
}

function emptyStats(): StreamStats {
  return {
    messages: 0,
    spikes: 0,
    ttlEvents: 0,
    dataMessages: 0,
    ignoredMessages: 0,
    refusedMessages: 0,
    lostMessages: 0,
    gaps: 0,
    restarts: 0,
    malformedFrames: 0,
    invalidJson: 0,
    unknownEnvelopes: 0,
    oversizedPayloads: 0,
    ttlOutOfOrder: 0,
    duplicateCodes: 0,
    unexpectedCodes: 0,
    partialWords: 0,
    sameSampleEvents: 0,
    countsFinal: 0,
    countsIncomplete: 0,
  };
}

/**
 * One sorted unit and the recent spike times it fired (rig samples, arrival order) for TTLs that arrive after their
 * spikes.
 */
interface Unit {
  key: UnitKey;
  idx: number;
  samples: Float64Array;
  start: number;
  end: number;
}

/** A presentation the controller announced with `expect`, from its code to its final counts. */
interface Tracked {
  idx: number;
  code: number;
  seq: number;
  onset: number | null;
  deadline: number;
  /** Per unit index, counts per bin; created on the first spike. */
  rows: (Int32Array | undefined)[];
  /** Set once a message loss, restart or late TTL touched the window: the counts are stored but flagged incomplete. */
  tainted: boolean;
}

/** Rig-time span where messages were lost; presentations whose windows overlap it are flagged. */
interface LossSpan {
  from: number;
  to: number;
}

interface PendingLoss {
  from: number;
  reasons: Map<FaultCode, number>;
}

/** What a finalised presentation looked like, for the latency bookkeeping of the ingest benchmark. */
export interface FinalisedCounts {
  presentationIdx: number;
  onsetSample: number | null;
  complete: boolean;
  wallMs: number;
  /** How far the rig's stream had run (its highest sample) when the counts were handed over. */
  streamSample: number;
}

/**
 * Decodes Open Ephys ZMQ Interface messages (RIG_PROTOCOL.md section 1) and turns spikes and TTL
 * onsets into per-presentation spike counts. Pure bookkeeping: no sockets, no timers, so tests feed
 * it frames directly. Every call into the sink is a synchronous enqueue.
 */
export class OpenEphysStream {
  readonly stats: StreamStats = emptyStats();
  private readonly window: SampleWindow;
  private readonly maxFrameBytes: number;
  private readonly restartBelow: number;
  private readonly lossMarginSamples: number;
  /** The largest step back in sample numbers seen so far (how far a message may lag one sent before it), capped. */
  private disorder = 0;
  private readonly maxDisorderSamples: number;
  private readonly keepSamples: number;
  private readonly now: () => number;
  private readonly codes: CodeReader;
  private readonly photodiode: PhotodiodeMatcher | undefined;

  private readonly unitsByElectrode = new Map<string, Map<number, Unit>>();
  private readonly units: Unit[] = [];
  /** Announced presentations waiting for their onset TTL, by code. */
  private readonly pending = new Map<number, Tracked>();
  /** Presentations with an onset whose counts are not final yet. */
  private counting: Tracked[] = [];
  /**
   * Codes of presentations with an onset (counting or recently final), to tell a duplicate TTL from an unexpected one.
   */
  private readonly onsetByCode = new Map<number, Tracked>();
  private recentLosses: LossSpan[] = [];
  private pendingLoss: PendingLoss | undefined;

  private seq = 0;
  private lastMessageNum: number | undefined;
  /** Messages since the last good message_num that could not be read: they explain a jump without a loss. */
  private unreadable = 0;
  private maxSample = -Infinity;
  private lastSample = -Infinity;
  private lastTtlSample = -Infinity;
  private prunedBelow = -Infinity;
  private nextDeadline = Infinity;
  private epoch = 0;
  private refusal: string | undefined;
  /** The last code event (sample, word): further per-bit events of the same change repeat it. */
  private lastCodeSample = NaN;
  private lastCodeWord = NaN;
  private lastCodeEpoch = -1;

  /**
   * Called for each presentation when its counts are handed to the sink (the ingest benchmark measures latency from
   * it).
   */
  onFinalised?: (f: FinalisedCounts) => void;

  constructor(
    private readonly sink: AcquisitionSink,
    options: StreamOptions,
  ) {
    this.window = sampleWindow(options.countWindow, options.sampleRate, options.graceMs ?? 250);
    this.maxFrameBytes = options.maxFrameBytes ?? 1 << 20;
    this.restartBelow = options.restartBelow ?? 1000;
    this.lossMarginSamples = msToSamples(options.lossMarginMs ?? 10, options.sampleRate);
    this.maxDisorderSamples = msToSamples(100, options.sampleRate);
    // Spikes are kept long enough for a TTL that arrives a whole window plus grace after them.
    this.keepSamples = 2 * (this.window.endSamples + this.window.graceSamples) + this.lossMarginSamples;
    this.now = options.nowMs ?? (() => performance.now());
    this.codes = new CodeReader(options.codeLines);
    this.photodiode = options.photodiodeLine === undefined ? undefined : new PhotodiodeMatcher(options.photodiodeLine);
  }

  /**
   * Why this stream cannot be counted (a rig too old for the contract), once it is known; undefined while all is well.
   */
  get refused(): string | undefined {
    return this.refusal;
  }

  /** Presentations announced but not final yet. */
  get openPresentations(): number {
    return this.pending.size + this.counting.length;
  }

  /** Highest sample number seen in the current rig epoch. */
  get streamSample(): number {
    return this.maxSample;
  }

  get knownUnits(): UnitKey[] {
    return this.units.map((u) => u.key);
  }

  /** The controller is about to send `code` for `presentationIdx`: the next TTL with that word is its onset. */
  expect(presentationIdx: number, code: number): void {
    const existing = this.pending.get(code);
    if (existing !== undefined) {
      this.fault(
        "duplicate-code",
        `event code ${code} was announced for presentation ${presentationIdx} while presentation ${existing.idx} ` +
          `still waits for its onset; presentation ${existing.idx} is flagged incomplete`,
        [existing.idx, presentationIdx],
      );
      this.pending.delete(code);
      this.finalise(existing, false);
    }
    this.pending.set(code, {
      idx: presentationIdx,
      code,
      seq: this.seq++,
      onset: null,
      deadline: Infinity,
      rows: [],
      tainted: false,
    });
  }

  /** Feeds one multipart message (frames as received). Never throws on bad input: anomalies become faults. */
  push(frames: readonly Uint8Array[]): void {
    this.stats.messages++;
    if (frames.length < 2 || frames.length > 3) {
      this.lost("malformed-frame", `a message had ${frames.length} frames (expected 2 or 3)`);
      return;
    }
    for (const f of frames) {
      if (f.byteLength > this.maxFrameBytes) {
        this.lost("oversized-payload", `a frame of ${f.byteLength} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
        return;
      }
    }
    const envelope = frames[0]!;
    const isEvent = sameBytes(envelope, eventEnvelope);
    if (!isEvent && !sameBytes(envelope, dataEnvelope)) {
      this.lost(
        "unknown-envelope",
        `unknown envelope ${JSON.stringify(Buffer.from(envelope.subarray(0, 32)).toString("latin1"))}`,
      );
      return;
    }
    let header: unknown;
    try {
      header = JSON.parse(
        Buffer.from(frames[1]!.buffer, frames[1]!.byteOffset, frames[1]!.byteLength).toString("utf8"),
      );
    } catch {
      this.lost("invalid-json", "a message header is not valid JSON");
      return;
    }
    if (header === null || typeof header !== "object") {
      this.lost("malformed-frame", "a message header is not a JSON object");
      return;
    }
    const h = header as Record<string, unknown>;
    const messageNum = h.message_num;
    if (messageNum === undefined && h.message_no !== undefined) {
      this.refuse();
      return;
    }
    if (!isMessageNum(messageNum)) {
      this.lost("malformed-frame", "a message header has no valid message_num (a signed 32-bit integer)");
      return;
    }
    if (!this.sequence(messageNum)) return;
    const type = h.type;
    if (!isEvent || type === "data") {
      this.dataMessage(h);
      return;
    }
    if (type === "spike") this.spikeMessage(h, frames[2]);
    else if (type === "event") this.eventMessage(h, frames[2]);
    else this.stats.ignoredMessages++;
  }

  /**
   * A pre-0.3 ZMQ Interface (GUI 0.5 and older): one fault that says what to install, then its messages are dropped
   * quietly.
   */
  private refuse(): void {
    this.stats.refusedMessages++;
    if (this.refusal !== undefined) return;
    this.refusal =
      "The rig's Open Ephys ZMQ Interface is older than 0.3.0 (its headers carry message_no, as on GUI 0.5 and " +
      "older); cortexloop reads ZMQ Interface 0.3.0 or newer on Open Ephys GUI 0.6 or newer. " +
      ("None of its messages are counted. Update the GUI to 0.6 or newer and install the ZMQ Interface plugin from " +
        "its Plugin Installer, then start a new session.");
    const open = [...[...this.pending.values()].map((t) => t.idx), ...this.counting.map((t) => t.idx)].sort(
      (a, b) => a - b,
    );
    this.fault("rig-incompatible", this.refusal, open);
  }

  /**
   * A continuous data message: its samples are not kept, but its block tells how far the rig's clock has run
   * (sample_num + num_samples).
   */
  private dataMessage(h: Record<string, unknown>): void {
    this.stats.dataMessages++;
    const content = h.content as Record<string, unknown> | undefined;
    const sample = content?.sample_num;
    const samples = content?.num_samples;
    if (typeof sample !== "number" || typeof samples !== "number" || samples < 0) {
      return this.lostKnown("malformed-frame", "a data message has no content.sample_num or content.num_samples");
    }
    if (samples === 0) return;
    this.sampleSeen(sample + samples - 1);
    this.advance(sample + samples);
  }

  /** Checks message_num continuity; false when the message must be ignored. */
  private sequence(messageNum: number): boolean {
    const last = this.lastMessageNum;
    if (last === undefined) {
      this.lastMessageNum = messageNum;
      this.unreadable = 0;
      return true;
    }
    const step = messageStep(last, messageNum, this.restartBelow);
    if (step.kind === "restart") {
      this.restart(last, messageNum);
      this.lastMessageNum = messageNum;
      this.unreadable = 0;
      return true;
    }
    if (step.kind === "stale") {
      this.lost(
        "malformed-frame",
        `message_num ${messageNum} repeats or goes back from ${last} without a restart; the message was ignored`,
        false,
      );
      return false;
    }
    const missing = step.missing - this.unreadable;
    this.lastMessageNum = messageNum;
    this.unreadable = 0;
    if (missing > 0) {
      this.stats.gaps++;
      this.stats.lostMessages += missing;
      this.openLoss("message-gap", missing);
    }
    return true;
  }

  private spikeMessage(h: Record<string, unknown>, payload: Uint8Array | undefined): void {
    const s = h.spike as Record<string, unknown> | undefined;
    if (s === null || typeof s !== "object")
      return this.lostKnown("malformed-frame", "a spike message has no spike object");
    const sample = s.sample_num;
    const electrode = s.electrode;
    const sortedId = s.sorted_id;
    const channels = s.num_channels;
    const samples = s.num_samples;
    if (
      typeof sample !== "number" ||
      typeof electrode !== "string" ||
      typeof sortedId !== "number" ||
      typeof channels !== "number" ||
      typeof samples !== "number"
    ) {
      return this.lostKnown(
        "malformed-frame",
        "a spike header lacks sample_num, electrode, sorted_id, num_channels or num_samples",
      );
    }
    if (payload === undefined || payload.byteLength !== channels * samples * 4) {
      return this.lostKnown(
        "malformed-frame",
        `a spike waveform has ${payload?.byteLength ?? 0} bytes, expected ${channels * samples * 4}`,
      );
    }
    this.stats.spikes++;
    this.sampleSeen(sample);
    const unit = this.unit(electrode, sortedId);
    this.remember(unit, sample);
    const w = this.window;
    for (let i = 0; i < this.counting.length; i++) {
      const t = this.counting[i]!;
      const bin = binOf(sample, t.onset!, w);
      if (bin < 0) continue;
      let row = t.rows[unit.idx];
      if (row === undefined) {
        row = new Int32Array(w.bins);
        t.rows[unit.idx] = row;
      }
      row[bin]!++;
    }
    this.advance(sample);
  }

  private eventMessage(h: Record<string, unknown>, payload: Uint8Array | undefined): void {
    const content = h.content as Record<string, unknown> | undefined;
    if (content === null || typeof content !== "object" || typeof content.sample_num !== "number") {
      return this.lostKnown("malformed-frame", "an event message has no content.sample_num");
    }
    const sample = content.sample_num;
    const dataSize = typeof h.data_size === "number" ? h.data_size : 0;
    if (content.type !== undefined && content.type !== 3) {
      // Only TTL events (type 3) carry event codes; other event types are not ours to interpret.
      this.stats.ignoredMessages++;
      this.sampleSeen(sample);
      this.advance(sample);
      return;
    }
    if (dataSize <= 0 || payload === undefined || payload.byteLength < 10) {
      return this.lostKnown(
        "malformed-frame",
        `a TTL event at sample ${sample} has a ${payload?.byteLength ?? 0}-byte payload, expected 10 (line, state, ` +
          `word)`,
      );
    }
    this.stats.ttlEvents++;
    this.sampleSeen(sample);
    const event = readTtl(payload);
    if (this.photodiode !== undefined && event.line === this.photodiode.line) this.photodiode.edge(sample, event.state);
    const reading = this.codes.read(event);
    if (reading.kind === "code") this.ttl(sample, reading.code, reading.rising);
    else if (reading.kind === "clear") this.clearWord(sample);
    this.advance(sample);
  }

  /** The code lines went back to 0: only its place in sample order matters. */
  private clearWord(sample: number): void {
    if (sample < this.lastTtlSample) this.outOfOrder(sample, this.lastTtlSample, 0, []);
    else this.lastTtlSample = sample;
  }

  /**
   * A code word at `sample` (the strobe's rising edge, or with the serial box any change of the word): the onset of the
   * presentation waiting for it, one more per-bit event of an onset already taken, a repeat (fault), an intermediate
   * word while lines change, or a code nobody sent (fault).
   */
  private ttl(sample: number, word: number, rising: boolean): void {
    if (sample === this.lastCodeSample && word === this.lastCodeWord && this.lastCodeEpoch === this.epoch) {
      // A word change arrives as one event per changed bit, all at one sample, each with the new word: one change.
      this.stats.sameSampleEvents++;
      return;
    }
    this.lastCodeSample = sample;
    this.lastCodeWord = word;
    this.lastCodeEpoch = this.epoch;
    const seen = this.onsetByCode.get(word);
    const outOfOrder = sample < this.lastTtlSample;
    const previous = this.lastTtlSample;
    if (!outOfOrder) this.lastTtlSample = sample;
    const t = this.pending.get(word);
    if (t !== undefined) {
      this.pending.delete(word);
      // Codes go out in order: an earlier announced presentation still waiting lost its TTL.
      for (const earlier of [...this.pending.values()]) {
        if (earlier.seq < t.seq) {
          this.pending.delete(earlier.code);
          this.fault(
            "counts-incomplete",
            `the onset TTL of presentation ${earlier.idx} (code ${earlier.code}) never arrived before that of ` +
              `presentation ${t.idx}; it has no counts`,
            [earlier.idx],
          );
          this.finalise(earlier, false);
        }
      }
      t.onset = sample;
      t.deadline = sample + this.window.endSamples + this.window.graceSamples;
      this.photodiode?.codeOnset(sample);
      this.sink.ttl({ presentationIdx: t.idx, eventCode: word, onsetSample: sample });
      if (outOfOrder) {
        t.tainted = true;
        this.outOfOrder(sample, previous, word, [t.idx]);
      }
      if (sample + this.window.startSamples < this.prunedBelow) {
        t.tainted = true;
        this.fault(
          "ttl-out-of-order",
          `the onset TTL of presentation ${t.idx} (code ${word}, sample ${sample}) arrived after its early spikes ` +
            `were discarded; its counts are flagged incomplete`,
          [t.idx],
        );
      }
      const lo = sample + this.window.startSamples;
      const hi = sample + this.window.endSamples;
      for (const span of this.recentLosses) {
        if (span.from < hi && span.to >= lo) {
          t.tainted = true;
          this.fault(
            "message-gap",
            `messages were lost within the count window of presentation ${t.idx} (rig samples ${span.from}..` +
              `${span.to}); its counts are flagged incomplete`,
            [t.idx],
          );
          break;
        }
      }
      if (this.pendingLoss !== undefined && this.pendingLoss.from < hi) t.tainted = true;
      this.countBuffered(t);
      this.counting.push(t);
      this.onsetByCode.set(word, t);
      if (t.deadline < this.nextDeadline) this.nextDeadline = t.deadline;
      return;
    }
    if (outOfOrder) this.outOfOrder(sample, previous, word, []);
    if (this.codes.strobeLine === undefined) {
      for (const p of this.pending.values()) {
        // A word that is part of a pending code is an intermediate line change of that code, not a fault.
        if (word <= 0xffffffff && (p.code & word) === word) {
          this.stats.partialWords++;
          return;
        }
      }
    }
    if (seen !== undefined && seen.onset !== null && sample - seen.onset < this.keepSamples) {
      if (!rising) {
        // Lines going down passed through an earlier code's word: the word is being cleared, not sent again.
        this.stats.partialWords++;
        return;
      }
      this.stats.duplicateCodes++;
      this.fault(
        "duplicate-code",
        `event code ${word} arrived again at sample ${sample}; presentation ${seen.idx} keeps its onset ` +
          `${seen.onset} and nothing stored changed`,
        [seen.idx],
      );
      this.sink.ttl({ presentationIdx: null, eventCode: word, onsetSample: sample });
      return;
    }
    if (!rising) {
      // A line went down and left a word nobody sent: a code being cleared line by line.
      this.stats.partialWords++;
      return;
    }
    this.stats.unexpectedCodes++;
    this.fault(
      "unexpected-code",
      `TTL word ${word} at sample ${sample} matches no presentation the controller sent; it was recorded and ignored`,
      [],
    );
    this.sink.ttl({ presentationIdx: null, eventCode: word, onsetSample: sample });
  }

  private outOfOrder(sample: number, previous: number, word: number, idxs: number[]): void {
    this.stats.ttlOutOfOrder++;
    this.fault(
      "ttl-out-of-order",
      `a TTL event (word ${word}) at sample ${sample} arrived after one at sample ${previous}` +
        `${
          idxs.length
            ? `; presentation ${idxs.join(", ")} keeps it as onset but is flagged ` + `incomplete`
            : "; it was ignored"
        }`,
      idxs,
    );
  }

  /** Counts the spikes that arrived before the TTL. */
  private countBuffered(t: Tracked): void {
    const w = this.window;
    const onset = t.onset!;
    for (const unit of this.units) {
      const s = unit.samples;
      let row: Int32Array | undefined;
      for (let i = unit.start; i < unit.end; i++) {
        const bin = binOf(s[i]!, onset, w);
        if (bin < 0) continue;
        if (row === undefined) {
          row = t.rows[unit.idx] ?? new Int32Array(w.bins);
          t.rows[unit.idx] = row;
        }
        row[bin]!++;
      }
    }
  }

  private unit(electrode: string, sortedId: number): Unit {
    let byId = this.unitsByElectrode.get(electrode);
    if (byId === undefined) {
      byId = new Map();
      this.unitsByElectrode.set(electrode, byId);
    }
    let unit = byId.get(sortedId);
    if (unit === undefined) {
      unit = { key: { electrode, sortedId }, idx: this.units.length, samples: new Float64Array(256), start: 0, end: 0 };
      byId.set(sortedId, unit);
      this.units.push(unit);
      this.sink.unit?.(unit.key);
    }
    return unit;
  }

  private remember(unit: Unit, sample: number): void {
    if (unit.end === unit.samples.length) {
      // Compact: drop spikes too old for any TTL still to come, then grow if still crowded.
      const horizon = this.maxSample - this.keepSamples;
      let keep = 0;
      const s = unit.samples;
      for (let i = unit.start; i < unit.end; i++) if (s[i]! >= horizon) s[keep++] = s[i]!;
      if (keep < unit.end - unit.start) this.prunedBelow = Math.max(this.prunedBelow, horizon);
      unit.start = 0;
      unit.end = keep;
      if (keep > s.length / 2) {
        const grown = new Float64Array(s.length * 2);
        grown.set(s.subarray(0, keep));
        unit.samples = grown;
      }
    }
    unit.samples[unit.end++] = sample;
  }

  private sampleSeen(sample: number): void {
    this.lastSample = sample;
    const lag = this.maxSample - sample;
    if (lag > this.disorder) this.disorder = Math.min(lag, this.maxDisorderSamples);
    if (this.pendingLoss !== undefined) this.closeLoss(sample);
  }

  /** How far either side of a loss a lost message may have been on the rig clock: the margin plus the disorder seen. */
  private get lossMargin(): number {
    return this.lossMarginSamples + this.disorder;
  }

  /** The stream has reached `sample`: finalise every presentation whose window plus grace it passed. */
  private advance(sample: number): void {
    if (sample > this.maxSample) this.maxSample = sample;
    if (this.maxSample < this.nextDeadline) return;
    let next = Infinity;
    const still: Tracked[] = [];
    for (const t of this.counting) {
      if (t.deadline <= this.maxSample) this.finalise(t, !t.tainted);
      else {
        still.push(t);
        if (t.deadline < next) next = t.deadline;
      }
    }
    this.counting = still;
    this.nextDeadline = next;
    if (this.onsetByCode.size > 4096) {
      for (const [code, t] of this.onsetByCode)
        if (this.maxSample - (t.onset ?? 0) > this.keepSamples) this.onsetByCode.delete(code);
    }
    const pd = this.photodiode;
    if (pd !== undefined && pd.remembered > 1024) pd.forgetBelow(this.maxSample - this.keepSamples);
    if (this.recentLosses.length > 0 && this.recentLosses[0]!.to < this.maxSample - this.keepSamples) {
      this.recentLosses = this.recentLosses.filter((l) => l.to >= this.maxSample - this.keepSamples);
    }
  }

  private finalise(t: Tracked, complete: boolean): void {
    const units: { unit: UnitKey; bins: number[] }[] = [];
    if (t.onset !== null) {
      for (const unit of this.units) {
        const row = t.rows[unit.idx];
        units.push({
          unit: unit.key,
          bins: row === undefined ? new Array<number>(this.window.bins).fill(0) : Array.from(row),
        });
      }
    }
    if (complete) this.stats.countsFinal++;
    else this.stats.countsIncomplete++;
    // By now the stream has passed the count window and grace: a light that came at all has arrived.
    if (t.onset !== null && this.photodiode !== undefined) this.sink.light?.(this.photodiode.resolve(t.idx, t.onset));
    this.sink.counts({ presentationIdx: t.idx, onsetSample: t.onset, complete, units });
    this.onFinalised?.({
      presentationIdx: t.idx,
      onsetSample: t.onset,
      complete,
      wallMs: this.now(),
      streamSample: this.maxSample,
    });
  }

  /** A message that carried a readable message_num but could not be used. */
  private lostKnown(code: FaultCode, detail: string): void {
    this.count(code);
    this.openLoss(code, 1, detail);
  }

  /** A message that could not be read at all (its message_num too): the next jump includes it. */
  private lost(code: FaultCode, detail: string, unreadable = true): void {
    this.count(code);
    if (unreadable) this.unreadable++;
    this.openLoss(code, 1, detail);
  }

  private count(code: FaultCode): void {
    const s = this.stats;
    if (code === "malformed-frame") s.malformedFrames++;
    else if (code === "invalid-json") s.invalidJson++;
    else if (code === "unknown-envelope") s.unknownEnvelopes++;
    else if (code === "oversized-payload") s.oversizedPayloads++;
  }

  private lastDetail = "";

  /** Starts (or extends) a loss span at the last sample seen; it closes at the next message that carries a sample. */
  private openLoss(code: FaultCode, n: number, detail?: string): void {
    if (detail !== undefined) this.lastDetail = detail;
    if (this.pendingLoss === undefined)
      this.pendingLoss = { from: this.lastSample - this.lossMargin, reasons: new Map() };
    this.pendingLoss.reasons.set(code, (this.pendingLoss.reasons.get(code) ?? 0) + n);
  }

  private closeLoss(sample: number): void {
    const loss = this.pendingLoss!;
    this.pendingLoss = undefined;
    const span: LossSpan = { from: loss.from, to: sample + this.lossMargin };
    this.recentLosses.push(span);
    const touched: number[] = [];
    for (const t of this.counting) {
      const lo = t.onset! + this.window.startSamples;
      const hi = t.onset! + this.window.endSamples;
      if (span.from < hi && span.to >= lo) {
        t.tainted = true;
        touched.push(t.idx);
      }
    }
    const where = Number.isFinite(span.from)
      ? `between rig samples ${span.from} and ${span.to}`
      : `before rig sample ${span.to}`;
    const flagged = touched.length
      ? `; counts of presentation${touched.length > 1 ? "s" : ""} ${touched.join(", ")} are flagged incomplete`
      : "; no count window was open";
    for (const [code, n] of loss.reasons) {
      const what =
        code === "message-gap"
          ? `${n} message${n > 1 ? "s" : ""} missing (message_num jumped)`
          : `${n} unusable message${n > 1 ? "s" : ""} (${this.lastDetail})`;
      this.fault(code, `${what} ${where}${flagged}`, touched);
    }
  }

  private restart(last: number, now: number): void {
    this.stats.restarts++;
    const touched = this.counting.map((t) => t.idx);
    this.fault(
      "rig-restart",
      `the rig restarted (message_num fell from ${last} to ${now}); ` +
        `${
          touched.length
            ? `presentation${touched.length > 1 ? "s" : ""} ${touched.join(", ")} lost their count ` +
              `windows and are flagged incomplete; `
            : ""
        }counting goes on on the new sample clock`,
      touched,
    );
    for (const t of this.counting) this.finalise(t, false);
    this.counting = [];
    this.nextDeadline = Infinity;
    this.onsetByCode.clear();
    this.photodiode?.reset();
    this.recentLosses = [];
    this.pendingLoss = undefined;
    for (const u of this.units) {
      u.start = 0;
      u.end = 0;
    }
    this.maxSample = -Infinity;
    this.lastSample = -Infinity;
    this.disorder = 0;
    this.lastTtlSample = -Infinity;
    this.prunedBelow = -Infinity;
    this.epoch++;
  }

  /**
   * Flags everything still open as incomplete (the stream never passed its window), with one fault per presentation.
   */
  flushIncomplete(reason: string): void {
    for (const t of [...this.pending.values()].sort((a, b) => a.seq - b.seq)) {
      this.fault(
        "counts-incomplete",
        `presentation ${t.idx} (code ${t.code}) got no onset TTL ${reason}; it has no counts`,
        [t.idx],
      );
      this.finalise(t, false);
    }
    this.pending.clear();
    for (const t of this.counting) {
      this.fault(
        "counts-incomplete",
        `the rig stream never passed the count window of presentation ${t.idx} ${reason} (reached sample ` +
          `${this.maxSample}, needed ${t.deadline}); partial counts are stored, flagged incomplete`,
        [t.idx],
      );
      this.finalise(t, false);
    }
    this.counting = [];
    this.nextDeadline = Infinity;
  }

  private fault(code: FaultCode, message: string, presentationIdxs: number[]): void {
    this.sink.fault({ code, message, presentationIdxs });
  }

  get rigEpoch(): number {
    return this.epoch;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
