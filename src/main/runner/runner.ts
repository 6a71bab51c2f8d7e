import type { LoadedProtocol } from "../protocol/load.js";
import type { CountWindow } from "../protocol/schema.js";
import type { CommittedBatch, SessionStore } from "../store/store.js";
import type { FaultRecord, PresentationCounts, SessionState } from "../store/types.js";
import { EventCodeAllocator } from "../rig/codes.js";
import type { Rig } from "../rig/types.js";
import type { Clock } from "./clock.js";
import { buildSchedule } from "./schedule.js";
import { RigHealth, type HealthOptions } from "./health.js";
import { OnsetTimeline } from "./onset-timeline.js";
import { DisplaySteps } from "./display-steps.js";
import type { SessionDisplayRecord } from "../store/display-timing.js";
import { safeSink, type RunnerEventSink } from "./events.js";
import type { OperatorControl } from "./control.js";

export interface RunnerDeps {
  clock: Clock;
  store: SessionStore;
  rig: Rig;
  /** Lines a person reads (progress, faults, state changes). */
  log?: (line: string) => void;
  progress?: (shown: number, total: number) => void;
  /** Told what became durable after each committed batch. */
  onCommitted?: (batch: CommittedBatch) => void;
  /** A watcher (the live view): told what happens as it happens; called synchronously, never awaited. */
  events?: RunnerEventSink;
}

export interface RunOptions {
  protocol: LoadedProtocol;
  rigName: string;
  rigText: string;
  countWindow: CountWindow;
  graceMs: number;
  sessionName?: string;
  signal?: AbortSignal;
  /** How often to retry a lost event-code port while paused. */
  reconnectEveryMs?: number;
  /**
   * When the rig counts as gone quiet (no data, no onset TTLs, codes not confirmed): the session pauses until it is
   * back.
   */
  health?: Partial<HealthOptions>;
  /** The display the session runs on (refresh, pre-flight), stored with it (window displays and photodiodes). */
  display?: SessionDisplayRecord;
  /** The operator's pause / resume / stop (the live view). */
  control?: OperatorControl;
}

export interface SessionResult {
  sessionId: number;
  uuid: string;
  state: SessionState;
  scheduled: number;
  presented: number;
  countsStored: number;
  faults: number;
}

/**
 * The rig's stream cannot be counted (RIG_PROTOCOL.md section 1 refused, e.g. a pre-0.3 ZMQ Interface): the session
 * ends, failed.
 */
export class RigRefusedError extends Error {
  readonly code = "rig-refused";
}

/** An event-code transport failure that pauses the session until the port comes back. */
export class PortLostError extends Error {
  readonly code = "port-lost";
}

/**
 * Runs one session: presents the protocol's schedule on the rig, stores every presentation, TTL
 * onset, spike count and fault as it arrives, and ends cleanly on abort (state `interrupted`).
 */
export class SessionRunner {
  constructor(private readonly deps: RunnerDeps) {}

  async run(options: RunOptions): Promise<SessionResult> {
    const { store, rig, clock } = this.deps;
    const log = this.deps.log ?? (() => {});
    const emit = safeSink(this.deps.events);
    const { protocol } = options.protocol;
    // The rig must be able to take the session before anything is stored, images included (Network Events: the GUI
    // acquiring).
    await rig.eventCodes.open();
    try {
      await rig.eventCodes.checkReady?.();
    } catch (err) {
      await rig.eventCodes.close().catch(() => {});
      throw err;
    }
    const schedule = await buildSchedule(protocol, options.protocol.file, store);
    const protocolId = store.putProtocol(protocol.name, options.protocol.text);
    const rigId = store.putRig(options.rigName, options.rigText);
    const session = store.createSession({
      name: options.sessionName ?? protocol.name,
      protocolId,
      rigId,
      seed: protocol.seed,
      countWindow: options.countWindow,
    });
    let countsStored = 0;
    let faults = 0;
    const codes = new EventCodeAllocator();
    const codeOf = new Map<number, number>();
    // Counts can only be stored for presentations that were stored (foreign key); others are a fault.
    const stored = new Set<number>();
    // Counts that became final while their presentation's code was still being confirmed wait for its row.
    const early = new Map<number, PresentationCounts>();
    // Counts queued for the store, told to a watcher once they are durable.
    const watched = this.deps.events === undefined ? undefined : new Map<number, PresentationCounts>();
    const shaOf = new Map(watched === undefined ? [] : schedule.map((p) => [p.idx, p.sha256]));
    const writer = store.writer(session.id, (batch) => {
      countsStored += batch.counts.length;
      faults += batch.faults;
      this.deps.onCommitted?.(batch);
      if (watched !== undefined && batch.counts.length > 0) {
        const counts: (PresentationCounts & { sha256: string })[] = [];
        for (const idx of batch.counts) {
          const c = watched.get(idx);
          const sha256 = shaOf.get(idx);
          if (c !== undefined && sha256 !== undefined) counts.push({ ...c, sha256 });
          watched.delete(idx);
        }
        emit({ kind: "counts", counts });
      }
    });
    const addCounts = (c: PresentationCounts): void => {
      watched?.set(c.presentationIdx, c);
      writer.addCounts(c);
    };
    const fault = (f: FaultRecord): void => {
      writer.addFault(f);
      log(`fault ${f.code}: ${f.message}`);
      emit({ kind: "fault", code: f.code, message: f.message, presentationIdxs: f.presentationIdxs });
    };
    const health = new RigHealth(
      { clock, rig, store, sessionId: session.id, log, fault, flush: () => writer.flush(), events: emit },
      options.health,
    );
    const display = new DisplaySteps(store, session.id, rig, fault, options.display);
    store.appendSessionEvent(
      session.id,
      "started",
      `${schedule.length} presentations scheduled on rig ${options.rigName}`,
    );
    log(
      `session ${session.uuid} started: ${schedule.length} presentations of "${protocol.name}" on rig ` +
        `${options.rigName}`,
    );
    emit({
      kind: "started",
      sessionId: session.id,
      uuid: session.uuid,
      name: session.name,
      total: schedule.length,
      cycleMs: protocol.timing.stimulusMs + protocol.timing.interStimulusMs,
    });

    await rig.acquisition.start({
      counts: (c) => {
        if (stored.has(c.presentationIdx)) addCounts(c);
        else if (codeOf.has(c.presentationIdx)) early.set(c.presentationIdx, c);
        else
          fault({
            code: "other",
            message:
              `counts arrived for presentation ${c.presentationIdx}, which was never shown; they were not ` + `stored`,
            presentationIdxs: [],
          });
        const code = codeOf.get(c.presentationIdx);
        if (code !== undefined) {
          codes.release(code);
          codeOf.delete(c.presentationIdx);
        }
      },
      ttl: (t) => {
        if (t.presentationIdx !== null) health.onset(t.presentationIdx);
        writer.addTtlOnset(t);
      },
      light: (l) => display.light(l),
      fault,
      link: (state, message) => health.link(state, message),
    });
    await rig.display.open();
    await this.startRecording(session.id, session.uuid, fault);

    const { stimulusMs } = protocol.timing;
    const control = options.control;
    // The operator's stop ends the session as an interrupt does.
    const signal =
      control === undefined
        ? options.signal
        : options.signal === undefined
          ? control.signal
          : AbortSignal.any([options.signal, control.signal]);
    let presented = 0;
    let state: SessionState = "completed";
    const t0 = clock.nowMs();
    try {
      const timeline = new OnsetTimeline(clock, t0, protocol.timing);
      for (const [i, item] of schedule.entries()) {
        if (signal?.aborted) break;
        this.checkRefusal();
        const gate = await health.gate(item.idx, signal);
        if (!gate.go) break;
        if (gate.paused) timeline.restart();
        if (control?.paused) {
          if (!(await this.operatorPause(control, item.idx, session.id, writer, emit, signal))) break;
          // The rig may have gone quiet while the operator's pause lasted.
          if (!(await health.gate(item.idx, signal)).go) break;
          timeline.restart();
        }
        const scheduledMs = await timeline.next(signal);
        if (signal?.aborted) break;
        const code = codes.next();
        codeOf.set(item.idx, code);
        rig.acquisition.expect({ presentationIdx: item.idx, code });
        let confirmed = false;
        let shownMs: number | null = null;
        const frames = display.timing(stimulusMs);
        const durationMs = frames?.durationMs ?? stimulusMs;
        const { image, sha256 } = item;
        const frame = { seq: item.idx, code, durationMs, image, sha256, frames: frames?.frames };
        for (;;) {
          try {
            const { sent, onset } = await display.present(frame);
            shownMs = onset === undefined ? clock.nowMs() - t0 : DisplaySteps.controllerMs(onset, clock, t0);
            confirmed = sent.confirmed;
            if (!sent.confirmed) {
              fault({
                code: "event-code-unconfirmed",
                message:
                  `event code ${code} of presentation ${item.idx} was not confirmed after ${sent.attempts} ` +
                  `attempts${sent.message ? `: ${sent.message}` : ""}`,
                presentationIdxs: [item.idx],
              });
            }
            break;
          } catch (err) {
            if (!(err instanceof PortLostError)) throw err;
            writer.flush();
            fault({
              code: "serial-port-lost",
              message:
                `${err.message} at presentation ${item.idx}; ${item.idx} presentations are saved; paused ` +
                `until the port returns`,
              presentationIdxs: [item.idx],
            });
            writer.flush();
            store.appendSessionEvent(session.id, "paused", err.message);
            emit({ kind: "paused", by: "port", reason: err.message, atPresentation: item.idx });
            const back = await this.waitForPort(options.reconnectEveryMs ?? 1000, signal);
            if (!back) break;
            store.appendSessionEvent(session.id, "resumed", "event-code port is back");
            emit({ kind: "resumed", by: "port" });
            log("event-code port is back; resuming");
          }
        }
        if (signal?.aborted && shownMs === null) break;
        health.codeSent(item.idx, confirmed);
        stored.add(item.idx);
        writer.addPresentation({
          idx: item.idx,
          block: item.block,
          stimulusSha256: item.sha256,
          eventCode: code,
          scheduledMs,
          shownMs,
          durationMs: stimulusMs,
          status: confirmed ? "shown" : "unconfirmed",
        });
        const waiting = early.get(item.idx);
        if (waiting !== undefined) {
          early.delete(item.idx);
          addCounts(waiting);
        }
        presented++;
        this.deps.progress?.(presented, schedule.length);
        emit({ kind: "presented", n: presented, total: schedule.length, idx: item.idx, sha256 });
        const next = schedule[i + 1];
        if (next !== undefined) display.preload({ ...frame, seq: next.idx, image: next.image, sha256: next.sha256 });
        await display.finish(item.idx, stimulusMs, frames, clock, signal);
        const cleared = await rig.eventCodes
          .clear()
          .catch((err: unknown) =>
            log(`clearing the event word failed: ${err instanceof Error ? err.message : String(err)}`),
          );
        if (cleared !== undefined && !cleared.confirmed) {
          fault({
            code: "event-code-unconfirmed",
            message:
              `clearing event code ${code} after presentation ${item.idx} was not confirmed` +
              `${cleared.message ? `: ${cleared.message}` : ""}`,
            presentationIdxs: [item.idx],
          });
        }
      }
      if (signal?.aborted) state = "interrupted";
      await rig.acquisition.drain(options.countWindow.endMs + options.graceMs + 2000);
      this.checkRefusal();
    } catch (err) {
      state = "failed";
      const message = err instanceof Error ? err.message : String(err);
      // A refused rig stream already has its fault, with the same words.
      if (!(err instanceof RigRefusedError))
        fault({
          code: "other",
          message: `session failed at presentation ${presented}: ${message}`,
          presentationIdxs: [],
        });
      log(`session failed: ${message}; ${presented} presentations are saved`);
    } finally {
      for (const idx of early.keys())
        fault({
          code: "other",
          message: `counts arrived for presentation ${idx}, which was never shown; they were not stored`,
          presentationIdxs: [],
        });
      const stopped = await rig.eventCodes.stopRecording?.().catch((err: unknown) => ({
        confirmed: false,
        attempts: 1,
        message: err instanceof Error ? err.message : String(err),
      }));
      if (stopped !== undefined && !stopped.confirmed)
        fault({
          code: "other",
          message:
            `the rig's recording was not stopped: ${stopped.message ?? "no reason given"}; stop it in the ` +
            `Open Ephys GUI`,
          presentationIdxs: [],
        });
      display.storeFrames();
      writer.close();
      // "With counts" means complete counts, as `show` says; incomplete ones are stored and flagged.
      countsStored = store.countResults(session.id).filter((r) => r.complete).length;
      await rig.acquisition.stop().catch(() => {});
      await rig.display.close().catch(() => {});
      await rig.eventCodes.close().catch(() => {});
      store.appendSessionEvent(
        session.id,
        state,
        state === "interrupted"
          ? `interrupted after ${presented} of ${schedule.length} presentations; everything so far is saved`
          : `${presented} presentations`,
      );
      emit({ kind: "ended", state, presented, scheduled: schedule.length, countsStored, faults });
    }
    log(
      `session ${session.uuid} ${state}: ${presented}/${schedule.length} presented, ${countsStored} with complete ` +
        `counts, ${faults} faults`,
    );
    return {
      sessionId: session.id,
      uuid: session.uuid,
      state,
      scheduled: schedule.length,
      presented,
      countsStored,
      faults,
    };
  }

  /**
   * The operator paused: everything queued is committed, the pause stored as a session event, and the session waits
   * for resume (true) or stop (false).
   */
  private async operatorPause(
    control: OperatorControl,
    idx: number,
    sessionId: number,
    writer: { flush(): unknown },
    emit: RunnerEventSink,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const { store } = this.deps;
    const reason = control.reason ?? "paused by the operator";
    writer.flush();
    store.appendSessionEvent(
      sessionId,
      "paused",
      `${reason} before presentation ${idx}; ${idx} presentations are saved`,
    );
    this.deps.log?.(`session paused before presentation ${idx} (${reason}); everything so far is saved`);
    emit({ kind: "paused", by: "operator", reason, atPresentation: idx });
    const go = await control.waitWhilePaused(signal);
    if (!go) return false;
    store.appendSessionEvent(sessionId, "resumed", `resumed by the operator at presentation ${idx}`);
    this.deps.log?.(`resumed by the operator at presentation ${idx}`);
    emit({ kind: "resumed", by: "operator" });
    return true;
  }

  /** Ends the session when the rig's stream cannot be counted at all (a ZMQ Interface older than the contract). */
  private checkRefusal(): void {
    const refusal = this.deps.rig.acquisition.refusal;
    if (refusal !== undefined) throw new RigRefusedError(refusal);
  }

  /**
   * Starts the rig's own recording for this session where the rig file asks (Network Events StartRecord); a failure is
   * a fault, not a stop.
   */
  private async startRecording(sessionId: number, uuid: string, fault: (f: FaultRecord) => void): Promise<void> {
    const start = this.deps.rig.eventCodes.startRecording;
    if (start === undefined) return;
    const started = await start.call(this.deps.rig.eventCodes, uuid).catch((err: unknown) => ({
      confirmed: false,
      attempts: 1,
      message: err instanceof Error ? err.message : String(err),
    }));
    if (started.attempts === 0) return;
    if (started.confirmed)
      this.deps.store.appendSessionEvent(
        sessionId,
        "note",
        `the rig's recording started; its folder name begins with ${uuid}_`,
      );
    else
      fault({
        code: "other",
        message:
          `the rig's recording was not started for session ${uuid}: ` +
          `${started.message ?? "no reason given"}; counts are stored as usual`,
        presentationIdxs: [],
      });
  }

  private async waitForPort(everyMs: number, signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal?.aborted) return false;
      await this.deps.clock.sleep(everyMs, signal);
      try {
        await this.deps.rig.eventCodes.open();
        return true;
      } catch {
        // still gone; keep waiting
      }
    }
  }
}
