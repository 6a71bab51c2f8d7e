/** Lines from a byte stream (a photometer's serial port), awaited with a timeout; and the serial port as one. */
import { openSerialPort } from "../rig/serial-open.js";
import type { LineTransport } from "./pr655.js";

/** Collects bytes and hands out complete lines ("\n" ends one; a "\r" before it is dropped). */
export class LineReader {
  private pending = "";
  private lines: string[] = [];
  private waiter: ((line: string | null) => void) | undefined;
  private closed: string | undefined;

  push(chunk: Buffer | string): void {
    this.pending += typeof chunk === "string" ? chunk : chunk.toString("latin1");
    let at: number;
    while ((at = this.pending.indexOf("\n")) >= 0) {
      const line = this.pending.slice(0, at).replace(/\r$/, "");
      this.pending = this.pending.slice(at + 1);
      const w = this.waiter;
      this.waiter = undefined;
      if (w !== undefined) w(line);
      else this.lines.push(line);
    }
  }

  /** The link went away: waiting reads end with null, later ones too. */
  end(reason: string): void {
    this.closed = reason;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(null);
  }

  get endedBecause(): string | undefined {
    return this.closed;
  }

  readLine(timeoutMs: number): Promise<string | null> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.closed !== undefined) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(null);
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }

  discard(): void {
    this.lines = [];
    this.pending = "";
  }
}

/** A serial port (9600 baud, 8N1, as PsychoPy opens the PR-655) as a LineTransport. */
export async function openSerialLines(path: string, baudRate = 9600): Promise<LineTransport> {
  const port = await openSerialPort(path, baudRate).catch((err: Error) => {
    throw new Error(`Could not open the photometer's port ${path}: ${err.message}. Nothing was measured or written.`);
  });
  const reader = new LineReader();
  port.on("data", (d: Buffer) => reader.push(d));
  port.on("close", () => reader.end("the port closed"));
  port.on("error", (e: Error) => reader.end(e.message));
  return {
    write: (text) =>
      new Promise<void>((resolve, reject) => {
        port.write(text, (err) => (err ? reject(err) : port.drain(() => resolve())));
      }),
    readLine: (timeoutMs) => reader.readLine(timeoutMs),
    discardInput: () => reader.discard(),
    close: () =>
      new Promise<void>((resolve) => {
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
  };
}
