import { createServer, type Server, type Socket } from "node:net";
import { zmtpFrameHeader, zmtpGreeting, zmtpReady, ZmtpStream } from "../rig/zmtp.js";
import type { ByteSink } from "./spike-framer.js";

/**
 * A minimal ZeroMQ PUB server (ZMTP 3.0, NULL mechanism) on a plain TCP listener, for the simulated
 * rig at benchmark rates: a whole tick of messages goes out in one write per subscriber instead of one
 * zeromq.js promise per message. Subscribers that speak ZMTP 3 (libzmq SUB, the controller) interoperate.
 */
interface Peer {
  socket: Socket;
  stream: ZmtpStream;
  topics: Buffer[];
}

/** Bytes of the buffer that framed messages are written into between flushes (more is allocated when a tick needs). */
const chunkBytes = 1 << 20;

export class ZmtpPublisher implements ByteSink {
  private server: Server | undefined;
  private readonly peers = new Set<Peer>();
  private batch: Buffer[] = [];
  /** Framed bytes written in place (`room`/`advance`); [start, used) is not yet in `batch`. */
  private chunk = Buffer.allocUnsafe(chunkBytes);
  private start = 0;
  private used = 0;

  async bind(host: string, port: number): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const peer: Peer = { socket, stream: new ZmtpStream(() => socket.write(zmtpReady("PUB"))), topics: [] };
    this.peers.add(peer);
    socket.write(zmtpGreeting());
    socket.on("data", (chunk: Buffer) => {
      try {
        this.feed(peer, chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => this.peers.delete(peer));
  }

  private feed(peer: Peer, chunk: Buffer): void {
    peer.stream.feed(chunk, ({ body, command }) => {
      if (command) {
        // ZMTP 3.1 SUBSCRIBE / CANCEL commands.
        const n = body[0] ?? 0;
        const name = body.toString("ascii", 1, 1 + n);
        if (name === "SUBSCRIBE") peer.topics.push(Buffer.from(body.subarray(1 + n)));
        else if (name === "CANCEL") peer.topics = peer.topics.filter((t) => !t.equals(body.subarray(1 + n)));
        return;
      }
      // ZMTP 3.0 subscriptions: a message of 0x01 (subscribe) or 0x00 (cancel) and the topic.
      if (body[0] === 0x01) peer.topics.push(Buffer.from(body.subarray(1)));
      else if (body[0] === 0x00) peer.topics = peer.topics.filter((t) => !t.equals(body.subarray(1)));
    });
  }

  /** Queues one multipart message; `flush` writes everything queued. Topic filtering is by the first frame's prefix. */
  queue(frames: Buffer[]): void {
    this.seal();
    for (let i = 0; i < frames.length; i++) {
      this.batch.push(zmtpFrameHeader(frames[i]!.length, i < frames.length - 1), frames[i]!);
    }
  }

  /** Room for `bytes` more framed bytes, written in place and kept in order with `queue`d messages. */
  room(bytes: number): { buf: Buffer; at: number } {
    if (this.chunk.length - this.used < bytes) {
      this.seal();
      this.chunk = Buffer.allocUnsafe(Math.max(chunkBytes, bytes));
      this.start = this.used = 0;
    }
    return { buf: this.chunk, at: this.used };
  }

  advance(bytes: number): void {
    this.used += bytes;
  }

  private seal(): void {
    if (this.used > this.start) this.batch.push(this.chunk.subarray(this.start, this.used));
    this.start = this.used;
  }

  flush(): void {
    this.seal();
    if (this.batch.length === 0) return;
    // The copy frees the chunk for the next tick.
    const out = Buffer.concat(this.batch);
    this.batch = [];
    this.start = this.used = 0;
    for (const peer of this.peers) {
      // Only subscribers of everything (the controller's empty subscription), which they send after the handshake.
      if (peer.topics.some((t) => t.length === 0)) peer.socket.write(out);
    }
  }

  close(): void {
    for (const peer of this.peers) peer.socket.destroy();
    this.peers.clear();
    this.server?.close();
    this.server = undefined;
  }
}
