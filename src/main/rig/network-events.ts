import { Request } from "zeromq";
import { RigNotReadyError, type EventCodeOutput, type EventCodeResult } from "./types.js";

/** Command lines (from 1) of Network Events: code bit k on line k + 1, the strobe on line 17 (RIG_PROTOCOL.md section 2). */
export const codeCommandLines = 16;
export const strobeCommandLine = 17;

export interface NetworkEventsRecording {
  /** The GUI's recording folder (RecDir); default: the one set in the GUI. */
  recDir?: string;
  /** Text after the GUI's date in the recording's folder name (AppendText). */
  appendText?: string;
}

export interface NetworkEventsOptions {
  host: string;
  port: number;
  /** How long to wait for each command's reply before the presentation counts as unconfirmed. */
  replyTimeoutMs?: number;
  /** Start the GUI's recording when a session starts (its uuid in PrependText) and stop it when the session ends. */
  recording?: NetworkEventsRecording;
}

type Reply = { reply: string } | { error: string };
type LineState = 0 | 1 | undefined;

/** Why a reply is not the one the command asked for, in a person's words. */
function explain(reply: string): string {
  if (reply === "InvalidChannel") return " (the plugin refused the line number)";
  if (reply === "NotHandled") return " (whatever answers on this port does not know the command: is it Network Events?)";
  if (reply.startsWith("TTLHandled: Channel=")) return " (a Network Events plugin older than 0.2.1, which takes Channel=/on=; install Network Events 0.2.1 or newer)";
  if (reply.startsWith("TTLHandled:")) return " (a reply for another line or state)";
  return "";
}

/** A value for a Network Events key=value pair: the plugin splits on spaces and honours '…' and "…" quotes. */
function quoted(key: string, value: string): string {
  if (!/[\s'"]/.test(value)) return `${key}=${value}`;
  if (!value.includes('"')) return `${key}="${value}"`;
  if (!value.includes("'")) return `${key}='${value}'`;
  throw new Error(`Network Events: ${key} ${JSON.stringify(value)} holds both kinds of quote, which the plugin cannot read; change it in the rig file`);
}

/**
 * Open Ephys "Network Events" (RIG_PROTOCOL.md section 2, transport B), as the plugin's source defines it: one command
 * per REQ/REP round trip. A code goes out as lines: bit k on line k + 1 (only the lines that change), then the strobe,
 * line 17, whose rising edge is the onset; after the stimulus the strobe and the code's lines go down. A command counts
 * only when its own `TTLHandled: Line=<n> State=<s>` comes back. REQ is lockstep, so a socket whose reply timed out is
 * replaced before the next command, and the lines' states count as unknown until set again.
 */
export class NetworkEventsOutput implements EventCodeOutput {
  private req: Request | undefined;
  /** Each command line's state as the plugin last confirmed it (index = line); undefined when not known. */
  private readonly lines: LineState[] = new Array<LineState>(strobeCommandLine + 1).fill(undefined);

  constructor(private readonly options: NetworkEventsOptions) {}

  get endpoint(): string {
    return `tcp://${this.options.host}:${this.options.port}`;
  }

  private get timeoutMs(): number {
    return this.options.replyTimeoutMs ?? 1000;
  }

  async open(): Promise<void> {
    this.req?.close();
    const req = new Request({ receiveTimeout: this.timeoutMs, sendTimeout: this.timeoutMs, linger: 0 });
    req.connect(this.endpoint);
    this.req = req;
  }

  /** One command and its reply, or why there was none. */
  private async command(text: string): Promise<Reply> {
    if (this.req === undefined) await this.open();
    const req = this.req!;
    try {
      await req.send(text);
      const [reply] = await req.receive();
      return { reply: reply?.toString("utf8") ?? "" };
    } catch (err) {
      // The lost reply would leave the REQ unable to send again: start a fresh one.
      req.close();
      this.req = undefined;
      await this.open();
      return { error: `no reply within ${this.timeoutMs} ms (${err instanceof Error ? err.message : String(err)})` };
    }
  }

  /** Sets one line; undefined when the plugin confirmed exactly this line and state, else what went wrong. */
  private async line(n: number, state: 0 | 1): Promise<{ problem: string; answered: boolean } | undefined> {
    const text = `TTL Line=${n} State=${state}`;
    const r = await this.command(text);
    if ("reply" in r && r.reply === `TTLHandled: Line=${n} State=${state}`) {
      this.lines[n] = state;
      return undefined;
    }
    // Which lines the plugin changed is no longer known: the next code sets every line again.
    this.lines.fill(undefined);
    if ("error" in r) return { problem: `"${text}" got ${r.error}`, answered: false };
    return { problem: `"${text}" was answered ${JSON.stringify(r.reply.slice(0, 80))}${explain(r.reply)}`, answered: true };
  }

  /**
   * Lowers the strobe, then every code line not known to be down; collects what went wrong. A command with no reply
   * ends it: a plugin that does not answer would only pile up more (the next code sets every line again anyway).
   */
  private async lower(): Promise<string[]> {
    const problems: string[] = [];
    for (const n of [strobeCommandLine, ...Array.from({ length: codeCommandLines }, (_, k) => k + 1)]) {
      if (this.lines[n] === 0) continue;
      const p = await this.line(n, 0);
      if (p === undefined) continue;
      problems.push(p.problem);
      if (!p.answered) break;
    }
    return problems;
  }

  async checkReady(): Promise<void> {
    const where = `Network Events at ${this.endpoint}`;
    const r = await this.command("IsAcquiring");
    if ("error" in r) {
      throw new RigNotReadyError(
        `${where} did not answer IsAcquiring (${r.error}); no session was started and nothing was stored. Check that the Open Ephys GUI runs with the Network Events plugin on port ${this.options.port} (its editor shows the port), then start the session again.`,
      );
    }
    if (r.reply === "0") {
      throw new RigNotReadyError(
        `The Open Ephys GUI is not acquiring (${where} answered IsAcquiring with 0): its TTL lines would not reach the recording. No session was started and nothing was stored. Start acquisition in the GUI (the play button), then start the session again.`,
      );
    }
    if (r.reply !== "1") {
      throw new RigNotReadyError(
        `${where} answered IsAcquiring with ${JSON.stringify(r.reply.slice(0, 80))}, not 1 or 0${explain(r.reply)}; no session was started and nothing was stored. Point eventCodes.port at the Network Events plugin's port.`,
      );
    }
    // Start from known lines: strobe and code lines down (a session that ended badly may have left some up).
    this.lines.fill(undefined);
    const problems = await this.lower();
    if (problems.length > 0) {
      throw new RigNotReadyError(`${where} did not take the line commands that carry event codes: ${problems[0]}. No session was started and nothing was stored.`);
    }
  }

  async send(code: number): Promise<EventCodeResult> {
    if (!Number.isInteger(code) || code < 1 || code >= 2 ** codeCommandLines) {
      throw new Error(`Network Events: event code ${code} is outside 1..${2 ** codeCommandLines - 1}; codes are sent on ${codeCommandLines} lines`);
    }
    // The strobe must be down before the code's lines change (after a failed clear it may not be).
    const problems: string[] = [];
    if (this.lines[strobeCommandLine] !== 0) {
      const p = await this.line(strobeCommandLine, 0);
      if (p !== undefined) problems.push(p.problem);
    }
    for (let k = 0; k < codeCommandLines && problems.length === 0; k++) {
      const want = ((code >> k) & 1) as 0 | 1;
      if (this.lines[k + 1] === want) continue;
      const p = await this.line(k + 1, want);
      if (p !== undefined) problems.push(p.problem);
    }
    if (problems.length > 0) {
      return { confirmed: false, attempts: 1, message: `${problems.join("; ")}; the strobe (line ${strobeCommandLine}) was not raised, so this code has no onset` };
    }
    const strobe = await this.line(strobeCommandLine, 1);
    return strobe === undefined ? { confirmed: true, attempts: 1 } : { confirmed: false, attempts: 1, message: `raising the strobe: ${strobe.problem}` };
  }

  async clear(): Promise<EventCodeResult> {
    const problems = await this.lower();
    return problems.length === 0 ? { confirmed: true, attempts: 1 } : { confirmed: false, attempts: 1, message: `lowering the lines: ${problems.join("; ")}` };
  }

  async startRecording(sessionUuid: string): Promise<EventCodeResult> {
    const rec = this.options.recording;
    if (rec === undefined) return { confirmed: true, attempts: 0 };
    const params = [quoted("PrependText", `${sessionUuid}_`)];
    if (rec.recDir !== undefined) params.push(quoted("RecDir", rec.recDir));
    if (rec.appendText !== undefined) params.push(quoted("AppendText", rec.appendText));
    const r = await this.command(`StartRecord ${params.join(" ")}`);
    if ("reply" in r && r.reply === "StartedRecording") return { confirmed: true, attempts: 1 };
    if ("reply" in r && r.reply === "NotHandled") {
      return { confirmed: false, attempts: 1, message: "the GUI was already recording (it answers StartRecord with NotHandled while a recording runs); that recording goes on, but its folder does not carry this session's id" };
    }
    return { confirmed: false, attempts: 1, message: "error" in r ? `StartRecord got ${r.error}` : `StartRecord was answered ${JSON.stringify(r.reply.slice(0, 80))}${explain(r.reply)}` };
  }

  async stopRecording(): Promise<EventCodeResult> {
    if (this.options.recording === undefined) return { confirmed: true, attempts: 0 };
    const r = await this.command("StopRecord");
    if ("reply" in r && r.reply === "StoppedRecording") return { confirmed: true, attempts: 1 };
    return { confirmed: false, attempts: 1, message: "error" in r ? `StopRecord got ${r.error}` : `StopRecord was answered ${JSON.stringify(r.reply.slice(0, 80))}${explain(r.reply)}` };
  }

  async close(): Promise<void> {
    this.req?.close();
    this.req = undefined;
  }
}
