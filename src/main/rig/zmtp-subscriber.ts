import { connect, type Socket } from "node:net";
import { zmtpGreeting, zmtpReady, ZmtpStream } from "./zmtp.js";

/**
 * A minimal ZeroMQ SUB client (ZMTP 3.0, NULL mechanism, empty subscription) over a plain TCP socket.
 * zeromq.js pays a promise per message, which caps a SUB near 90k messages/s on a small machine; here
 * whole TCP chunks are split into frames in one synchronous pass. Wire format: rfc.zeromq.org/spec/23.
 */
export interface ZmtpSubscriberOptions {
  host: string;
  port: number;
  onMessage: (frames: Buffer[]) => void;
  /** Told when the connection comes up or goes down (reconnects run by themselves). */
  onState?: (connected: boolean, detail: string) => void;
  reconnectMs?: number;
  /** A frame larger than this closes the connection (a corrupt length must not allocate gigabytes). */
  maxFrameBytes?: number;
}

export class ZmtpSubscriber {
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private stream: ZmtpStream | undefined;
  private frames: Buffer[] = [];
  /** The connection's state as last reported (undefined before the first report). */
  private up: boolean | undefined;
  /** Connection attempts so far, the first included (for diagnostics). */
  attempts = 0;
  /** Bytes of message frames received in all (for diagnostics). */
  bytes = 0;

  constructor(private readonly options: ZmtpSubscriberOptions) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    this.attempts++;
    this.frames = [];
    const socket = connect({ host: this.options.host, port: this.options.port, noDelay: true });
    this.socket = socket;
    this.stream = new ZmtpStream(
      () => {
        socket.write(zmtpReady("SUB"));
        // Subscribe to everything: a message whose body is 0x01 followed by the (empty) topic.
        socket.write(Buffer.from([0x00, 0x01, 0x01]));
      },
      this.options.maxFrameBytes ?? 64 << 20,
    );
    socket.on("connect", () => {
      socket.write(zmtpGreeting());
      this.report(true, `connected to tcp://${this.options.host}:${this.options.port}`);
    });
    socket.on("data", (chunk: Buffer) => {
      try {
        this.feed(chunk);
      } catch (err) {
        socket.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on("error", () => {
      // 'close' follows and schedules the reconnect.
    });
    socket.on("close", () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.stopped) return;
      this.report(
        false,
        `connection to tcp://${this.options.host}:${this.options.port} closed; reconnecting every ` +
          `${this.options.reconnectMs ?? 100} ms`,
      );
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.open();
      }, this.options.reconnectMs ?? 100);
    });
  }

  /** Tells onState once per change: a rig that stays away is retried every reconnectMs but reported once. */
  private report(up: boolean, detail: string): void {
    if (up === this.up) return;
    this.up = up;
    this.options.onState?.(up, detail);
  }

  private feed(chunk: Buffer): void {
    this.stream?.feed(chunk, (frame) => {
      if (frame.command) {
        this.command(frame.body);
        return;
      }
      this.bytes += frame.body.length;
      this.frames.push(frame.body);
      if (!frame.more) {
        const message = this.frames;
        this.frames = [];
        this.options.onMessage(message);
      }
    });
  }

  private command(body: Buffer): void {
    const nameLength = body[0] ?? 0;
    const name = body.toString("ascii", 1, 1 + nameLength);
    if (name === "PING") {
      // PONG echoes the ping context (after the 2-byte TTL).
      const context = body.subarray(1 + nameLength + 2);
      const pong = Buffer.concat([Buffer.from("\x04PONG", "latin1"), context]);
      this.socket?.write(Buffer.concat([Buffer.from([0x04, pong.length]), pong]));
    } else if (name === "ERROR") {
      throw new Error(`the publisher refused the connection: ${body.toString("utf8", 2 + nameLength)}`);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.socket?.destroy();
    this.socket = undefined;
  }
}
