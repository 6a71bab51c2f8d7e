/**
 * The operator's hand on a running session (the live view's pause / resume / stop). Pausing takes effect before the
 * next presentation, with everything so far saved; stop ends the session as an interrupt does (state `interrupted`).
 * One control may serve several sessions in turn (a campaign's); stop ends whichever is running.
 */
export type ControlAction = "pause" | "resume" | "stop";

export class OperatorControl {
  private pausedReason: string | undefined;
  private waiters: (() => void)[] = [];
  private abort = new AbortController();

  get paused(): boolean {
    return this.pausedReason !== undefined;
  }

  get reason(): string | undefined {
    return this.pausedReason;
  }

  /** Aborted when the operator stops the session. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  pause(reason = "paused by the operator"): void {
    this.pausedReason ??= reason;
  }

  resume(): void {
    this.pausedReason = undefined;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  stop(): void {
    this.abort.abort(new Error("stopped by the operator"));
    this.resume();
  }

  /** Waits while paused; true to go on, false when the session was stopped or aborted meanwhile. */
  async waitWhilePaused(signal?: AbortSignal): Promise<boolean> {
    while (this.paused) {
      if (signal?.aborted || this.stopped) return false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal?.removeEventListener("abort", done);
          this.waiters = this.waiters.filter((w) => w !== done);
          resolve();
        };
        this.waiters.push(done);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
    return !(signal?.aborted ?? false) && !this.stopped;
  }
}
