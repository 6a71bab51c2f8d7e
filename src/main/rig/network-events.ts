import { Dealer } from "zeromq";
import { RigNotReadyError, type EventCodeOutput, type EventCodeResult } from "./types.js";

/**
 * Command lines (from 1) of Network Events: code bit k on line k + 1, the strobe on line 17 (RIG_PROTOCOL.md section
 * 2).
 */
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
  if (reply === "NotHandled")
    return " (whatever answers on this port does not know the command: is it Network Events?)";
  if (reply.startsWith("TTLHandled: Channel="))
    return (
      " (a Network Events plugin older than 0.2.1, which takes Channel=/on=; install Network Events 0.2.1 or " +
      "newer)"
    );
  if (reply.startsWith("TTLHandled:")) return " (a reply for another line or state)";
  return "";
}

/** A value for a Network Events key=value pair: the plugin splits on spaces and honours '…' and "…" quotes. */
function quoted(key: string, value: string): string {
  if (!/[\s'"]/.test(value)) return `${key}=${value}`;
  if (!value.includes('"')) return `${key}="${value}"`;
  if (!value.includes("'")) return `${key}='${value}'`;
  throw new Error(
    `Network Events: ${key} ${JSON.stringify(value)} holds both kinds of quote, which the plugin cannot read; ` +
      `change it in the rig file`,
  );
}

/**
 * Open Ephys "Network Events" (RIG_PROTOCOL.md section 2, transport B), as the plugin's source defines it: one command
 * per request to its REP, one reply each. A code goes out as lines: bit k on line k + 1 (only the lines that change),
 * then the strobe, line 17, whose rising edge is the onset; after the stimulus the strobe and the code's lines go down.
 * A command counts only when its own `TTLHandled: Line=<n> State=<s>` comes back.
 *
 * The commands of one step go out together on a DEALER (each request framed as a REQ frames it: an empty delimiter,
 * then the text) and their replies come back in order, since the REP answers one request after another: a code costs
 * two round trips (its lines, then the strobe once every line is confirmed) instead of one per line. A socket whose
 * reply timed out is replaced before the next command, and the lines' states count as unknown until set again.
 */
export class NetworkEventsOutput implements EventCodeOutput {
  private socket: Dealer | undefined;
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
    this.socket?.close();
    const socket = new Dealer({ receiveTimeout: this.timeoutMs, sendTimeout: this.timeoutMs, linger: 0 });
    socket.connect(this.endpoint);
    this.socket = socket;
  }

  /** Commands in one go, their replies in order; once one gets no reply, it and those after it say why. */
  private async commands(texts: readonly string[]): Promise<Reply[]> {
    if (this.socket === undefined) await this.open();
    const socket = this.socket!;
    const replies: Reply[] = [];
    try {
      for (const text of texts) await socket.send(["", text]);
      while (replies.length < texts.length) {
        const frames = await socket.receive();
        replies.push({ reply: frames[frames.length - 1]?.toString("utf8") ?? "" });
      }
    } catch (err) {
      // A reply that comes later would be taken for the next command's: start a fresh socket.
      socket.close();
      this.socket = undefined;
      await this.open();
      const error = `no reply within ${this.timeoutMs} ms (${err instanceof Error ? err.message : String(err)})`;
      while (replies.length < texts.length) replies.push({ error });
    }
    return replies;
  }

  private async command(text: string): Promise<Reply> {
    return (await this.commands([text]))[0]!;
  }

  /** Sets lines in one go; what went wrong, one entry per line the plugin did not confirm exactly. */
  private async setLines(changes: readonly (readonly [number, 0 | 1])[]): Promise<string[]> {
    if (changes.length === 0) return [];
    const texts = changes.map(([n, state]) => `TTL Line=${n} State=${state}`);
    const replies = await this.commands(texts);
    const problems: string[] = [];
    changes.forEach(([n, state], i) => {
      const r = replies[i]!;
      if ("reply" in r && r.reply === `TTLHandled: Line=${n} State=${state}`) this.lines[n] = state;
      else if ("error" in r) problems.push(`"${texts[i]}" got ${r.error}`);
      else problems.push(`"${texts[i]}" was answered ${JSON.stringify(r.reply.slice(0, 80))}${explain(r.reply)}`);
    });
    // Which lines the plugin changed is no longer known: the next code sets every line again.
    if (problems.length > 0) this.lines.fill(undefined);
    // Only the first command without a reply is worth telling; the rest of the step shares its fate.
    const firstSilent = problems.findIndex((p) => p.includes(" got no reply"));
    return firstSilent < 0 ? problems : problems.slice(0, firstSilent + 1);
  }

  /** Lowers the strobe, then every code line not known to be down (in one go); collects what went wrong. */
  private async lower(): Promise<string[]> {
    const down: [number, 0][] = [];
    for (const n of [strobeCommandLine, ...Array.from({ length: codeCommandLines }, (_, k) => k + 1)])
      if (this.lines[n] !== 0) down.push([n, 0]);
    return this.setLines(down);
  }

  async checkReady(): Promise<void> {
    const where = `Network Events at ${this.endpoint}`;
    const r = await this.command("IsAcquiring");
    if ("error" in r) {
      throw new RigNotReadyError(
        `${where} did not answer IsAcquiring (${r.error}); no session was started and nothing was stored. Check ` +
          `that the Open Ephys GUI runs with the Network Events plugin on port ${this.options.port} (its editor ` +
          `shows the port), then start the session again.`,
      );
    }
    if (r.reply === "0") {
      throw new RigNotReadyError(
        `The Open Ephys GUI is not acquiring (${where} answered IsAcquiring with 0): its TTL lines would not reach ` +
          `the recording. No session was started and nothing was stored. Start acquisition in the GUI (the play ` +
          `button), then start the session again.`,
      );
    }
    if (r.reply !== "1") {
      throw new RigNotReadyError(
        `${where} answered IsAcquiring with ${JSON.stringify(r.reply.slice(0, 80))}, not 1 or 0` +
          `${explain(r.reply)}; no session was started and nothing was stored. Point eventCodes.port at the Network ` +
          `Events plugin's port.`,
      );
    }
    // Start from known lines: strobe and code lines down (a session that ended badly may have left some up).
    this.lines.fill(undefined);
    const problems = await this.lower();
    if (problems.length > 0) {
      throw new RigNotReadyError(
        `${where} did not take the line commands that carry event codes: ${problems[0]}. No session was started ` +
          `and nothing was stored.`,
      );
    }
  }

  async send(code: number): Promise<EventCodeResult> {
    if (!Number.isInteger(code) || code < 1 || code >= 2 ** codeCommandLines) {
      throw new Error(
        `Network Events: event code ${code} is outside 1..${2 ** codeCommandLines - 1}; codes are sent on ` +
          `${codeCommandLines} lines`,
      );
    }
    // The strobe must be down before the code's lines change (after a failed clear it may not be); the plugin
    // carries the commands out in the order sent.
    const changes: [number, 0 | 1][] = this.lines[strobeCommandLine] === 0 ? [] : [[strobeCommandLine, 0]];
    for (let k = 0; k < codeCommandLines; k++) {
      const want = ((code >> k) & 1) as 0 | 1;
      if (this.lines[k + 1] !== want) changes.push([k + 1, want]);
    }
    const problems = await this.setLines(changes);
    if (problems.length > 0) {
      return {
        confirmed: false,
        attempts: 1,
        message:
          `${problems.join("; ")}; the strobe (line ${strobeCommandLine}) was not raised, so this code has ` +
          `no onset`,
      };
    }
    const strobe = await this.setLines([[strobeCommandLine, 1]]);
    return strobe.length === 0
      ? { confirmed: true, attempts: 1 }
      : { confirmed: false, attempts: 1, message: `raising the strobe: ${strobe[0]}` };
  }

  async clear(): Promise<EventCodeResult> {
    const problems = await this.lower();
    return problems.length === 0
      ? { confirmed: true, attempts: 1 }
      : { confirmed: false, attempts: 1, message: `lowering the lines: ${problems.join("; ")}` };
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
      return {
        confirmed: false,
        attempts: 1,
        message:
          "the GUI was already recording (it answers StartRecord with NotHandled while a recording runs); that " +
          "recording goes on, but its folder does not carry this session's id",
      };
    }
    return {
      confirmed: false,
      attempts: 1,
      message:
        "error" in r
          ? `StartRecord got ${r.error}`
          : `StartRecord was answered ${JSON.stringify(r.reply.slice(0, 80))}${explain(r.reply)}`,
    };
  }

  async stopRecording(): Promise<EventCodeResult> {
    if (this.options.recording === undefined) return { confirmed: true, attempts: 0 };
    const r = await this.command("StopRecord");
    if ("reply" in r && r.reply === "StoppedRecording") return { confirmed: true, attempts: 1 };
    return {
      confirmed: false,
      attempts: 1,
      message:
        "error" in r
          ? `StopRecord got ${r.error}`
          : `StopRecord was answered ${JSON.stringify(r.reply.slice(0, 80))}${explain(r.reply)}`,
    };
  }

  async close(): Promise<void> {
    this.socket?.close();
    this.socket = undefined;
  }
}
