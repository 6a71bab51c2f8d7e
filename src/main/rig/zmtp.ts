/**
 * ZMTP 3.0 framing (rfc.zeromq.org/spec/23), NULL mechanism: the pieces the fast SUB reader and
 * the simulated rig's batched PUB share.
 */
export const zmtpGreetingBytes = 64;

/** Our greeting: version 3.0 (subscriptions travel as messages, which every ZMTP 3.x peer accepts), NULL. */
export function zmtpGreeting(): Buffer {
  const g = Buffer.alloc(zmtpGreetingBytes);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  g.write("NULL", 12, "ascii");
  return g;
}

/** Checks a peer's greeting; throws saying what is wrong. */
export function checkZmtpGreeting(buf: Buffer): void {
  if (buf[0] !== 0xff || buf[9] !== 0x7f || buf[10]! < 3) throw new Error("the peer does not speak ZMTP 3");
  if (buf.toString("ascii", 12, 16) !== "NULL") throw new Error("the peer wants a security mechanism other than NULL");
}

export function zmtpFrameHeader(size: number, more: boolean, command = false): Buffer {
  const flags = (more ? 0x01 : 0) | (command ? 0x04 : 0);
  if (size < 256) return Buffer.from([flags, size]);
  const h = Buffer.alloc(9);
  h[0] = flags | 0x02;
  h.writeUInt32BE(Math.floor(size / 2 ** 32), 1);
  h.writeUInt32BE(size >>> 0, 5);
  return h;
}

/** The READY command announcing our socket type. */
export function zmtpReady(socketType: "PUB" | "SUB"): Buffer {
  const body = Buffer.concat([
    Buffer.from("\x05READY\x0bSocket-Type", "latin1"),
    Buffer.from([0, 0, 0, socketType.length]),
    Buffer.from(socketType, "ascii"),
  ]);
  return Buffer.concat([zmtpFrameHeader(body.length, false, true), body]);
}

export interface ZmtpFrame {
  body: Buffer;
  more: boolean;
  command: boolean;
  /** Offset just past this frame. */
  next: number;
}

/** The frame at offset `o`, or undefined when the buffer does not hold all of it yet. */
export function readZmtpFrame(buf: Buffer, o: number, maxFrameBytes = Number.MAX_SAFE_INTEGER): ZmtpFrame | undefined {
  if (buf.length - o < 2) return undefined;
  const flags = buf[o]!;
  const long = (flags & 0x02) !== 0;
  const head = long ? 9 : 2;
  if (buf.length - o < head) return undefined;
  const size = long ? buf.readUInt32BE(o + 1) * 2 ** 32 + buf.readUInt32BE(o + 5) : buf[o + 1]!;
  if (size > maxFrameBytes) throw new Error(`a ZMTP frame of ${size} bytes exceeds the ${maxFrameBytes}-byte limit`);
  if (buf.length - o - head < size) return undefined;
  return {
    body: buf.subarray(o + head, o + head + size),
    more: (flags & 0x01) !== 0,
    command: (flags & 0x04) !== 0,
    next: o + head + size,
  };
}

/**
 * Reassembles one peer's ZMTP byte stream: its greeting first (then `onGreeted`, where we answer
 * READY), then whole frames; bytes of a frame split across chunks wait for the next chunk.
 */
export class ZmtpStream {
  private rest: Buffer | undefined;
  private greeted = false;

  constructor(
    private readonly onGreeted: () => void,
    private readonly maxFrameBytes = Number.MAX_SAFE_INTEGER,
  ) {}

  /** Hands every whole frame that has arrived to `onFrame` (views into the chunk, which is never reused). */
  feed(chunk: Buffer, onFrame: (frame: ZmtpFrame) => void): void {
    const buf = this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = undefined;
    let o = 0;
    if (!this.greeted) {
      if (buf.length < zmtpGreetingBytes) {
        this.rest = buf;
        return;
      }
      checkZmtpGreeting(buf);
      this.greeted = true;
      o = zmtpGreetingBytes;
      this.onGreeted();
    }
    while (o < buf.length) {
      const frame = readZmtpFrame(buf, o, this.maxFrameBytes);
      if (frame === undefined) break;
      o = frame.next;
      onFrame(frame);
    }
    if (o < buf.length) this.rest = buf.subarray(o);
  }
}
