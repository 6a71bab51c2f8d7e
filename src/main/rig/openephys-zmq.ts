import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Request, Subscriber } from "zeromq";
import type { CountWindow } from "../protocol/schema.js";
import { OpenEphysStream, type FinalisedCounts, type StreamStats } from "./openephys-stream.js";
import type { CodeLines } from "./ttl-codes.js";
import type { Acquisition, AcquisitionSink, RigLinkState } from "./types.js";
import { ZmtpSubscriber } from "./zmtp-subscriber.js";

export interface OpenEphysZmqOptions {
  host: string;
  /** The rig's PUB data port; its heartbeat REP listens on dataPort + 1. */
  dataPort: number;
  sampleRate: number;
  countWindow: CountWindow;
  graceMs?: number;
  application?: string;
  heartbeatEveryMs?: number;
  heartbeatTimeoutMs?: number;
  maxFrameBytes?: number;
  /**
   * How event codes ride on the TTL lines (the Network Events strobe, the photodiode's masked line); default the serial
   * box's word.
   */
  codeLines?: CodeLines;
  /** Event line (from 0) of the photodiode, whose edges give each presentation's light onset. */
  photodiodeLine?: number;
  /**
   * How the data socket is read: "zmtp" (default) parses ZMTP 3 from a plain TCP socket in bulk and
   * keeps up with 100k spikes/s; "zeromq" uses a zeromq.js SUB (about 90k messages/s on 2 cores).
   */
  reader?: "zmtp" | "zeromq";
  log?: (line: string) => void;
}

/** The ZMQ Interface's answers on its heartbeat socket: to a heartbeat, to a JSON `event`, to what is not JSON. */
export const heartbeatReplies: ReadonlySet<string> = new Set([
  "heartbeat received",
  "message correctly parsed",
  "JSON message could not be read",
]);

/**
 * Client of the Open Ephys GUI's ZMQ Interface (RIG_PROTOCOL.md section 1): a SUB on the data
 * socket feeding the decoder, and a REQ heartbeat that is torn down and rebuilt when the rig stops
 * answering, without touching the data socket.
 */
export class OpenEphysZmqAcquisition implements Acquisition {
  readonly uuid = randomUUID();
  private stream: OpenEphysStream | undefined;
  private sub: Subscriber | undefined;
  private zmtp: ZmtpSubscriber | undefined;
  private started = false;
  private req: Request | undefined;
  private receiving: Promise<void> | undefined;
  private heartbeating: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private wakeHeartbeat: (() => void) | undefined;
  private stopped = false;
  private link: RigLinkState = "closed";
  private sink: AcquisitionSink | undefined;
  private readonly pendingFinalised: ((f: FinalisedCounts) => void)[] = [];
  private oddReplyLogged = false;

  constructor(private readonly options: OpenEphysZmqOptions) {}

  get endpoint(): string {
    return `tcp://${this.options.host}:${this.options.dataPort}`;
  }

  get heartbeatEndpoint(): string {
    return `tcp://${this.options.host}:${this.options.dataPort + 1}`;
  }

  /** Decoder counters (messages, losses, faults by kind); undefined before start. */
  get stats(): StreamStats | undefined {
    return this.stream?.stats;
  }

  get openPresentations(): number {
    return this.stream?.openPresentations ?? 0;
  }

  /** Messages read from the data socket so far, whatever they held (a session's health watches it move). */
  get messagesReceived(): number | undefined {
    return this.stream?.stats.messages;
  }

  get linkState(): RigLinkState {
    return this.link;
  }

  /** Why the rig's stream cannot be counted (a ZMQ Interface older than 0.3.0), once known. */
  get refusal(): string | undefined {
    return this.stream?.refused;
  }

  /** Subscribe to the moment each presentation's counts are handed to the sink (benchmarks). */
  onFinalised(listener: (f: FinalisedCounts) => void): void {
    if (this.stream !== undefined) this.stream.onFinalised = listener;
    else this.pendingFinalised.push(listener);
  }

  async start(sink: AcquisitionSink): Promise<void> {
    if (this.started) throw new Error("OpenEphysZmqAcquisition: already started; stop it before starting again");
    this.started = true;
    this.sink = sink;
    this.stopped = false;
    this.stream = new OpenEphysStream(sink, {
      sampleRate: this.options.sampleRate,
      countWindow: this.options.countWindow,
      graceMs: this.options.graceMs,
      maxFrameBytes: this.options.maxFrameBytes,
      codeLines: this.options.codeLines,
      photodiodeLine: this.options.photodiodeLine,
    });
    const listener = this.pendingFinalised.pop();
    if (listener !== undefined) this.stream.onFinalised = listener;
    const stream = this.stream;
    if ((this.options.reader ?? "zmtp") === "zmtp") {
      this.zmtp = new ZmtpSubscriber({
        host: this.options.host,
        port: this.options.dataPort,
        onMessage: (frames) => stream.push(frames),
        onState: (up, detail) => this.options.log?.(`rig data socket ${up ? "up" : "down"}: ${detail}`),
        maxFrameBytes: Math.max(64 << 20, this.options.maxFrameBytes ?? 0),
      });
      this.zmtp.start();
    } else {
      // No high-water mark: a burst from the rig must queue, never be dropped by ZMQ itself.
      const sub = new Subscriber({ receiveHighWaterMark: 0, linger: 0 });
      sub.connect(this.endpoint);
      sub.subscribe();
      this.sub = sub;
      this.receiving = this.receiveLoop(sub, stream);
    }
    this.openHeartbeat();
    this.heartbeating = this.heartbeatLoop();
  }

  expect(presentation: { presentationIdx: number; code: number }): void {
    if (this.stream === undefined)
      throw new Error(
        `OpenEphysZmqAcquisition: presentation ${presentation.presentationIdx} announced before start(); call ` +
          `start first`,
      );
    this.stream.expect(presentation.presentationIdx, presentation.code);
  }

  private async receiveLoop(sub: Subscriber, stream: OpenEphysStream): Promise<void> {
    while (!this.stopped && !sub.closed) {
      let frames: Buffer[];
      try {
        frames = await sub.receive();
      } catch (err) {
        if (this.stopped || sub.closed) return;
        this.options.log?.(
          `rig data socket error: ${err instanceof Error ? err.message : String(err)}; still listening`,
        );
        continue;
      }
      stream.push(frames);
    }
  }

  private openHeartbeat(): void {
    const timeout = this.options.heartbeatTimeoutMs ?? 10_000;
    const req = new Request({ receiveTimeout: timeout, sendTimeout: timeout, linger: 0 });
    req.connect(this.heartbeatEndpoint);
    this.req = req;
  }

  private setLink(state: RigLinkState, message: string): void {
    if (state === this.link) return;
    this.link = state;
    this.sink?.link?.(state, message);
  }

  private async heartbeatLoop(): Promise<void> {
    const every = this.options.heartbeatEveryMs ?? 2000;
    const body = JSON.stringify({
      application: this.options.application ?? "cortexloop",
      uuid: this.uuid,
      type: "heartbeat",
    });
    while (!this.stopped) {
      const req = this.req!;
      const sentAt = performance.now();
      try {
        await req.send(body);
        const [reply] = await req.receive();
        if (this.stopped) return;
        const text = reply?.toString("utf8") ?? "";
        // Whatever it says, the rig's REP answered: the link is up. The plugin has three answers (ZmqInterface.cpp).
        this.setLink("connected", `rig at ${this.endpoint} answers heartbeats`);
        if (!heartbeatReplies.has(text) && !this.oddReplyLogged) {
          this.oddReplyLogged = true;
          this.options.log?.(
            `rig heartbeat reply was ${JSON.stringify(text.slice(0, 60))}, expected one of ` +
              `${[...heartbeatReplies].map((r) => `"${r}"`).join(", ")}; the link counts as up`,
          );
        } else if (text === "JSON message could not be read" && !this.oddReplyLogged) {
          this.oddReplyLogged = true;
          this.options.log?.(
            "the rig could not read cortexloop's heartbeat JSON; the link counts as up, but tell the developers",
          );
        }
      } catch (err) {
        if (this.stopped) return;
        // REQ is lockstep: after a lost reply the socket can never send again, so it is rebuilt.
        req.close();
        this.openHeartbeat();
        const why = err instanceof Error ? err.message : String(err);
        const msg =
          `Rig at ${this.heartbeatEndpoint} stopped answering heartbeats (${why}); counts received so ` +
          `far are kept and the data socket stays open; reconnecting the heartbeat.`;
        if (this.link !== "degraded") this.sink?.fault({ code: "heartbeat-lost", message: msg, presentationIdxs: [] });
        this.setLink("degraded", msg);
      }
      const wait = Math.max(0, every - (performance.now() - sentAt));
      await new Promise<void>((resolve) => {
        this.wakeHeartbeat = resolve;
        this.heartbeatTimer = setTimeout(resolve, wait);
      });
      this.heartbeatTimer = undefined;
      this.wakeHeartbeat = undefined;
    }
  }

  async drain(timeoutMs: number): Promise<void> {
    const stream = this.stream;
    if (stream === undefined) return;
    const deadline = performance.now() + timeoutMs;
    while (stream.openPresentations > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (stream.openPresentations > 0) stream.flushIncomplete(`within ${timeoutMs} ms of the session's end`);
  }

  async stop(): Promise<void> {
    if (this.stopped || !this.started) return;
    this.stopped = true;
    this.started = false;
    this.zmtp?.stop();
    this.zmtp = undefined;
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.wakeHeartbeat?.();
    this.sub?.close();
    this.req?.close();
    await Promise.allSettled([this.receiving, this.heartbeating]);
    this.sub = undefined;
    this.req = undefined;
    this.setLink("closed", "acquisition stopped");
  }
}
