/**
 * Presentation onsets on an absolute schedule: onset k is due at anchor + fixation + k × cycle
 * (cycle = stimulus + inter-stimulus interval), so the time a presentation's show, codes and clear
 * take does not add up over a session (relative sleeps made a 150 ms cycle run at 161 ms). An
 * onset up to one cycle late is caught up by the intervals after it; later than that (a pause, a
 * stalled display) the schedule starts again from now rather than show images back to back.
 */
import type { Clock } from "./clock.js";

export interface OnsetTimelineOptions {
  fixationMs: number;
  stimulusMs: number;
  interStimulusMs: number;
}

export class OnsetTimeline {
  private anchorMs: number;
  private k = 0;
  /** How often the schedule started again because it was more than a cycle behind. */
  reanchors = 0;

  /** `t0` is the session's zero on `clock` (scheduled and shown times are stored relative to it). */
  constructor(
    private readonly clock: Clock,
    private readonly t0: number,
    private readonly options: OnsetTimelineOptions,
  ) {
    this.anchorMs = clock.nowMs() - t0 + options.fixationMs;
  }

  get cycleMs(): number {
    return this.options.stimulusMs + this.options.interStimulusMs;
  }

  /** The schedule starts again: the next onset is a fixation from now (after a pause). */
  restart(): void {
    this.anchorMs = this.clock.nowMs() - this.t0 + this.options.fixationMs;
    this.k = 0;
  }

  /** Sleeps until the next onset is due and returns when it was due (ms from t0); early on abort. */
  async next(signal?: AbortSignal): Promise<number> {
    let due = this.anchorMs + this.k * this.cycleMs;
    const now = this.clock.nowMs() - this.t0;
    if (now - due > this.cycleMs) {
      // More than a cycle behind: catching up would flash images back to back. Start again from now.
      this.reanchors++;
      this.anchorMs = now;
      this.k = 0;
      due = now;
    }
    this.k++;
    const wait = due - (this.clock.nowMs() - this.t0);
    if (wait > 0) await this.clock.sleep(wait, signal);
    return due;
  }
}
