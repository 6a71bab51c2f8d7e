import { Request } from "zeromq";
import type { EventCodeOutput, EventCodeResult } from "./types.js";

export interface NetworkEventsOptions {
  host: string;
  port: number;
  /** How long to wait for the rig's reply before the code counts as unconfirmed. */
  replyTimeoutMs?: number;
}

/**
 * Open Ephys "Network Events" (RIG_PROTOCOL.md section 2, transport B): `TTL Word=<code>` over a REQ
 * to the rig's REP. REQ is lockstep, so a socket whose reply timed out is replaced before the next send.
 */
export class NetworkEventsOutput implements EventCodeOutput {
  private req: Request | undefined;

  constructor(private readonly options: NetworkEventsOptions) {}

  get endpoint(): string {
    return `tcp://${this.options.host}:${this.options.port}`;
  }

  async open(): Promise<void> {
    this.req?.close();
    const timeout = this.options.replyTimeoutMs ?? 100;
    const req = new Request({ receiveTimeout: timeout, sendTimeout: timeout, linger: 0 });
    req.connect(this.endpoint);
    this.req = req;
  }

  private async word(code: number): Promise<EventCodeResult> {
    if (this.req === undefined) await this.open();
    const req = this.req!;
    try {
      await req.send(`TTL Word=${code}`);
      await req.receive();
      return { confirmed: true, attempts: 1 };
    } catch (err) {
      // The lost reply would leave the REQ unable to send again: start a fresh one.
      req.close();
      this.req = undefined;
      await this.open();
      return { confirmed: false, attempts: 1, message: `no reply from Network Events at ${this.endpoint} within ${this.options.replyTimeoutMs ?? 100} ms (${err instanceof Error ? err.message : String(err)})` };
    }
  }

  async send(code: number): Promise<EventCodeResult> {
    return this.word(code);
  }

  async clear(): Promise<void> {
    await this.word(0);
  }

  async close(): Promise<void> {
    this.req?.close();
    this.req = undefined;
  }
}
