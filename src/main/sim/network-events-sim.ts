import type { Reply } from "zeromq";

/** What the simulated GUI does for the Network Events commands it understands. */
export interface NetworkEventsHost {
  acquiring(): boolean;
  setAcquiring(on: boolean): void;
  /** A TTL command arrived while acquiring: `line` counted from 0 (command line n is event line n - 1). */
  line(line: number, state: 0 | 1): void;
  /** Test-only: the `TTL Word=<code>` command that the real plugin does not have. */
  word?(code: number): void;
}

/** JUCE's String::getIntValue: leading spaces, an optional sign, digits; 0 when there are none. */
function juceInt(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * The plugin's parseNetworkMessage: space-separated key=value tokens, '…' and "…" quotes kept together and stripped.
 */
function parseParams(text: string): Map<string, { key: string; value: string }> {
  const out = new Map<string, { key: string; value: string }>();
  for (const m of text.matchAll(/(?:[^\s'"]+|"[^"]*"|'[^']*')+/g)) {
    const token = m[0];
    const eq = token.indexOf("=");
    if (eq < 0) continue;
    const key = token.slice(0, eq);
    let value = token.slice(eq + 1);
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0])
      value = value.slice(1, -1);
    out.set(key.toLowerCase(), { key, value });
  }
  return out;
}

/**
 * The Open Ephys Network Events plugin as its source answers (open-ephys-plugins/network-events, NetworkEvents.cpp
 * handleSpecialMessages): `TTL Line=<1..256> State=<0|1>` -> `TTLHandled: Line=<n> State=<s>` (emitted only while
 * acquiring), `IsAcquiring`, `StartRecord`, `StopRecord`, `StartAcquisition`, `StopAcquisition`, anything else
 * `NotHandled`. With `wordCommand` it also answers the `TTL Word=<code>` command earlier simulators had (tests only).
 */
export class SimNetworkEvents {
  recording = false;
  /** The parameters of each StartRecord that started a recording (PrependText, RecDir, AppendText, …). */
  readonly recordings: Record<string, string>[] = [];
  commands = 0;
  /**
   * False: the plugin stops answering (a hung or killed GUI); what arrives meanwhile is neither carried out nor
   * answered in time.
   */
  answering = true;

  constructor(
    private readonly host: NetworkEventsHost,
    private readonly options: { wordCommand?: boolean } = {},
  ) {}

  handle(message: string): string {
    this.commands++;
    const space = message.indexOf(" ");
    const cmd = (space < 0 ? message : message.slice(0, space)).toLowerCase();
    const params = message.includes("=")
      ? parseParams(message.slice(cmd.length).trim())
      : new Map<string, { key: string; value: string }>();
    switch (cmd) {
      case "startacquisition":
        if (!this.host.acquiring()) this.host.setAcquiring(true);
        return "StartedAcquisition";
      case "stopacquisition":
        if (this.host.acquiring()) this.host.setAcquiring(false);
        return "StoppedAcquisition";
      case "startrecord":
        // The plugin answers nothing better than NotHandled while a recording runs (its branch falls through).
        if (this.recording) return "NotHandled";
        this.recording = true;
        this.recordings.push(Object.fromEntries([...params.values()].map((p) => [p.key, p.value])));
        return "StartedRecording";
      case "stoprecord":
        this.recording = false;
        return "StoppedRecording";
      case "isacquiring":
        return this.host.acquiring() ? "1" : "0";
      case "isrecording":
        return this.recording ? "1" : "0";
      case "ttl":
        return this.ttl(params);
      default:
        return "NotHandled";
    }
  }

  private ttl(params: Map<string, { key: string; value: string }>): string {
    const word = params.get("word");
    if (this.options.wordCommand && word !== undefined && this.host.word !== undefined) {
      const code = juceInt(word.value);
      if (this.host.acquiring()) this.host.word(code);
      return `TTLHandled: Word=${code}`;
    }
    // Defaults: line 1, off (what the plugin does with a command it cannot read, `TTL Word=5` included).
    let line = 0;
    let state: 0 | 1 = 0;
    for (const { key, value } of params.values()) {
      const v = juceInt(value);
      if (key.toLowerCase() === "line") {
        if (v < 1 || v > 256) return "InvalidChannel";
        line = v - 1;
      } else if (key.toLowerCase() === "state") state = v !== 0 ? 1 : 0;
    }
    if (this.host.acquiring()) this.host.line(line, state);
    return `TTLHandled: Line=${line + 1} State=${state}`;
  }

  /** Answers on a bound REP until it closes. */
  async serve(rep: Reply, running: () => boolean): Promise<void> {
    while (running()) {
      try {
        const [msg] = await rep.receive();
        if (!this.answering) {
          // A REP must answer before it can receive again: the late answer goes to a requester that gave up.
          while (!this.answering && running()) await new Promise((r) => setTimeout(r, 20));
          if (!running()) return;
          await rep.send("NotHandled");
          continue;
        }
        await rep.send(this.handle(msg?.toString("utf8") ?? ""));
      } catch {
        if (!running() || rep.closed) return;
      }
    }
  }
}
