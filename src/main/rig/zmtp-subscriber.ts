import { connect, type Socket } from "node:net";

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

const greetingBytes = 64;

function greeting(): Buffer {
  const g = Buffer.alloc(greetingBytes);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3; // major version
  g[11] = 0; // minor 0: subscriptions travel as messages, which every ZMTP 3.x publisher accepts
  g.write("NULL", 12, "ascii");
  return g;
}

function readyCommand(): Buffer {
  const name = Buffer.from("\x05READY", "latin1");
  const prop = Buffer.from("Socket-Type", "ascii");
  const value = Buffer.from("SUB", "ascii");
  const body = Buffer.alloc(name.length + 1 + prop.length + 4 + value.length);
  let o = name.copy(body, 0);
  body[o++] = prop.length;
  o += prop.copy(body, o);
  body.writeUInt32BE(value.length, o);
  o += 4;
  value.copy(body, o);
  return Buffer.concat([Buffer.from([0x04, body.length]), body]);
}

export class ZmtpSubscriber {
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private rest: Buffer | undefined;
  private greeted = false;
  private frames: Buffer[] = [];
  /** Bytes of message frames received in all (for diagnostics). */
  bytes = 0;

  constructor(private readonly options: ZmtpSubscriberOptions) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    this.rest = undefined;
    this.greeted = false;
    this.frames = [];
    const socket = connect({ host: this.options.host, port: this.options.port, noDelay: true });
    this.socket = socket;
    socket.on("connect", () => {
      socket.write(greeting());
      this.options.onState?.(true, `connected to tcp://${this.options.host}:${this.options.port}`);
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
      this.options.onState?.(false, `connection to tcp://${this.options.host}:${this.options.port} closed; reconnecting`);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.open();
      }, this.options.reconnectMs ?? 100);
    });
  }

  private feed(chunk: Buffer): void {
    const buf = this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = undefined;
    let o = 0;
    if (!this.greeted) {
      if (buf.length < greetingBytes) {
        this.rest = buf;
        return;
      }
      if (buf[0] !== 0xff || buf[9] !== 0x7f || buf[10]! < 3) throw new Error("the peer does not speak ZMTP 3");
      if (buf.toString("ascii", 12, 16) !== "NULL") throw new Error("the peer wants a security mechanism other than NULL");
      this.greeted = true;
      o = greetingBytes;
      this.socket?.write(readyCommand());
      // Subscribe to everything: a message whose body is 0x01 followed by the (empty) topic.
      this.socket?.write(Buffer.from([0x00, 0x01, 0x01]));
    }
    const max = this.options.maxFrameBytes ?? 64 << 20;
    while (o < buf.length) {
      const flags = buf[o]!;
      const long = (flags & 0x02) !== 0;
      const head = long ? 9 : 2;
      if (buf.length - o < head) break;
      const size = long ? buf.readUInt32BE(o + 1) * 2 ** 32 + buf.readUInt32BE(o + 5) : buf[o + 1]!;
      if (size > max) throw new Error(`a ZMTP frame of ${size} bytes exceeds the ${max}-byte limit`);
      if (buf.length - o - head < size) break;
      const body = buf.subarray(o + head, o + head + size);
      o += head + size;
      if ((flags & 0x04) !== 0) {
        this.command(body);
        continue;
      }
      this.bytes += size;
      this.frames.push(body);
      if ((flags & 0x01) === 0) {
        const message = this.frames;
        this.frames = [];
        this.options.onMessage(message);
      }
    }
    // Frames handed out are views into the chunk; a chunk is never written to after it is read.
    if (o < buf.length) this.rest = buf.subarray(o);
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
