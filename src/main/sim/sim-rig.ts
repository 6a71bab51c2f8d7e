import { createWriteStream, type WriteStream } from "node:fs";
import { performance } from "node:perf_hooks";
import { Publisher, Reply, Subscriber } from "zeromq";
import { ReadlineParser, SerialPort } from "serialport";
import { Random, type RgbImage } from "../../stimulus/index.js";
import type { CountWindow } from "../protocol/schema.js";
import type { UnitKey } from "../store/types.js";
import {
  binOf,
  encodeData,
  encodeSpike,
  encodeTtl,
  eventEnvelope,
  sampleWindow,
  waveformSamples,
  type SampleWindow,
} from "../rig/openephys-wire.js";
import { eventBoxIdentity, serialDevice } from "../rig/serial-eventbox.js";
import { openSerialPort } from "../rig/serial-open.js";
import { networkEventsStrobeLine } from "../rig/ttl-codes.js";
import { SimNetworkEvents } from "./network-events-sim.js";
import { SimPhotodiode } from "./sim-photodiode.js";
import type { NeuronPopulation } from "./neurons.js";
import { TtlChannel } from "./ttl-channel.js";
import { SpikeFramer } from "./spike-framer.js";
import { ZmtpPublisher } from "./zmtp-publisher.js";

/** Neurons as the simulated rig uses them: rates may be computed asynchronously (tfjs compact models). */
export interface SimNeurons {
  units: UnitKey[];
  rates(image: RgbImage): number[] | Promise<number[]>;
  dispose?(): void;
}

export function simNeuronsFrom(population: NeuronPopulation): SimNeurons {
  return { units: population.units, rates: (image) => population.rates(image) };
}

export interface SimFaults {
  /** Fraction of messages not sent (message_num still advances, so the gap is visible). */
  dropFraction?: number;
  /** Fraction of messages sent malformed instead (bad JSON, short payload, unknown envelope, missing frame). */
  malformedFraction?: number;
  /** Restart acquisition (message_num and sample clock back to 0) on receiving the N-th event code. */
  restartAfterPresentations?: number;
  /**
   * Stop emitting for stallMs after the N-th event code; the sample clock keeps running and the backlog follows in a
   * burst.
   */
  stallAfterPresentations?: number;
  stallMs?: number;
}

export type SimEventCodeInput =
  | { kind: "serial"; path: string }
  /**
   * `wordCommand`: also answer the `TTL Word=<code>` command the real plugin does not have (tests of the old controller
   * only).
   */
  | { kind: "network-events"; host: string; port: number; wordCommand?: boolean }
  | { kind: "none" };

export interface SimRigOptions {
  /** Interface the Open Ephys-compatible sockets bind on. */
  host: string;
  dataPort: number;
  sampleRate: number;
  eventCodes: SimEventCodeInput;
  /**
   * The controller's virtual display PUB to subscribe to; undefined: no pictures (neurons fire at their spontaneous
   * rates).
   */
  displayEndpoint?: string;
  neurons: SimNeurons;
  seed: number;
  /** Window and grace of the ground truth (the session's count window). */
  countWindow: CountWindow;
  graceMs?: number;
  /** JSON-lines ground truth file. */
  truthFile?: string;
  /** Keep ground truth records in memory (in-process tests). */
  keepTruth?: boolean;
  faults?: SimFaults;
  /** Multiplies every rate (benchmarks use it to reach a target spike rate). */
  rateScale?: number;
  latencyMs?: [number, number];
  tickMs?: number;
  /** Data socket: libzmq PUB (default) or the batched ZMTP publisher that reaches benchmark rates. */
  publisher?: "zeromq" | "zmtp";
  /** Continuous channels sent as DATA messages, one per channel per processing block (default 4; 0: none). */
  dataChannels?: number;
  /** The photodiode on the acquisition board's line `line`, lit by the frames the display shows after a lag. */
  photodiode?: { line: number; lagMs: number; jitterMs: number };
  /** Whether the simulated GUI starts acquiring (default true); Network Events' IsAcquiring answers accordingly. */
  acquiring?: boolean;
  /** message_num of the first message (default 1); the counter is signed 32-bit and wraps, as the plugin's does. */
  firstMessageNum?: number;
  log?: (line: string) => void;
}

/** Spikes one unit emitted in one presentation's count window, per bin: what a faultless controller must store. */
export interface TruthRecord {
  code: number;
  onsetSample: number;
  epoch: number;
  /** Wall time (ms since the Unix epoch, sub-ms) when the rig clock passes onset + window end + grace. */
  closeEpochMs: number;
  /** Wall time when the rig sent the message that carried its stream past onset + window end + grace. */
  sentEpochMs: number;
  units: { electrode: string; sortedId: number; bins: number[] }[];
}

export interface SimRigStats {
  messagesSent: number;
  messagesDropped: number;
  malformedSent: number;
  spikesEmitted: number;
  spikesDelivered: number;
  ttlEvents: number;
  dataMessages: number;
  codesReceived: number;
  framesReceived: number;
  restarts: number;
  stalls: number;
  heartbeats: number;
}

interface SimPresentation {
  code: number;
  onset: number;
  epoch: number;
  durationSamples: number;
  rates: Float64Array | undefined;
  truth: Int32Array;
  truthDone: boolean;
  responseEnd: number;
}

interface QueuedTtl {
  sample: number;
  line: number;
  state: 0 | 1;
  word: number;
  sourceNode: number;
}

const templateVariants = 8;
/** Source node ids as a GUI signal chain would have them: acquisition board, spike detector, Network Events. */
const boardNode = 100;
const spikeNode = 104;
const networkEventsNode = 105;
/**
 * Processing blocks of continuous data, in samples: at least 512 (17 ms at 30 kHz), at most 1024, as GUI sources vary.
 */
const minBlockSamples = 512;
const maxBlockSamples = 1024;

/**
 * A simulated acquisition rig that speaks RIG_PROTOCOL.md byte for byte as the Open Ephys GUI does: a ZMQ Interface
 * (PUB data with JUCE-formatted headers, spikes, one TTL event per changed bit, DATA messages for a few channels; REP
 * heartbeat with the plugin's three answers), a serial event box or the Network Events plugin (lines, strobe, real
 * replies) for codes, and a subscriber to the virtual display. Its sample clock runs at `sampleRate` in real time; it
 * records what it emitted as ground truth.
 */
export class SimRig {
  readonly stats: SimRigStats = {
    messagesSent: 0,
    messagesDropped: 0,
    malformedSent: 0,
    spikesEmitted: 0,
    spikesDelivered: 0,
    ttlEvents: 0,
    dataMessages: 0,
    codesReceived: 0,
    framesReceived: 0,
    restarts: 0,
    stalls: 0,
    heartbeats: 0,
  };
  readonly truth: TruthRecord[] = [];

  private readonly rng: Random;
  private readonly faultRng: Random;
  private readonly window: SampleWindow;
  private readonly units: UnitKey[];
  private readonly latencySamples: Int32Array;
  private readonly spontaneous: Float64Array;
  private readonly waveforms: Float32Array[][];
  private readonly rateScale: number;

  private pub: Publisher | undefined;
  private zpub: ZmtpPublisher | undefined;
  private framer: SpikeFramer | undefined;
  private heartbeatRep: Reply | undefined;
  private codeRep: Reply | undefined;
  private displaySub: Subscriber | undefined;
  private serial: SerialPort | undefined;
  private serialRetry: NodeJS.Timeout | undefined;
  private serialWatch: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private truthOut: WriteStream | undefined;
  private loops: Promise<void>[] = [];
  private running = false;
  private answerHeartbeats = true;
  private acquiring: boolean;
  /** The event box's digital inputs, and Network Events' own TTL channel. */
  private readonly board = new TtlChannel();
  private readonly networkChannel = new TtlChannel();
  private networkEvents: SimNetworkEvents | undefined;
  private readonly noise: Float32Array;
  private noiseAt = 0;
  /** The photodiode, when the rig file has one. */
  readonly photodiode: SimPhotodiode | undefined;

  private t0 = 0;
  private epoch = 0;
  private messageNum = 0;
  private emittedUpTo = 0;
  /** The last sample the DATA messages have covered. */
  private dataUpTo = 0;
  private stallUntil = 0;
  private presentationsSeen = 0;
  private active: SimPresentation[] = [];
  private readonly waitingForPicture = new Map<number, SimPresentation>();
  private readonly framesByCode = new Map<number, { image: RgbImage; durationMs: number }>();
  private ttlQueue: QueuedTtl[] = [];
  private ticking = false;
  private keys = new Float64Array(4096);

  constructor(private readonly options: SimRigOptions) {
    this.rng = new Random(options.seed);
    this.faultRng = new Random(options.seed ^ 0x5eed);
    this.window = sampleWindow(options.countWindow, options.sampleRate, options.graceMs ?? 250);
    this.units = options.neurons.units;
    if (this.units.length > 1024)
      throw new Error(`SimRig: ${this.units.length} units requested; at most 1024 are supported`);
    this.rateScale = options.rateScale ?? 1;
    const [latLo, latHi] = options.latencyMs ?? [50, 70];
    const shapeRng = new Random(options.seed + 101);
    this.latencySamples = Int32Array.from(this.units, () =>
      Math.round(((latLo + shapeRng.next() * (latHi - latLo)) * options.sampleRate) / 1000),
    );
    this.spontaneous = new Float64Array(this.units.length);
    this.waveforms = this.units.map(() => spikeWaveforms(shapeRng));
    const channels = options.dataChannels ?? 4;
    if (!Number.isInteger(channels) || channels < 0 || channels > 1024)
      throw new Error(`SimRig: dataChannels must be a whole number in 0..1024, got ${channels}`);
    this.acquiring = options.acquiring ?? true;
    this.messageNum = ((options.firstMessageNum ?? 1) - 1) | 0;
    // Continuous samples are read from one block of noise (µV), so DATA messages cost no drawing.
    this.noise = Float32Array.from({ length: 4 * maxBlockSamples }, () => shapeRng.normal() * 20);
    const pd = options.photodiode;
    if (pd !== undefined) {
      this.photodiode = new SimPhotodiode({ ...pd, sampleRate: options.sampleRate, seed: options.seed });
    }
  }

  /** Samples on the rig clock since acquisition (re)started. */
  nowSample(): number {
    return Math.floor(((performance.now() - this.t0) * this.options.sampleRate) / 1000);
  }

  /** The port the data PUB binds (the heartbeat REP is this + 1). */
  get dataPort(): number {
    return this.options.dataPort;
  }

  get dataEndpoint(): string {
    return `tcp://${this.options.host}:${this.options.dataPort}`;
  }

  /** Stop (false) or resume (true) answering heartbeats: tests of the controller's degraded-link handling. */
  setHeartbeatAnswering(answer: boolean): void {
    this.answerHeartbeats = answer;
  }

  /**
   * Stops or starts acquisition as the GUI's play button does: nothing is sent while stopped; starting again restarts
   * the clock and message_num.
   */
  setAcquiring(on: boolean): void {
    if (on === this.acquiring) return;
    this.acquiring = on;
    if (on) this.restart();
  }

  get isAcquiring(): boolean {
    return this.acquiring;
  }

  /** The simulated Network Events plugin (its recordings), when the rig takes codes that way. */
  get networkEventsPlugin(): SimNetworkEvents | undefined {
    return this.networkEvents;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const grey: RgbImage = { width: 112, height: 112, pixels0to255: new Uint8Array(112 * 112 * 3).fill(128) };
    const spont = await this.options.neurons.rates(grey);
    spont.forEach((r, i) => (this.spontaneous[i] = r * this.rateScale));
    // No high-water mark: the simulated rig never drops what it did not mean to drop.
    if (this.options.publisher === "zmtp") {
      const zpub = new ZmtpPublisher();
      await zpub.bind(this.options.host, this.options.dataPort);
      this.zpub = zpub;
    } else {
      const pub = new Publisher({ sendHighWaterMark: 0, linger: 0 });
      await pub.bind(this.dataEndpoint);
      this.pub = pub;
    }
    const rep = new Reply({ linger: 0 });
    await rep.bind(`tcp://${this.options.host}:${this.options.dataPort + 1}`);
    this.heartbeatRep = rep;
    this.running = true;
    this.loops.push(this.heartbeatLoop(rep));
    const codes = this.options.eventCodes;
    if (codes.kind === "network-events") {
      const codeRep = new Reply({ linger: 0 });
      await codeRep.bind(`tcp://${codes.host}:${codes.port}`);
      this.codeRep = codeRep;
      const plugin = new SimNetworkEvents(
        {
          acquiring: () => this.acquiring,
          setAcquiring: (on) => this.setAcquiring(on),
          line: (line, state) => this.networkLine(line, state),
          word: (code) => this.networkWord(code),
        },
        { wordCommand: codes.wordCommand },
      );
      this.networkEvents = plugin;
      this.loops.push(plugin.serve(codeRep, () => this.running));
    } else if (codes.kind === "serial") {
      await this.openSerial(codes.path);
    }
    if (this.options.displayEndpoint !== undefined) {
      const sub = new Subscriber({ linger: 0, receiveHighWaterMark: 0 });
      sub.connect(this.options.displayEndpoint);
      sub.subscribe("frame");
      this.displaySub = sub;
      this.loops.push(this.displayLoop(sub));
    }
    if (this.options.truthFile !== undefined) this.truthOut = createWriteStream(this.options.truthFile, { flags: "w" });
    this.t0 = performance.now();
    this.emittedUpTo = 0;
    this.scheduleTick();
  }

  private async heartbeatLoop(rep: Reply): Promise<void> {
    while (this.running) {
      try {
        const [msg] = await rep.receive();
        while (!this.answerHeartbeats && this.running) await new Promise((r) => setTimeout(r, 50));
        if (!this.running) return;
        this.stats.heartbeats++;
        await rep.send(heartbeatAnswer(msg?.toString("utf8") ?? ""));
      } catch {
        if (!this.running || rep.closed) return;
      }
    }
  }

  private async openSerial(path: string): Promise<void> {
    let port: SerialPort;
    try {
      port = await openSerialPort(path, 115200);
    } catch (err) {
      this.options.log?.(
        `sim-rig: serial ${path} not available (${err instanceof Error ? err.message : String(err)}); retrying`,
      );
      this.retrySerial(path);
      return;
    }
    const device = serialDevice(path);
    const parser = port.pipe(new ReadlineParser({ delimiter: "\n" }));
    parser.on("data", (raw: string) => {
      const line = raw.replace(/\r$/, "");
      if (line === "?") port.write(`${eventBoxIdentity}\n`);
      else if (/^W\d+$/.test(line)) {
        const code = Number(line.slice(1));
        this.boxWord(code);
        port.write(`A${code}\n`);
      }
    });
    const gone = (): void => {
      if (this.serial !== port) return;
      this.serial = undefined;
      clearInterval(this.serialWatch);
      this.serialWatch = undefined;
      parser.removeAllListeners();
      port.removeAllListeners();
      port.on("error", () => {});
      if (port.isOpen) port.close(() => {});
      // The pty may come back (socat restarted on the same link): keep trying.
      this.retrySerial(path);
    };
    port.on("error", gone);
    port.on("close", gone);
    this.serial = port;
    // A pty whose other end closed never fails a read (it reads 0 bytes), so the port may never close:
    // watch the path, and reopen once it no longer names the device that was opened.
    this.serialWatch = setInterval(() => {
      if (serialDevice(path) !== device) {
        this.options.log?.(`sim-rig: serial ${path} no longer names ${device ?? "the device it opened"}; reopening`);
        gone();
      }
    }, 100);
  }

  private retrySerial(path: string): void {
    if (!this.running) return;
    this.serialRetry = setTimeout(() => {
      this.serialRetry = undefined;
      if (this.running && this.serial === undefined) void this.openSerial(path);
    }, 200);
  }

  private async displayLoop(sub: Subscriber): Promise<void> {
    while (this.running) {
      let frames: Buffer[];
      try {
        frames = await sub.receive();
      } catch {
        if (!this.running || sub.closed) return;
        continue;
      }
      const [, json, pixels] = frames;
      if (json === undefined || pixels === undefined) continue;
      let header: { code?: unknown; width?: unknown; height?: unknown; channels?: unknown };
      try {
        header = JSON.parse(json.toString("utf8")) as typeof header;
      } catch {
        continue;
      }
      const { code, width, height } = header;
      const durationMs =
        typeof (header as { duration_ms?: unknown }).duration_ms === "number"
          ? (header as { duration_ms: number }).duration_ms
          : 100;
      if (
        typeof code !== "number" ||
        typeof width !== "number" ||
        typeof height !== "number" ||
        pixels.byteLength !== width * height * 3
      )
        continue;
      this.stats.framesReceived++;
      this.light(header as Record<string, unknown>, durationMs);
      this.picture(code, { width, height, pixels0to255: new Uint8Array(pixels) }, durationMs);
    }
  }

  /**
   * A frame reached the display: the photodiode lights after the display's lag, from the frame's flip time when the
   * display says it (`flip_epoch_ms`, ms since the Unix epoch), else from now; it stays lit `patch_ms` (else the
   * frame's duration).
   */
  private light(header: Record<string, unknown>, durationMs: number): void {
    if (this.photodiode === undefined || !this.running || !this.acquiring) return;
    const flip = header.flip_epoch_ms;
    const litMs = typeof header.patch_ms === "number" && header.patch_ms > 0 ? header.patch_ms : durationMs;
    const sr = this.options.sampleRate;
    const known = typeof flip === "number" && Number.isFinite(flip);
    const at = known ? ((flip - performance.timeOrigin - this.t0) * sr) / 1000 : this.nowSample();
    this.photodiode.frame(Math.max(at, this.emittedUpTo + 1), litMs);
  }

  /** The first sample of the next processing block: where a change that arrives now lands on the rig clock. */
  private nextBlockSample(): number {
    return Math.max(this.nowSample(), this.emittedUpTo + 1);
  }

  /**
   * The serial box sets its word: one TTL event per changed bit at one sample; a non-zero word is a presentation's
   * code.
   */
  boxWord(code: number): void {
    if (!this.running || !this.acquiring || code === this.board.word % 2 ** 16) return;
    if (code !== 0) this.presentationComing();
    const sample = this.nextBlockSample();
    // The box drives lines 0..15; the photodiode's line on the same inputs keeps its state.
    for (const c of this.board.setWord(code, 16)) this.ttlQueue.push({ sample, ...c, sourceNode: boardNode });
    if (code !== 0) this.beginPresentation(code, sample);
  }

  /**
   * Network Events sets one line (from 0) at the next block; the strobe's rising edge is the onset of the code on lines
   * 0..15.
   */
  private networkLine(line: number, state: 0 | 1): void {
    if (!this.running) return;
    const strobe = 2 ** networkEventsStrobeLine;
    const code = this.networkChannel.word % strobe;
    const onset =
      line === networkEventsStrobeLine &&
      state === 1 &&
      Math.floor(this.networkChannel.word / strobe) % 2 === 0 &&
      code !== 0;
    if (onset) this.presentationComing();
    const sample = this.nextBlockSample();
    this.ttlQueue.push({ sample, ...this.networkChannel.setLine(line, state), sourceNode: networkEventsNode });
    if (onset) this.beginPresentation(code, sample);
  }

  /** Test-only `TTL Word=<code>`: Network Events' channel takes the whole word, one event per changed bit. */
  private networkWord(code: number): void {
    if (!this.running || code === this.networkChannel.word) return;
    if (code !== 0) this.presentationComing();
    const sample = this.nextBlockSample();
    for (const c of this.networkChannel.setWord(code))
      this.ttlQueue.push({ sample, ...c, sourceNode: networkEventsNode });
    if (code !== 0) this.beginPresentation(code, sample);
  }

  /**
   * A presentation's code is about to reach the rig: the injected restart or stall happens first, so its onset lands
   * after.
   */
  private presentationComing(): void {
    this.stats.codesReceived++;
    this.presentationsSeen++;
    const f = this.options.faults ?? {};
    if (f.restartAfterPresentations !== undefined && this.presentationsSeen === f.restartAfterPresentations)
      this.restart();
    if (
      f.stallAfterPresentations !== undefined &&
      f.stallMs !== undefined &&
      this.presentationsSeen === f.stallAfterPresentations
    ) {
      this.stats.stalls++;
      this.stallUntil = performance.now() + f.stallMs;
    }
  }

  /**
   * A presentation's code reached the rig at `onset`: its picture (whenever it comes) drives the neurons from there.
   */
  private beginPresentation(code: number, onset: number): void {
    const p: SimPresentation = {
      code,
      onset,
      epoch: this.epoch,
      durationSamples: 0,
      rates: undefined,
      truth: new Int32Array(this.units.length * this.window.bins),
      truthDone: false,
      responseEnd: onset,
    };
    this.active.push(p);
    const image = this.framesByCode.get(code);
    if (image !== undefined) {
      this.framesByCode.delete(code);
      void this.attach(p, image.image, image.durationMs);
    } else this.waitingForPicture.set(code, p);
  }

  /** A picture arrived from the display; it joins the code with the same number, whichever came first. */
  picture(code: number, image: RgbImage, durationMs = 100): void {
    const p = this.waitingForPicture.get(code);
    if (p !== undefined) {
      this.waitingForPicture.delete(code);
      void this.attach(p, image, durationMs);
      return;
    }
    this.framesByCode.set(code, { image, durationMs });
    if (this.framesByCode.size > 256) this.framesByCode.delete(this.framesByCode.keys().next().value!);
  }

  private async attach(p: SimPresentation, image: RgbImage, durationMs: number): Promise<void> {
    const rates = await this.options.neurons.rates(image);
    p.rates = Float64Array.from(rates, (r) => r * this.rateScale);
    // V4 responds for about the stimulus plus an offset tail, and at least ~100 ms even to a brief flash.
    p.durationSamples = Math.round((Math.max(100, durationMs + 50) * this.options.sampleRate) / 1000);
    let maxLat = 0;
    for (const l of this.latencySamples) maxLat = Math.max(maxLat, l);
    p.responseEnd = p.onset + maxLat + p.durationSamples;
  }

  /** Acquisition restarts: message_num and the sample clock go back to 0; whatever was in flight is gone. */
  restart(): void {
    this.stats.restarts++;
    this.epoch++;
    this.messageNum = 0;
    this.t0 = performance.now();
    this.emittedUpTo = 0;
    this.dataUpTo = 0;
    this.active = [];
    this.ttlQueue = [];
    this.waitingForPicture.clear();
    this.photodiode?.clear();
  }

  private scheduleTick(): void {
    if (!this.running) return;
    this.tickTimer = setTimeout(() => {
      this.tickTimer = undefined;
      void this.tick().finally(() => this.scheduleTick());
    }, this.options.tickMs ?? 2);
  }

  private async tick(): Promise<void> {
    if (this.ticking || !this.running || !this.acquiring) return;
    if (performance.now() < this.stallUntil) return;
    this.ticking = true;
    try {
      const to = this.nowSample();
      const from = this.emittedUpTo;
      if (to <= from) return;
      this.emittedUpTo = to;
      const epoch = this.epoch;
      if (this.photodiode !== undefined) {
        // Edges due by now go out at their own sample, or at the block's first when their time has passed.
        for (const e of this.photodiode.due(to)) {
          const change = this.board.setLine(this.photodiode.line, e.state);
          this.ttlQueue.push({ sample: Math.max(e.sample, from + 1), ...change, sourceNode: boardNode });
        }
      }
      const n = this.drawSpikes(from, to);
      await this.emit(n, to, epoch);
      this.zpub?.flush();
      if (epoch === this.epoch) this.closeTruth(to);
    } finally {
      this.ticking = false;
    }
  }

  /** Poisson spikes of every unit in (from, to], as sorted keys sample * 1024 + unit. */
  private drawSpikes(from: number, to: number): number {
    const sr = this.options.sampleRate;
    const dtS = (to - from) / sr;
    const mid = (from + to) / 2;
    let n = 0;
    for (let u = 0; u < this.units.length; u++) {
      let rate = this.spontaneous[u]!;
      const lat = this.latencySamples[u]!;
      for (const p of this.active) {
        if (p.rates === undefined) continue;
        const start = p.onset + lat;
        if (mid >= start && mid < start + p.durationSamples && p.rates[u]! > rate) rate = p.rates[u]!;
      }
      const k = this.rng.poisson(rate * dtS);
      for (let i = 0; i < k; i++) {
        const sample = from + 1 + Math.floor(this.rng.next() * (to - from));
        if (n === this.keys.length) {
          const grown = new Float64Array(this.keys.length * 2);
          grown.set(this.keys);
          this.keys = grown;
        }
        this.keys[n++] = sample * 1024 + u;
      }
    }
    this.keys.subarray(0, n).sort();
    return n;
  }

  private async emit(n: number, to: number, epoch: number): Promise<void> {
    // Stable: the per-bit events of one change keep their order.
    const ttls = this.ttlQueue.filter((t) => t.sample <= to).sort((a, b) => a.sample - b.sample);
    this.ttlQueue = this.ttlQueue.filter((t) => t.sample > to);
    let ti = 0;
    // DATA blocks (none until a block's worth has built up); each goes out after the events up to its last sample.
    const blockEnds: number[] = [];
    if (to - this.dataUpTo >= minBlockSamples)
      for (let e = this.dataUpTo; e < to;) blockEnds.push((e = Math.min(e + maxBlockSamples, to)));
    let bi = 0;
    const wallBase = performance.timeOrigin + this.t0;
    const sr = this.options.sampleRate;
    // Spikes are framed in place on the batched publisher unless faults are to be injected (those need the frames).
    const fast = this.zpub !== undefined && !this.injectsFaults() ? this.spikeFramer() : undefined;
    for (let i = 0; i <= n; i++) {
      const key = i < n ? this.keys[i]! : Infinity;
      const sample = Math.floor(key / 1024);
      // Messages go out in rig-clock order: TTLs and spikes by sample, each DATA block after the events it covers.
      for (;;) {
        if (this.epoch !== epoch) return;
        const ttlAt = ti < ttls.length ? ttls[ti]!.sample : Infinity;
        if (bi < blockEnds.length && blockEnds[bi]! < Math.min(ttlAt, sample)) {
          await this.dataBlock(blockEnds[bi++]!);
          continue;
        }
        if (ti >= ttls.length || ttlAt > sample) break;
        const t = ttls[ti++]!;
        this.stats.ttlEvents++;
        await this.send(
          encodeTtl({
            messageNum: this.nextMessageNum(),
            sampleNum: t.sample,
            line: t.line,
            state: t.state,
            word: t.word,
            sourceNode: t.sourceNode,
            timestampMs: wallBase + (t.sample * 1000) / sr,
          }),
        );
      }
      if (i === n) break;
      if ((i & 511) === 511) {
        // The GUI answers Network Events and heartbeats on threads of their own: let their sockets in during a long
        // tick
        // (what is queued goes out at the tick's end, when the ground truth notes the send time).
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (this.epoch !== epoch) return;
      const u = key - sample * 1024;
      this.stats.spikesEmitted++;
      for (const p of this.active) {
        const bin = binOf(sample, p.onset, this.window);
        if (bin >= 0) p.truth[u * this.window.bins + bin]!++;
      }
      const timestampMs = wallBase + (sample * 1000) / sr;
      if (fast !== undefined && fast.handles(u)) {
        fast.write(this.zpub!, u, i, this.nextMessageNum(), sample, timestampMs);
        this.stats.messagesSent++;
        this.stats.spikesDelivered++;
        continue;
      }
      const unit = this.units[u]!;
      const variants = this.waveforms[u]!;
      const delivered = await this.send(
        encodeSpike(
          {
            messageNum: this.nextMessageNum(),
            electrode: unit.electrode,
            sortedId: unit.sortedId,
            sampleNum: sample,
            sourceNode: spikeNode,
            timestampMs,
          },
          variants[i % templateVariants]!,
        ),
      );
      if (delivered) this.stats.spikesDelivered++;
    }
  }

  private injectsFaults(): boolean {
    const f = this.options.faults ?? {};
    return (f.dropFraction ?? 0) > 0 || (f.malformedFraction ?? 0) > 0;
  }

  private spikeFramer(): SpikeFramer {
    this.framer ??= new SpikeFramer(
      this.units.map((unit) => ({ electrode: unit.electrode, sortedId: unit.sortedId, sourceNode: spikeNode })),
      this.waveforms,
    );
    return this.framer;
  }

  /** The plugin's message counter: a signed 32-bit int, so it wraps from 2147483647 to -2147483648. */
  private nextMessageNum(): number {
    this.messageNum = (this.messageNum + 1) | 0;
    return this.messageNum;
  }

  /**
   * One processing block's DATA messages, samples after the last block up to `end`: one per channel, as the plugin
   * sends them.
   */
  private async dataBlock(end: number): Promise<void> {
    const channels = this.options.dataChannels ?? 4;
    const sr = this.options.sampleRate;
    const wallBase = performance.timeOrigin + this.t0;
    const start = this.dataUpTo + 1;
    const n = end - this.dataUpTo;
    this.dataUpTo = end;
    for (let c = 0; c < channels; c++) {
      if (this.noiseAt + n > this.noise.length) this.noiseAt = 0;
      const samples = this.noise.subarray(this.noiseAt, this.noiseAt + n);
      this.noiseAt += n;
      this.stats.dataMessages++;
      await this.send(
        encodeData(
          {
            messageNum: this.nextMessageNum(),
            channelNum: c,
            sampleNum: start,
            sampleRate: sr,
            timestampMs: wallBase + ((start + n) * 1000) / sr,
          },
          samples,
        ),
      );
    }
  }

  /** Sends one message, or drops or garbles it as the fault settings say; true when it went out intact. */
  private async send(frames: Buffer[]): Promise<boolean> {
    const pub = this.pub;
    const zpub = this.zpub;
    if (pub === undefined && zpub === undefined) return false;
    const out = (m: Buffer[]): Promise<void> | void => (zpub !== undefined ? zpub.queue(m) : pub!.send(m));
    const f = this.options.faults ?? {};
    if (f.dropFraction !== undefined && f.dropFraction > 0 && this.faultRng.next() < f.dropFraction) {
      this.stats.messagesDropped++;
      return false;
    }
    if (f.malformedFraction !== undefined && f.malformedFraction > 0 && this.faultRng.next() < f.malformedFraction) {
      this.stats.malformedSent++;
      await out(malform(frames, this.faultRng.int(4)));
      return false;
    }
    this.stats.messagesSent++;
    await out(frames);
    return true;
  }

  /**
   * Writes the ground truth of presentations whose window the clock has passed; keeps them while they still respond.
   */
  private closeTruth(upTo: number): void {
    const w = this.window;
    for (const p of this.active) {
      // Recorded once the stream has passed the grace too, so the send time of the closing message is known.
      if (p.truthDone || upTo < p.onset + w.endSamples + w.graceSamples) continue;
      p.truthDone = true;
      const record: TruthRecord = {
        code: p.code,
        onsetSample: p.onset,
        epoch: p.epoch,
        closeEpochMs:
          performance.timeOrigin +
          this.t0 +
          ((p.onset + w.endSamples + w.graceSamples) * 1000) / this.options.sampleRate,
        sentEpochMs: performance.timeOrigin + performance.now(),
        units: this.units.map((unit, u) => ({
          electrode: unit.electrode,
          sortedId: unit.sortedId,
          bins: Array.from(p.truth.subarray(u * w.bins, (u + 1) * w.bins)),
        })),
      };
      if (this.options.keepTruth) this.truth.push(record);
      this.truthOut?.write(`${JSON.stringify(record)}\n`);
    }
    this.active = this.active.filter((p) => !p.truthDone || upTo < p.responseEnd);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.tickTimer !== undefined) clearTimeout(this.tickTimer);
    if (this.serialRetry !== undefined) clearTimeout(this.serialRetry);
    clearInterval(this.serialWatch);
    this.serialWatch = undefined;
    while (this.ticking) await new Promise((r) => setTimeout(r, 1));
    const serial = this.serial;
    this.serial = undefined;
    if (serial !== undefined) {
      serial.removeAllListeners();
      serial.on("error", () => {});
      if (serial.isOpen) await new Promise<void>((resolve) => serial.close(() => resolve()));
    }
    this.pub?.close();
    this.zpub?.close();
    this.heartbeatRep?.close();
    this.codeRep?.close();
    this.displaySub?.close();
    await Promise.allSettled(this.loops);
    this.loops = [];
    const out = this.truthOut;
    this.truthOut = undefined;
    if (out !== undefined) await new Promise<void>((resolve) => out.end(() => resolve()));
    this.options.neurons.dispose?.();
  }
}

/**
 * The ZMQ Interface's heartbeat answers (ZmqInterface.cpp): a JSON `event` is "parsed", other JSON a heartbeat, the
 * rest unreadable.
 */
function heartbeatAnswer(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "JSON message could not be read";
  }
  const type = value !== null && typeof value === "object" ? (value as { type?: unknown }).type : undefined;
  return type === "event" ? "message correctly parsed" : "heartbeat received";
}

/** A few noisy copies of one unit's extracellular spike shape: trough, then a slower positive phase. */
function spikeWaveforms(rng: Random): Float32Array[] {
  const amplitude = 40 + rng.next() * 120;
  const width = 2 + rng.next() * 2;
  const repol = 6 + rng.next() * 6;
  return Array.from({ length: templateVariants }, () => {
    const w = new Float32Array(waveformSamples);
    for (let i = 0; i < waveformSamples; i++) {
      const t = i - 12;
      const trough = -amplitude * Math.exp(-(t * t) / (2 * width * width));
      const after = t > 0 ? 0.35 * amplitude * (t / repol) * Math.exp(1 - t / repol) : 0;
      w[i] = trough + after + rng.normal() * 4;
    }
    return w;
  });
}

/** Turns a good message into one of four kinds of bad one. */
function malform(frames: Buffer[], kind: number): Buffer[] {
  switch (kind) {
    case 0:
      return [frames[0]!, Buffer.from('{"message_num": ', "utf8"), frames[2] ?? Buffer.alloc(0)];
    case 1:
      return [frames[0]!, frames[1]!, (frames[2] ?? Buffer.alloc(8)).subarray(0, 7)];
    case 2:
      return [Buffer.from("GARBAGE\0", "latin1"), frames[1]!, frames[2] ?? Buffer.alloc(0)];
    default:
      return [eventEnvelope];
  }
}
