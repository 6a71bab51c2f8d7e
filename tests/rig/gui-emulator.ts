// An Open Ephys GUI as its plugins' sources define it, written for tests from the contract (RIG_PROTOCOL.md sections
// 1-2 and open-ephys-plugins/zmq-interface ZmqInterface.cpp, network-events NetworkEvents.cpp, plugin-GUI Event.cpp),
// independently of the simulated rig's code: it imports nothing from src/. One signal chain: an acquisition board,
// a Spike Detector on tetrodes (sorted units), Network Events, the ZMQ Interface forwarding the selected stream.
import { Publisher, Reply } from "zeromq";

/** A JSON value as a JUCE `var` holds it: doubles are told apart from ints because JUCE writes them differently. */
type JuceValue = null | boolean | string | number | JuceDouble | JuceValue[] | { [key: string]: JuceValue };

class JuceDouble {
  constructor(readonly value: number) {}
}

function double(v: number): JuceDouble {
  return new JuceDouble(v);
}

/**
 * JUCE's JSON::toString(var) with its defaults: multi-line, CRLF (JUCE's newLine), two spaces per level, `"key":
 * value`.
 */
export function juceJson(value: JuceValue, indent = 0): string {
  const nl = "\r\n";
  const pad = (n: number): string => " ".repeat(n);
  if (value === null) return "null";
  if (value instanceof JuceDouble) {
    if (!Number.isFinite(value.value)) return "null";
    return Number.isInteger(value.value) ? value.value.toFixed(1) : String(value.value);
  }
  if (typeof value === "number") return String(Math.trunc(value));
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return (
      `[${nl}${value.map((v) => `${pad(indent + 2)}${juceJson(v, indent + 2)}`).join(`,${nl}`)}${nl}` +
      `${pad(indent)}]`
    );
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{${nl}${entries
    .map(([k, v]) => `${pad(indent + 2)}${JSON.stringify(k)}: ` + `${juceJson(v, indent + 2)}`)
    .join(`,${nl}`)}${nl}${pad(indent)}}`;
}

/** mulberry32: a small seeded generator, so a run's spikes are the same every time. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(lambda: number, next: () => number): number {
  const l = Math.exp(-lambda);
  let k = 0;
  let p = next();
  while (p > l) {
    k++;
    p *= next();
  }
  return k;
}

export interface ReplyOverride {
  /** Sent instead of the plugin's reply. */
  reply?: string;
  /** Send nothing for this long (the controller's REQ times out), then the plugin's reply to nobody. */
  silentMs?: number;
  /** Whether the plugin still carries the command out (default: only when the reply is the plugin's own). */
  apply?: boolean;
}

export interface GuiEmulatorOptions {
  dataPort: number;
  eventsPort: number;
  sampleRate?: number;
  /** Samples per processing block (the GUI emits everything block by block). */
  blockSamples?: number;
  /** Rig samples per real-time sample: > 1 runs the rig clock faster than real time. */
  speed?: number;
  acquiring?: boolean;
  /** message_num of the first message; the plugin's counter is a C++ int, so it wraps past 2147483647. */
  firstMessageNum?: number;
  /** Continuous channels selected in the ZMQ Interface (one DATA message each per block). */
  dataChannels?: number;
  spikes?: boolean;
  /**
   * Fraction of DATA messages lost on the way (message_num still advances): one in every 1/fraction, at
   * a seeded phase, so a run of n messages loses ⌊n · fraction⌋ or one more, whatever else draws on the seed.
   */
  dropDataFraction?: number;
  /** Headers of a pre-0.3 ZMQ Interface (GUI 0.5): message_no and the old field names. */
  legacyHeaders?: boolean;
  /** The acquisition board's photodiode input: a TTL on this line `lagMs` after each strobe, 50 ms long. */
  photodiode?: { line: number; lagMs: number };
  /** Replaces Network Events' reply to the `index`-th command (from 0). */
  overrideReply?: (command: string, index: number) => ReplyOverride | undefined;
  seed?: number;
}

interface Unit {
  electrode: string;
  sortedId: number;
}

export interface EmulatedOnset {
  code: number;
  sample: number;
}

const stream = "Rhythm Data";
const boardNode = 100;
const spikeDetectorNode = 102;
const networkEventsNode = 103;
const windowStart = 1500;
const windowEnd = 4500;

export class GuiEmulator {
  readonly units: Unit[] = [];
  readonly onsets: EmulatedOnset[] = [];
  /** Per unit, the peak samples of every spike sent (whether or not it arrived). */
  readonly spikeSamples: number[][] = [];
  readonly commands: string[] = [];
  readonly stats = {
    messages: 0,
    dataMessages: 0,
    dataDropped: 0,
    spikes: 0,
    ttlEvents: 0,
    blocks: 0,
    heartbeats: { received: 0, parsed: 0, unreadable: 0 },
  };
  acquiring: boolean;

  private readonly sampleRate: number;
  private readonly blockSamples: number;
  private readonly speed: number;
  private readonly random: () => number;
  /** Owed drops: grows by dropDataFraction per DATA message; a message is dropped each time it reaches 1. */
  private dropDebt: number;
  private readonly pub = new Publisher({ linger: 0, sendHighWaterMark: 100_000 });
  private readonly heartbeat = new Reply({ linger: 0 });
  private readonly events = new Reply({ linger: 0 });
  private messageNum: number;
  /** Network Events' TTL channel: 256 lines, its word over lines 0..31 (no test uses more). */
  private readonly lines = new Uint8Array(256);
  private word = 0;
  private readonly ttlQueue: { line: number; state: 0 | 1 }[] = [];
  private readonly photodiodeQueue: { sample: number; state: 0 | 1 }[] = [];
  private nextBlock = 0;
  private t0 = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private processing = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly options: GuiEmulatorOptions) {
    this.sampleRate = options.sampleRate ?? 30000;
    this.blockSamples = options.blockSamples ?? 480;
    this.speed = options.speed ?? 1;
    this.acquiring = options.acquiring ?? true;
    this.messageNum = ((options.firstMessageNum ?? 1) - 1) | 0;
    this.random = generator(options.seed ?? 1);
    this.dropDebt = generator((options.seed ?? 1) + 7919)();
    for (let t = 1; t <= 4; t++)
      for (let id = 1; id <= 3; id++) this.units.push({ electrode: `Tetrode ${t}`, sortedId: id });
    for (const _ of this.units) this.spikeSamples.push([]);
  }

  get rigSample(): number {
    return this.nextBlock;
  }

  async start(): Promise<void> {
    await this.pub.bind(`tcp://127.0.0.1:${this.options.dataPort}`);
    await this.heartbeat.bind(`tcp://127.0.0.1:${this.options.dataPort + 1}`);
    await this.events.bind(`tcp://127.0.0.1:${this.options.eventsPort}`);
    this.running = true;
    this.loops.push(this.serveHeartbeats(), this.serveNetworkEvents());
    this.t0 = performance.now();
    this.timer = setInterval(() => void this.process(), 5);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    while (this.processing) await new Promise((r) => setTimeout(r, 2));
    this.pub.close();
    this.heartbeat.close();
    this.events.close();
    await Promise.allSettled(this.loops);
  }

  /** The count a faultless controller stores for `onset` and each unit (window [50, 150) ms at 30 kHz). */
  truth(onset: EmulatedOnset): Map<string, number> {
    const out = new Map<string, number>();
    this.units.forEach((u, i) => {
      let n = 0;
      for (const s of this.spikeSamples[i]!) if (s >= onset.sample + windowStart && s < onset.sample + windowEnd) n++;
      out.set(`${u.electrode}\u0000${u.sortedId}`, n);
    });
    return out;
  }

  // ZmqInterface.cpp run(): JSON::parse the request; type "event" -> parsed, other JSON -> heartbeat, else unreadable.
  private async serveHeartbeats(): Promise<void> {
    while (this.running) {
      try {
        const [msg] = await this.heartbeat.receive();
        let reply = "heartbeat received";
        try {
          const v = JSON.parse(msg!.toString("utf8")) as { type?: unknown } | null;
          if (v !== null && typeof v === "object" && v.type === "event") reply = "message correctly parsed";
        } catch {
          reply = "JSON message could not be read";
        }
        this.stats.heartbeats.received++;
        if (reply === "message correctly parsed") this.stats.heartbeats.parsed++;
        if (reply === "JSON message could not be read") this.stats.heartbeats.unreadable++;
        await this.heartbeat.send(reply);
      } catch {
        if (!this.running) return;
      }
    }
  }

  private async serveNetworkEvents(): Promise<void> {
    while (this.running) {
      try {
        const [msg] = await this.events.receive();
        const command = msg!.toString("utf8");
        const index = this.commands.length;
        this.commands.push(command);
        const override = this.options.overrideReply?.(command, index);
        const own = this.handle(
          command,
          override === undefined ||
            override.apply === true ||
            (override.apply === undefined && override.reply === undefined),
        );
        if (override?.silentMs !== undefined) await new Promise((r) => setTimeout(r, override.silentMs));
        await this.events.send(override?.reply ?? own);
      } catch {
        if (!this.running) return;
      }
    }
  }

  /**
   * NetworkEvents.cpp handleSpecialMessages, for the commands a controller sends; `apply` false answers without acting.
   */
  private handle(message: string, apply: boolean): string {
    const cmd = message.split(" ")[0]!.toLowerCase();
    const params: [string, string][] = [];
    if (message.includes("=")) {
      for (const token of message.slice(cmd.length).trim().split(" ")) {
        const eq = token.indexOf("=");
        if (token.length > 0 && eq >= 0) params.push([token.slice(0, eq).toLowerCase(), token.slice(eq + 1)]);
      }
    }
    if (cmd === "isacquiring") return this.acquiring ? "1" : "0";
    if (cmd === "ttl") {
      let line = 0;
      let state: 0 | 1 = 0;
      for (const [key, value] of params) {
        const v = Number.parseInt(value, 10) || 0;
        if (key === "line") {
          if (v > 256 || v < 1) return "InvalidChannel";
          line = v - 1;
        } else if (key === "state") state = v !== 0 ? 1 : 0;
      }
      if (apply && this.acquiring) this.ttlQueue.push({ line, state });
      return `TTLHandled: Line=${line + 1} State=${state}`;
    }
    return "NotHandled";
  }

  private nextMessageNum(): number {
    this.messageNum = (this.messageNum + 1) | 0;
    return this.messageNum;
  }

  private async send(frames: Buffer[]): Promise<void> {
    this.stats.messages++;
    await this.pub.send(frames);
  }

  private header(type: string, body: Record<string, JuceValue>): Buffer {
    const num = this.nextMessageNum();
    return Buffer.from(
      juceJson(this.options.legacyHeaders ? { message_no: num, type, ...body } : { message_num: num, type, ...body }),
      "utf8",
    );
  }

  private async process(): Promise<void> {
    if (this.processing || !this.running || !this.acquiring) return;
    this.processing = true;
    try {
      const target = Math.floor(((performance.now() - this.t0) * this.sampleRate * this.speed) / 1000);
      while (this.running && this.nextBlock + this.blockSamples <= target) {
        await this.block(this.nextBlock, this.blockSamples);
        this.nextBlock += this.blockSamples;
        this.stats.blocks++;
      }
    } finally {
      this.processing = false;
    }
  }

  /**
   * One processing block: the Spike Detector's spikes, Network Events' TTLs (at the block's first sample), the board's,
   * then DATA.
   */
  private async block(first: number, n: number): Promise<void> {
    const now = Date.now();
    if (this.options.spikes ?? true) await this.blockSpikes(first, n, now);
    while (this.ttlQueue.length > 0) {
      const { line, state } = this.ttlQueue.shift()!;
      const wasStrobe = this.lines[16] === 1;
      // plugin-GUI Event.cpp createTTLEvent: set the line, then the channel's whole word goes in the event.
      if (this.lines[line] !== state) {
        this.lines[line] = state;
        if (line < 32) this.word = (state ? this.word | (1 << line) : this.word & ~(1 << line)) >>> 0;
      }
      await this.ttl(first, line, state, this.word, networkEventsNode, now);
      if (line === 16 && state === 1 && !wasStrobe) {
        this.onsets.push({ code: this.word & 0xffff, sample: first });
        const pd = this.options.photodiode;
        if (pd !== undefined) {
          const at = first + Math.round((pd.lagMs * this.sampleRate) / 1000);
          this.photodiodeQueue.push(
            { sample: at, state: 1 },
            { sample: at + Math.round(0.05 * this.sampleRate), state: 0 },
          );
        }
      }
    }
    for (const e of this.photodiodeQueue.filter((p) => p.sample < first + n)) {
      this.photodiodeQueue.splice(this.photodiodeQueue.indexOf(e), 1);
      const line = this.options.photodiode!.line;
      await this.ttl(e.sample, line, e.state, e.state ? 2 ** line : 0, boardNode, now);
    }
    for (let c = 0; c < (this.options.dataChannels ?? 3); c++) {
      const samples = new Float32Array(n).map(() => (this.random() - 0.5) * 40);
      const header = this.options.legacyHeaders
        ? this.header("data", {
            content: { n_channels: 1, n_samples: n, n_real_samples: n, sample_rate: 30000, timestamp: first },
            data_size: n * 4,
          })
        : this.header("data", {
            content: {
              stream,
              channel_num: c,
              channel_name: `CH${c + 1}`,
              num_samples: n,
              sample_num: first,
              sample_rate: double(this.sampleRate),
            },
            data_size: n * 4,
            timestamp: now,
          });
      this.stats.dataMessages++;
      this.dropDebt += this.options.dropDataFraction ?? 0;
      if (this.dropDebt >= 1) {
        this.dropDebt -= 1;
        this.stats.dataDropped++;
        continue;
      }
      await this.send([Buffer.from("DATA\0", "latin1"), header, Buffer.from(samples.buffer)]);
    }
  }

  private async ttl(
    sample: number,
    line: number,
    state: 0 | 1,
    word: number,
    node: number,
    now: number,
  ): Promise<void> {
    const payload = Buffer.alloc(10);
    payload[0] = line;
    payload[1] = state;
    payload.writeBigUInt64LE(BigInt(word), 2);
    const header = this.options.legacyHeaders
      ? this.header("event", {
          content: { type: 3, sample_num: sample, event_id: state, event_channel: line, timestamp: sample },
          data_size: 10,
        })
      : this.header("event", {
          content: { stream, source_node: node, type: 3, sample_num: sample },
          data_size: 10,
          timestamp: now,
        });
    this.stats.ttlEvents++;
    await this.send([Buffer.from("EVENT\0", "latin1"), header, payload]);
  }

  /**
   * Spikes whose peaks fall in the block the detector has finished (it needs 20 samples after a peak), electrode by
   * electrode.
   */
  private async blockSpikes(first: number, n: number, now: number): Promise<void> {
    const lo = first - 20;
    const hi = first + n - 20;
    const seconds = n / this.sampleRate;
    const byUnit: number[][] = this.units.map(() => []);
    this.units.forEach((_, u) => {
      for (let k = poisson(8 * seconds, this.random); k > 0; k--) byUnit[u]!.push(lo + Math.floor(this.random() * n));
      for (const onset of this.onsets.slice(-4)) {
        // Evoked: a rate that depends on the code and the unit, inside [onset + 50, onset + 150) ms.
        const a = Math.max(lo, onset.sample + windowStart);
        const b = Math.min(hi, onset.sample + windowEnd);
        if (b <= a) continue;
        const rate = 20 + ((onset.code * 31 + u * 17) % 100);
        for (let k = poisson((rate * (b - a)) / this.sampleRate, this.random); k > 0; k--)
          byUnit[u]!.push(a + Math.floor(this.random() * (b - a)));
      }
    });
    for (let u = 0; u < this.units.length; u++) {
      const unit = this.units[u]!;
      for (const sample of byUnit[u]!.sort((x, y) => x - y)) {
        this.spikeSamples[u]!.push(sample);
        this.stats.spikes++;
        const waveform = new Float32Array(4 * 40).map((_, i) => -60 * Math.exp(-(((i % 40) - 12) ** 2) / 8));
        const header = this.header("spike", {
          spike: {
            stream,
            source_node: spikeDetectorNode,
            electrode: unit.electrode,
            sample_num: sample,
            num_channels: 4,
            num_samples: 40,
            sorted_id: unit.sortedId,
            threshold: [double(-45.5), double(-45.5), double(-50), double(-47.25)],
          },
          timestamp: now,
        });
        await this.send([Buffer.from("EVENT\0", "latin1"), header, Buffer.from(waveform.buffer)]);
      }
    }
  }
}
