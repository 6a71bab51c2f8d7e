/**
 * The controller's end of the stimulus window: one attached window at a time, a queue of commands it long-polls for,
 * and the reports it sends back, awaited by whoever asked. Transport-free: the contract's stimulus channels call it,
 * whether they arrived over Electron IPC or the local web API.
 */
import { randomBytes } from "node:crypto";
import type { StimulusCommand, StimulusReport, StimulusWindowConfig } from "../api/stimulus-contract.js";

/** A stimulus channel call the host refuses; the handlers turn `code` into the contract's error code. */
export class WindowHostError extends Error {
  constructor(
    readonly code: "not-found" | "conflict",
    message: string,
  ) {
    super(message);
    this.name = "WindowHostError";
  }
}

/** What the window said about itself when it attached. */
export interface AttachedWindow {
  windowId: string;
  screen: { widthPx: number; heightPx: number; devicePixelRatio: number };
  userAgent: string;
  attachedAtMs: number;
}

type CommandBody = StimulusCommand extends infer C ? (C extends { id: number } ? Omit<C, "id"> : never) : never;

interface ReportWaiter {
  match: (r: StimulusReport) => boolean;
  resolve: (r: StimulusReport) => void;
}

export class StimulusWindowHost {
  private window: AttachedWindow | undefined;
  private config: Omit<StimulusWindowConfig, "windowId">;
  private queue: StimulusCommand[] = [];
  private nextId = 1;
  private pollers: (() => void)[] = [];
  private attachWaiters: ((w: AttachedWindow) => void)[] = [];
  private waiters: ReportWaiter[] = [];
  private readonly listeners = new Set<(r: StimulusReport) => void>();
  private closed = false;

  constructor(config: Omit<StimulusWindowConfig, "windowId">) {
    this.config = config;
  }

  get attached(): AttachedWindow | undefined {
    return this.window;
  }

  get currentConfig(): Omit<StimulusWindowConfig, "windowId"> {
    return this.config;
  }

  /** A window opened the stimulus page: it replaces any window before it, which is told to close. */
  attach(request: { screen: AttachedWindow["screen"]; userAgent: string }): StimulusWindowConfig {
    if (this.closed) {
      throw new WindowHostError("conflict", "The session this stimulus window was for has ended; close the window.");
    }
    const previous = this.window;
    const windowId = randomBytes(12).toString("hex");
    this.window = { windowId, screen: request.screen, userAgent: request.userAgent, attachedAtMs: Date.now() };
    // Commands queued for the old window are not the new one's: it starts from the current configuration.
    this.queue = [];
    this.wakePollers();
    if (previous !== undefined) this.waiters = [];
    for (const w of this.attachWaiters.splice(0)) w(this.window);
    return { windowId, ...this.config };
  }

  /** Resolves with the attached window, or rejects after `timeoutMs` saying what to open. */
  waitForWindow(timeoutMs: number, what: string, signal?: AbortSignal): Promise<AttachedWindow> {
    if (this.window !== undefined) return Promise.resolve(this.window);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.attachWaiters = this.attachWaiters.filter((w) => w !== done);
        reject(new Error(`No stimulus window opened within ${Math.round(timeoutMs / 1000)} s; ${what}`));
      }, timeoutMs);
      const done = (w: AttachedWindow): void => {
        clearTimeout(timer);
        resolve(w);
      };
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new Error("stopped while waiting for the stimulus window"));
      });
      this.attachWaiters.push(done);
    });
  }

  private check(windowId: string): void {
    if (this.window === undefined || this.window.windowId !== windowId) {
      throw new WindowHostError(
        "not-found",
        "This stimulus window is not the one the controller uses (another window attached, or the session " +
          "ended); close it.",
      );
    }
  }

  /** Commands after `after` for window `windowId`, waiting up to `waitMs` for one to come. */
  async commands(windowId: string, after: number, waitMs = 0): Promise<StimulusCommand[]> {
    this.check(windowId);
    const pending = (): StimulusCommand[] => this.queue.filter((c) => c.id > after);
    let out = pending();
    if (out.length > 0 || waitMs <= 0) return this.trim(after, out);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.pollers = this.pollers.filter((p) => p !== wake);
        resolve();
      }, waitMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.pollers.push(wake);
    });
    if (this.window?.windowId !== windowId) {
      return [{ id: this.nextId, kind: "close", reason: "another stimulus window took this one's place" }];
    }
    out = pending();
    return this.trim(after, out);
  }

  /** Commands the window has acknowledged (by asking for later ones) are dropped. */
  private trim(after: number, out: StimulusCommand[]): StimulusCommand[] {
    this.queue = this.queue.filter((c) => c.id > after);
    return out;
  }

  private wakePollers(): void {
    for (const p of this.pollers.splice(0)) p();
  }

  /** Queues a command for the attached window; returns its id. */
  send(body: CommandBody): number {
    const id = this.nextId++;
    if (body.kind === "config") this.config = { ...body.config };
    this.queue.push({ id, ...body } as StimulusCommand);
    this.wakePollers();
    return id;
  }

  /** Changes what the window draws with (e.g. the lookup tables during calibration). */
  configure(change: Partial<Omit<StimulusWindowConfig, "windowId">>): void {
    const config = { ...this.config, ...change };
    this.send({ kind: "config", config: { windowId: this.window?.windowId ?? "", ...config } });
  }

  report(windowId: string, reports: readonly StimulusReport[]): number {
    this.check(windowId);
    for (const r of reports) {
      for (const l of this.listeners) l(r);
      const i = this.waiters.findIndex((w) => w.match(r));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(r);
    }
    return reports.length;
  }

  /** Every report, as it arrives (the frame log); returns the unsubscribe function. */
  onReport(listener: (r: StimulusReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next report that `match` accepts, or an error after `timeoutMs` that says `what` did not happen. */
  nextReport<R extends StimulusReport>(
    match: (r: StimulusReport) => r is R,
    timeoutMs: number,
    what: string,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiter: ReportWaiter = {
        match,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as R);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`the stimulus window did not report ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Tells the window the controller is done, and refuses later calls. */
  close(reason: string): void {
    if (this.window !== undefined) this.send({ kind: "close", reason });
    this.closed = true;
  }
}
