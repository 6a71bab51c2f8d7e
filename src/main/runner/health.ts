/**
 * The rig's health during a session: whether its data stream flows, whether presented codes get
 * their onset TTLs, whether its heartbeat answers and whether its event-code input answers. The
 * runner asks before each presentation; a problem pauses the session (everything saved, the reason
 * stored as a session event) until the rig is back. The link's state (connected, degraded, down) is
 * stored as a session event each time it changes, and logged once per change.
 */
import type { EventCodeOutput, RigLinkState } from "../rig/types.js";
import type { SessionStore } from "../store/store.js";
import type { FaultRecord } from "../store/types.js";
import type { Clock } from "./clock.js";
import type { RunnerEventSink } from "./events.js";

export interface HealthOptions {
  /** No message at all from the rig's data socket for this long: the stream is down. */
  noDataMs: number;
  /**
   * A code confirmed this long ago with no onset TTL at all since (for it or any later code): the TTLs are not
   * arriving. One lost TTL message among onsets that do arrive is a fault of its presentation, not a pause.
   */
  noOnsetMs: number;
  /** This many codes in a row not confirmed by the event-code input (Network Events or the box not answering). */
  unconfirmedInARow: number;
  /** How often a paused session checks whether the rig is back. */
  probeEveryMs: number;
}

export const defaultHealthOptions: HealthOptions = {
  noDataMs: 3000,
  noOnsetMs: 3000,
  unconfirmedInARow: 3,
  probeEveryMs: 250,
};

/**
 * The link as the session sees it: data flowing and everything answering, something lost but data flowing, or no way to
 * run.
 */
export type SessionLinkState = "connected" | "degraded" | "down";

export type HealthProblemKind = "no-data" | "no-onset" | "heartbeat-lost" | "event-codes";

export interface HealthProblem {
  kind: HealthProblemKind;
  message: string;
}

export interface HealthDeps {
  clock: Clock;
  /** What health reads of the rig: the acquisition's message count, and the event-code input to probe. */
  rig: {
    acquisition: { readonly messagesReceived?: number };
    eventCodes: Pick<EventCodeOutput, "checkReady" | "clear">;
  };
  store: SessionStore;
  sessionId: number;
  log: (line: string) => void;
  fault: (f: FaultRecord) => void;
  /** Commits everything queued, so a pause leaves nothing unsaved. */
  flush: () => void;
  /** A watcher told of link changes and pauses (never awaited). */
  events?: RunnerEventSink;
}

/** A pause that ended: why, and how long the session waited. */
export interface PauseRecord {
  kind: HealthProblemKind;
  atPresentation: number;
  waitedMs: number;
  resumed: boolean;
}

export class RigHealth {
  private readonly options: HealthOptions;
  private linkState: SessionLinkState | undefined;
  private heartbeatDown = false;
  private lastMessages: number | undefined;
  private lastDataAtMs: number;
  private readonly awaitingOnset = new Map<number, number>();
  /** Onsets that came before the runner heard its code was confirmed (a fast rig). */
  private readonly earlyOnsets = new Set<number>();
  private lastOnsetAtMs = -Infinity;
  private unconfirmed = 0;
  /** Every pause of this session, in order. */
  readonly pauses: PauseRecord[] = [];

  constructor(
    private readonly deps: HealthDeps,
    options: Partial<HealthOptions> = {},
  ) {
    this.options = { ...defaultHealthOptions, ...options };
    this.lastDataAtMs = deps.clock.nowMs();
  }

  /**
   * The acquisition's own link report (the heartbeat): degraded counts as a lost heartbeat until it is connected again.
   */
  link(state: RigLinkState, message: string): void {
    if (state === "degraded") this.heartbeatDown = true;
    else if (state === "connected") this.heartbeatDown = false;
    else return;
    this.refreshLink(message);
  }

  /** A presentation's code went out; a confirmed one waits for its onset TTL. */
  codeSent(presentationIdx: number, confirmed: boolean): void {
    if (!confirmed) {
      this.unconfirmed++;
      return;
    }
    this.unconfirmed = 0;
    if (this.earlyOnsets.delete(presentationIdx)) return;
    this.awaitingOnset.set(presentationIdx, this.deps.clock.nowMs());
    // Codes sent before the latest onset lost only their own TTL (a fault the stream reports): forget them.
    if (this.awaitingOnset.size > 64)
      for (const [idx, at] of this.awaitingOnset) if (at < this.lastOnsetAtMs) this.awaitingOnset.delete(idx);
  }

  /** Its onset TTL arrived. */
  onset(presentationIdx: number): void {
    if (!this.awaitingOnset.delete(presentationIdx)) this.earlyOnsets.add(presentationIdx);
    this.lastOnsetAtMs = this.deps.clock.nowMs();
  }

  /**
   * Messages the acquisition has read so far, when it says (undefined: this rig cannot tell, and no-data is not
   * checked).
   */
  private messages(): number | undefined {
    return this.deps.rig.acquisition.messagesReceived;
  }

  /** How long since the data socket last brought anything; 0 when the rig cannot tell. */
  private dataAgeMs(): number {
    const now = this.deps.clock.nowMs();
    const n = this.messages();
    if (n === undefined) return 0;
    if (n !== this.lastMessages) {
      this.lastMessages = n;
      this.lastDataAtMs = now;
    }
    return now - this.lastDataAtMs;
  }

  /** What is wrong now, the worst first; undefined when the session can go on. */
  problem(): HealthProblem | undefined {
    const o = this.options;
    const age = this.dataAgeMs();
    if (age >= o.noDataMs) {
      return {
        kind: "no-data",
        message: `no data from the rig for ${Math.round(age)} ms (the limit is ${o.noDataMs} ms): its stream stopped`,
      };
    }
    if (this.unconfirmed >= o.unconfirmedInARow) {
      return {
        kind: "event-codes",
        message:
          `the rig's event-code input did not confirm the last ${this.unconfirmed} codes (the limit is ` +
          `${o.unconfirmedInARow} in a row): it is not answering`,
      };
    }
    const now = this.deps.clock.nowMs();
    for (const [idx, sentAt] of this.awaitingOnset) {
      if (sentAt >= this.lastOnsetAtMs && now - sentAt >= o.noOnsetMs) {
        return {
          kind: "no-onset",
          message:
            `presentation ${idx}'s code was confirmed ${Math.round(now - sentAt)} ms ago and no onset TTL ` +
            `has come since (the limit is ${o.noOnsetMs} ms): the TTLs are not reaching the rig's stream`,
        };
      }
    }
    if (this.heartbeatDown) return { kind: "heartbeat-lost", message: "the rig stopped answering heartbeats" };
    return undefined;
  }

  private refreshLink(detail: string): void {
    const p = this.problem();
    const state: SessionLinkState = p === undefined ? "connected" : p.kind === "heartbeat-lost" ? "degraded" : "down";
    if (state === this.linkState) return;
    this.linkState = state;
    const why = p?.message ?? detail;
    this.deps.store.appendSessionEvent(this.deps.sessionId, "note", `rig link ${state}: ${why}`);
    this.deps.log(`rig link ${state}: ${why}`);
    this.deps.events?.({ kind: "link", state, message: why });
  }

  get state(): SessionLinkState | undefined {
    return this.linkState;
  }

  /**
   * Before presentation `idx`: returns at once while the rig is healthy; otherwise pauses the session (everything
   * saved, a fault and a `paused` event saying why), waits until the rig is back, stores `resumed` and returns
   * true. Returns false when the session was aborted while paused.
   */
  async gate(idx: number, signal?: AbortSignal): Promise<{ go: boolean; paused: boolean }> {
    const p = this.problem();
    this.refreshLink("data flows and the rig answers");
    if (p === undefined) return { go: true, paused: false };
    const { clock, store, sessionId } = this.deps;
    this.deps.flush();
    this.deps.fault({
      code: p.kind === "heartbeat-lost" ? "heartbeat-lost" : "other",
      message: `session paused before presentation ${idx}: ${p.message}; ${idx} presentations are saved`,
      presentationIdxs: [],
    });
    this.deps.flush();
    store.appendSessionEvent(sessionId, "paused", `${p.message}; ${idx} presentations are saved`);
    this.deps.events?.({ kind: "paused", by: "rig", reason: p.message, atPresentation: idx });
    this.deps.log(
      `session paused before presentation ${idx}: ${p.message}; everything so far is saved; waiting for the rig`,
    );
    const since = clock.nowMs();
    const back = await this.waitUntilBack(p.kind, signal);
    const waitedMs = clock.nowMs() - since;
    this.pauses.push({ kind: p.kind, atPresentation: idx, waitedMs, resumed: back });
    if (!back) return { go: false, paused: true };
    // Codes sent before the pause got whatever onsets they will get; the stream flags the rest incomplete.
    this.awaitingOnset.clear();
    this.unconfirmed = 0;
    this.refreshLink("the rig is back");
    store.appendSessionEvent(sessionId, "resumed", `the rig is back after ${Math.round(waitedMs)} ms (${p.kind})`);
    this.deps.events?.({ kind: "resumed", by: "rig" });
    this.deps.log(`the rig is back after ${Math.round(waitedMs)} ms; resuming at presentation ${idx}`);
    return { go: true, paused: true };
  }

  private async waitUntilBack(kind: HealthProblemKind, signal?: AbortSignal): Promise<boolean> {
    const { clock } = this.deps;
    const startMessages = this.messages();
    for (;;) {
      if (signal?.aborted) return false;
      await clock.sleep(this.options.probeEveryMs, signal);
      if (signal?.aborted) return false;
      const age = this.dataAgeMs();
      const flowing =
        startMessages === undefined || (this.lastMessages !== startMessages && age < this.options.noDataMs);
      if (kind === "no-data" && !flowing) continue;
      if (kind === "heartbeat-lost") {
        if (!this.heartbeatDown) return true;
        continue;
      }
      if (kind === "no-data") return true;
      // Event codes, or onsets that did not come: the event-code input must answer again (and the data flow).
      if (!flowing && kind === "no-onset") continue;
      if (await this.eventCodesAnswer()) return true;
    }
  }

  /**
   * Network Events: IsAcquiring answers 1 (and the lines are lowered); a serial box: clearing the word is confirmed.
   */
  private async eventCodesAnswer(): Promise<boolean> {
    const codes = this.deps.rig.eventCodes;
    try {
      if (codes.checkReady !== undefined) {
        await codes.checkReady();
        return true;
      }
      const cleared = await codes.clear();
      return cleared === undefined || cleared.confirmed;
    } catch {
      return false;
    }
  }
}
