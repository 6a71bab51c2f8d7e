/**
 * The live view's publisher in the controller: takes a session's and a campaign's events (synchronously, queued by
 * EventCoalescer), and at most every `intervalMs` (100 ms: ≤ 10 pushes a second) folds them into the current state and
 * sends the batch to every watching page (WebSocket clients, Electron windows). Nothing here is awaited by the runner;
 * a slow or broken watcher only loses its own messages. It also holds the operator's control of the running session.
 */
import type { LiveEvent, LiveMessage } from "../api/live-contract.js";
import { emptyLiveState, reduceLive, type LiveState } from "../api/live-state.js";
import type { RunnerEventSink } from "../runner/events.js";
import { OperatorControl, type ControlAction } from "../runner/control.js";
import { EventCoalescer } from "./coalesce.js";

export type LiveSubscriber = (message: LiveMessage) => void;

export interface LiveHubOptions {
  intervalMs?: number;
  /** Timers (tests pass fakes through vitest's fake timers; the default is the global ones). */
  setTimer?: (fn: () => void, ms: number) => { unref?(): unknown };
  log?: (line: string) => void;
}

/** Why a control request was refused: a code from the contract's closed set and a person's words. */
export class LiveControlError extends Error {
  constructor(
    readonly code: "conflict" | "not-found",
    message: string,
  ) {
    super(message);
    this.name = "LiveControlError";
  }
}

export class LiveHub {
  private readonly coalescer = new EventCoalescer();
  private readonly subscribers = new Set<LiveSubscriber>();
  private state: LiveState = emptyLiveState();
  private timer: { unref?(): unknown } | undefined;
  private seq = 0;
  private readonly intervalMs: number;
  /** The operator's hand on the session that runs (passed to the runner as its `control`). */
  readonly control = new OperatorControl();

  constructor(private readonly options: LiveHubOptions = {}) {
    this.intervalMs = options.intervalMs ?? 100;
  }

  /** The runner's and the campaign's sink: queue only. */
  readonly publish = (event: LiveEvent): void => {
    this.coalescer.push(event);
    if (this.timer === undefined) {
      const set = this.options.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
      this.timer = set(() => this.flush(), this.intervalMs);
      // Never keeps the process alive on its own.
      this.timer.unref?.();
    }
  };

  /** The runner's `events` dependency. */
  get sink(): RunnerEventSink {
    return this.publish;
  }

  /** What a session runner takes from the hub: its sink and the operator's control. */
  get runnerHooks(): { events: RunnerEventSink; control: OperatorControl } {
    return { events: this.publish, control: this.control };
  }

  /** Folds what is queued into the state and sends it; called by the timer (and by tests, and before closing). */
  flush(): void {
    this.timer = undefined;
    const { events, dropped } = this.coalescer.drain();
    if (events.length === 0 && dropped === 0) return;
    this.state = reduceLive(this.state, events);
    this.send({ type: "batch", seq: ++this.seq, events, dropped });
  }

  snapshot(): LiveState {
    return this.state;
  }

  /** Sends the state so far at once, then every batch; returns the unsubscribe function. */
  subscribe(subscriber: LiveSubscriber): () => void {
    this.subscribers.add(subscriber);
    this.deliver(subscriber, { type: "snapshot", state: this.state });
    return () => this.subscribers.delete(subscriber);
  }

  get watchers(): number {
    return this.subscribers.size;
  }

  /** Pause, resume or stop the running session; refused when no session runs or the request makes no sense now. */
  act(action: ControlAction): LiveState {
    const s = this.state;
    const running = s.phase === "running" || s.phase === "paused";
    if (!running) {
      throw new LiveControlError(
        "conflict",
        `No session is running here (${s.phase === "ended" ? "the last one ended" : "none has started"}); nothing ` +
          `was ${action === "stop" ? "stopped" : `${action}d`}.`,
      );
    }
    if (action === "pause") {
      if (this.control.paused)
        throw new LiveControlError("conflict", "The session is already paused by the operator; press Resume.");
      this.control.pause("paused by the operator from the live view");
    } else if (action === "resume") {
      if (!this.control.paused) {
        const why =
          s.phase === "paused" && s.pause !== null && s.pause.by !== "operator"
            ? `it waits for the rig (${s.pause.reason}) and resumes by itself when the rig is back`
            : "it is not paused";
        throw new LiveControlError("conflict", `The session was not resumed: ${why}.`);
      }
      this.control.resume();
    } else {
      this.control.stop();
    }
    return this.state;
  }

  private send(message: LiveMessage): void {
    for (const s of this.subscribers) this.deliver(s, message);
  }

  private deliver(subscriber: LiveSubscriber, message: LiveMessage): void {
    try {
      subscriber(message);
    } catch (err) {
      this.subscribers.delete(subscriber);
      this.options.log?.(`live view: a watcher failed (${err instanceof Error ? err.message : String(err)}); dropped`);
    }
  }
}
