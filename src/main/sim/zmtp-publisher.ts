import { createServer, type Server, type Socket } from "node:net";

/**
 * A minimal ZeroMQ PUB server (ZMTP 3.0, NULL mechanism) on a plain TCP listener, for the simulated
 * rig at benchmark rates: a whole tick of messages goes out in one write per subscriber instead of one
 * zeromq.js promise per message. Subscribers that speak ZMTP 3 (libzmq SUB, the controller) interoperate.
 */
interface Peer {
  socket: Socket;
  rest: Buffer | undefined;
  greeted: boolean;
  topics: Buffer[];
}

function greeting(): Buffer {
  const g = Buffer.alloc(64);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  g.write("NULL", 12, "ascii");
  return g;
}

function frameHeader(size: number, more: boolean, command = false): Buffer {
  const flags = (more ? 0x01 : 0) | (command ? 0x04 : 0);
  if (size < 256) return Buffer.from([flags, size]);
  const h = Buffer.alloc(9);
  h[0] = flags | 0x02;
  h.writeUInt32BE(Math.floor(size / 2 ** 32), 1);
  h.writeUInt32BE(size >>> 0, 5);
  return h;
}

function readyCommand(): Buffer {
  const body = Buffer.concat([Buffer.from("\x05READY\x0bSocket-Type", "latin1"), Buffer.from([0, 0, 0, 3]), Buffer.from("PUB", "ascii")]);
  return Buffer.concat([frameHeader(body.length, false, true), body]);
}

export class ZmtpPublisher {
  private server: Server | undefined;
  private readonly peers = new Set<Peer>();
  private batch: Buffer[] = [];

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
    const peer: Peer = { socket, rest: undefined, greeted: false, topics: [] };
    this.peers.add(peer);
    socket.write(greeting());
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
    const buf = peer.rest === undefined ? chunk : Buffer.concat([peer.rest, chunk]);
    peer.rest = undefined;
    let o = 0;
    if (!peer.greeted) {
      if (buf.length < 64) {
        peer.rest = buf;
        return;
      }
      if (buf[0] !== 0xff || buf[9] !== 0x7f) throw new Error("not ZMTP");
      peer.greeted = true;
      o = 64;
      peer.socket.write(readyCommand());
    }
    while (o < buf.length) {
      const flags = buf[o]!;
      const long = (flags & 0x02) !== 0;
      const head = long ? 9 : 2;
      if (buf.length - o < head) break;
      const size = long ? buf.readUInt32BE(o + 1) * 2 ** 32 + buf.readUInt32BE(o + 5) : buf[o + 1]!;
      if (buf.length - o - head < size) break;
      const body = buf.subarray(o + head, o + head + size);
      o += head + size;
      if ((flags & 0x04) !== 0) {
        // ZMTP 3.1 SUBSCRIBE / CANCEL commands.
        const n = body[0] ?? 0;
        const name = body.toString("ascii", 1, 1 + n);
        if (name === "SUBSCRIBE") peer.topics.push(Buffer.from(body.subarray(1 + n)));
        else if (name === "CANCEL") peer.topics = peer.topics.filter((t) => !t.equals(body.subarray(1 + n)));
        continue;
      }
      // ZMTP 3.0 subscriptions: a message of 0x01 (subscribe) or 0x00 (cancel) and the topic.
      if (body[0] === 0x01) peer.topics.push(Buffer.from(body.subarray(1)));
      else if (body[0] === 0x00) peer.topics = peer.topics.filter((t) => !t.equals(body.subarray(1)));
    }
    if (o < buf.length) peer.rest = buf.subarray(o);
  }

  /** Queues one multipart message; `flush` writes everything queued. Topic filtering is by the first frame's prefix. */
  queue(frames: Buffer[]): void {
    for (let i = 0; i < frames.length; i++) {
      this.batch.push(frameHeader(frames[i]!.length, i < frames.length - 1), frames[i]!);
    }
  }

  flush(): void {
    if (this.batch.length === 0) return;
    const out = Buffer.concat(this.batch);
    this.batch = [];
    for (const peer of this.peers) {
      // The simulated rig only publishes to subscribers of everything (the controller's empty subscription).
      if (peer.greeted && peer.topics.some((t) => t.length === 0)) peer.socket.write(out);
    }
  }

  close(): void {
    for (const peer of this.peers) peer.socket.destroy();
    this.peers.clear();
    this.server?.close();
    this.server = undefined;
  }
}
