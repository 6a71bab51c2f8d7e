/**
 * The stimulus window's frame clock, free of the DOM so it is tested in Node: one call per requestAnimationFrame says
 * what that frame shows and logs it. A stimulus starts on the first frame after `show`, lasts its frames (ended on
 * time even after a late frame), and every refresh that passed without a frame is counted against what was up.
 */
import { measureRefresh, missedFrames, stimulusOver, type FrameRecord } from "../../stimulus/frame-timing.js";
import type { Rgb, StimulusReport } from "../../main/api/stimulus-contract.js";

export type Scene =
  | { kind: "background" }
  | { kind: "stimulus"; seq: number; lit: boolean }
  | { kind: "patch"; patchId: number; rgb: Rgb; useLut: boolean; readBack: boolean };

interface Showing {
  seq: number;
  frames: number;
  onsetMs: number;
  onsetFrame: number;
  drawn: number;
  missed: number;
}

export class FramePresenter {
  private index = 0;
  private last: number | null = null;
  private readonly prepared = new Map<number, number>();
  private pendingShow: number | null = null;
  private showing: Showing | null = null;
  private patch: { patchId: number; rgb: Rgb; useLut: boolean; reported: boolean } | null = null;
  private measuring: { want: number; ts: number[] } | null = null;
  private log: FrameRecord[] = [];
  private out: StimulusReport[] = [];

  constructor(
    public periodMs: number,
    public litFirstFrameOnly: boolean,
  ) {}

  /** The image of presentation `seq` is loaded and lasts `frames`. */
  markPrepared(seq: number, frames: number): void {
    this.prepared.set(seq, frames);
    this.out.push({ kind: "prepared", seq, ok: true });
  }

  prepareFailed(seq: number, message: string): void {
    this.out.push({ kind: "prepared", seq, ok: false, message: message.slice(0, 500) });
  }

  /** Show `seq` from the next frame. */
  show(seq: number): void {
    if (!this.prepared.has(seq)) {
      this.out.push({
        kind: "error",
        message: `presentation ${seq} was to be shown before its image was loaded; it was not shown`,
      });
      return;
    }
    this.pendingShow = seq;
    this.patch = null;
  }

  measure(frames: number): void {
    this.measuring = { want: Math.max(2, frames), ts: [] };
  }

  setPatch(patchId: number, rgb: Rgb, useLut: boolean): void {
    this.patch = { patchId, rgb, useLut, reported: false };
  }

  clear(): void {
    this.patch = null;
  }

  /** The pixel a patch frame showed, read back from the drawing buffer. */
  patchShown(patchId: number, shown: Rgb, rafMs: number): void {
    if (this.patch === null || this.patch.patchId !== patchId || this.patch.reported) return;
    this.patch.reported = true;
    this.out.push({ kind: "patch", patchId, shown, rafMs });
  }

  /** One requestAnimationFrame at `rafMs` (ms since the Unix epoch): what to draw. */
  frame(rafMs: number): Scene {
    const missed = this.last === null ? 0 : missedFrames(rafMs - this.last, this.periodMs);
    const expected = this.last === null ? rafMs : this.last + this.periodMs;
    const s = this.showing;
    if (s !== null) {
      s.missed += missed;
      if (stimulusOver(s.onsetMs, rafMs, s.frames, this.periodMs)) {
        this.out.push({
          kind: "ended",
          seq: s.seq,
          onsetFrame: s.onsetFrame,
          onsetMs: s.onsetMs,
          offsetMs: rafMs,
          framesDrawn: s.drawn,
          framesShown: Math.round((rafMs - s.onsetMs) / this.periodMs),
          framesMissed: s.missed,
        });
        this.showing = null;
      }
    }
    if (this.showing === null && this.pendingShow !== null) {
      const seq = this.pendingShow;
      this.pendingShow = null;
      this.showing = {
        seq,
        frames: this.prepared.get(seq)!,
        onsetMs: rafMs,
        onsetFrame: this.index,
        drawn: 0,
        missed: 0,
      };
      this.prepared.delete(seq);
      this.out.push({ kind: "onset", seq, frame: this.index, rafMs });
    }
    this.measureStep(rafMs);
    let scene: Scene;
    const now = this.showing;
    if (now !== null) {
      scene = { kind: "stimulus", seq: now.seq, lit: this.litFirstFrameOnly ? now.drawn === 0 : true };
      now.drawn++;
    } else if (this.patch !== null) {
      scene = {
        kind: "patch",
        patchId: this.patch.patchId,
        rgb: this.patch.rgb,
        useLut: this.patch.useLut,
        readBack: !this.patch.reported,
      };
    } else scene = { kind: "background" };
    this.log.push({
      index: this.index,
      rafMs,
      presentedMs: null,
      expectedMs: expected,
      missedBefore: missed,
      seq: now?.seq ?? null,
      lit: scene.kind === "stimulus" && scene.lit,
    });
    this.last = rafMs;
    this.index++;
    return scene;
  }

  private measureStep(rafMs: number): void {
    const m = this.measuring;
    if (m === null) return;
    m.ts.push(rafMs);
    if (m.ts.length <= m.want) return;
    this.measuring = null;
    try {
      const r = measureRefresh(m.ts);
      this.periodMs = r.periodMs;
      this.out.push({ kind: "refresh", hz: r.hz, periodMs: r.periodMs, jitterMs: r.jitterMs, intervals: r.intervals });
    } catch (err) {
      this.out.push({
        kind: "error",
        message: `the refresh rate could not be measured: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }

  /** Reports to send, with up to `maxFrames` logged frames as one more report. */
  take(maxFrames: number): StimulusReport[] {
    const out = this.out;
    this.out = [];
    if (this.log.length > 0) {
      out.push({ kind: "frames", frames: this.log.slice(0, maxFrames) });
      this.log = this.log.slice(maxFrames);
    }
    return out;
  }

  /** Whether a report is waiting that the controller is blocked on (anything but the frame log). */
  get urgent(): boolean {
    return this.out.length > 0;
  }

  get loggedFrames(): number {
    return this.log.length;
  }
}
