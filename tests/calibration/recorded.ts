/**
 * A photometer's recorded replies played back to a driver, byte chunk by byte chunk, as a serial port delivers them.
 */
import { expect } from "vitest";
import { LineReader } from "../../src/main/calibration/line-transport.js";
import type { LineTransport } from "../../src/main/calibration/pr655.js";

/** Replies in the order the driver asks; each is the raw bytes, in the chunks the port delivered, or null (silence). */
export type Recorded = [command: string, reply: string[] | null];

export class RecordedTransport implements LineTransport {
  readonly sent: string[] = [];
  private readonly reader = new LineReader();
  constructor(private readonly script: Recorded[]) {}

  async write(text: string): Promise<void> {
    this.sent.push(text);
    if (text === "Q") return;
    const next = this.script.shift();
    if (next === undefined) throw new Error(`the recording has no reply for ${JSON.stringify(text)}`);
    expect(`${next[0]}\n`).toBe(text);
    const chunks = next[1];
    if (chunks === null) return;
    // Delivered as the port would: a chunk at a time, some after the driver started waiting.
    for (const [i, c] of chunks.entries()) setTimeout(() => this.reader.push(Buffer.from(c, "latin1")), i);
  }
  readLine(timeoutMs: number): Promise<string | null> {
    return this.reader.readLine(timeoutMs);
  }
  discardInput(): void {}
  async close(): Promise<void> {}
}
