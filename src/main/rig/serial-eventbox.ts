import { realpathSync } from "node:fs";
import { SerialPort, ReadlineParser } from "serialport";
import { PortLostError } from "../runner/runner.js";
import type { EventCodeOutput, EventCodeResult } from "./types.js";
import { openSerialPort } from "./serial-open.js";

export interface SerialEventBoxOptions {
  path: string;
  baudRate?: number;
  /** How long to wait for `A<code>` (RIG_PROTOCOL.md section 2: 20 ms). */
  ackTimeoutMs?: number;
  /**
   * How long to wait for the identify reply on open (default 2 s); `?` is sent again every `identifyRetryMs` (default
   * 250 ms) until then: a box that resets when its port opens (many microcontroller boards) misses the first.
   */
  identifyTimeoutMs?: number;
  identifyRetryMs?: number;
  log?: (line: string) => void;
}

export const eventBoxIdentity = "cortexloop-eventbox 1";

/**
 * The device a serial path names now (links resolved), or undefined where it names nothing. A port
 * whose path has come to name another device has lost its own even if the port never said so: the
 * far side of a pty that closed reads 0 bytes forever instead of failing, so no close event comes.
 */
export function serialDevice(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

interface LineWaiter {
  match: (line: string) => boolean;
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

/**
 * The serial event box (RIG_PROTOCOL.md section 2, transport A): 115200 8N1, ASCII lines. A port
 * that disappears makes `send` throw PortLostError; `open` works again once the port is back.
 */
export class SerialEventBox implements EventCodeOutput {
  private port: SerialPort | undefined;
  private parser: ReadlineParser | undefined;
  private waiters: LineWaiter[] = [];
  private lost: string | undefined;
  /** serialDevice(path) when the port opened. */
  private device: string | undefined;

  constructor(private readonly options: SerialEventBoxOptions) {}

  get isOpen(): boolean {
    return this.port !== undefined && this.lost === undefined;
  }

  async open(): Promise<void> {
    await this.dispose();
    this.lost = undefined;
    const port = await openSerialPort(this.options.path, this.options.baudRate ?? 115200);
    this.device = serialDevice(this.options.path);
    const parser = port.pipe(new ReadlineParser({ delimiter: "\n" }));
    parser.on("data", (line: string) => this.onLine(line.replace(/\r$/, "")));
    port.on("error", (err: Error) => this.markLost(err.message));
    port.on("close", () => this.markLost("the port closed"));
    this.port = port;
    this.parser = parser;
    if (!(await this.identify())) {
      await this.dispose();
      throw new Error(
        `No event box answered on ${this.options.path} (sent "?", expected "${eventBoxIdentity}"); nothing was ` +
          `sent. Check the cable and that the box runs the cortexloop firmware.`,
      );
    }
  }

  /** Sends `?` until the box answers with its identity or the identify timeout passes. */
  private async identify(): Promise<boolean> {
    const deadline = Date.now() + (this.options.identifyTimeoutMs ?? 2000);
    const every = this.options.identifyRetryMs ?? 250;
    for (let left = deadline - Date.now(); left > 0 && this.lost === undefined; left = deadline - Date.now())
      if (await this.request("?", (l) => l === eventBoxIdentity, Math.min(every, left))) return true;
    return false;
  }

  private onLine(line: string): void {
    const still: LineWaiter[] = [];
    for (const w of this.waiters) {
      if (w.match(line)) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else still.push(w);
    }
    this.waiters = still;
  }

  private markLost(reason: string): void {
    if (this.lost !== undefined || this.port === undefined) return;
    this.lost = reason;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters = [];
  }

  private request(line: string, match: (line: string) => boolean, timeoutMs: number): Promise<boolean> {
    const port = this.port;
    if (port === undefined || this.lost !== undefined) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: LineWaiter = {
        match,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.push(waiter);
      port.write(`${line}\n`, (err) => {
        if (err) this.markLost(err.message);
      });
    });
  }

  private throwIfLost(code: number): void {
    // A USB-serial device that is unplugged removes its device node, and one plugged in again is a new
    // device behind the same path: notice either even where the port's close event never comes.
    if (this.port !== undefined && this.lost === undefined) {
      const now = serialDevice(this.options.path);
      if (now === undefined) this.markLost(`${this.options.path} no longer exists`);
      else if (now !== this.device)
        this.markLost(`${this.options.path} now names another device (${now}, opened as ${this.device ?? "unknown"})`);
    }
    if (this.port === undefined || this.lost !== undefined) {
      throw new PortLostError(
        `Event box on ${this.options.path} is gone (${this.lost ?? "not open"}) while sending code ${code}`,
      );
    }
  }

  async send(code: number): Promise<EventCodeResult> {
    this.throwIfLost(code);
    const ack = `A${code}`;
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (await this.request(`W${code}`, (l) => l === ack, this.options.ackTimeoutMs ?? 20))
        return { confirmed: true, attempts: attempt };
      this.throwIfLost(code);
    }
    return {
      confirmed: false,
      attempts: 2,
      message:
        `no "${ack}" from the event box on ${this.options.path} within ${this.options.ackTimeoutMs ?? 20} ` +
        `ms, twice`,
    };
  }

  async clear(): Promise<void> {
    this.throwIfLost(0);
    await this.request("W0", (l) => l === "A0", this.options.ackTimeoutMs ?? 20);
  }

  private async dispose(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters = [];
    this.parser?.removeAllListeners();
    this.parser = undefined;
    if (port === undefined) return;
    port.removeAllListeners();
    // Swallow errors from a port that is already gone: closing is best effort.
    port.on("error", () => {});
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.dispose();
  }
}
