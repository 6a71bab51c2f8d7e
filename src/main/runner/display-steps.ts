/**
 * The runner's display steps: how a presentation's code and picture go out, how its stimulus is waited out, and what
 * the display and the photodiode say about it, stored beside the plan. On a frame-locked display (the stimulus window)
 * the image is loaded first, then the code goes out, then the window shows it from its next frame for whole frames;
 * the session keeps the requested duration and the frames it became. Elsewhere (the virtual display) picture and code
 * go out together and the stimulus lasts the requested time on the clock.
 */
import { performance } from "node:perf_hooks";
import { framesFor, type FrameDuration } from "../../stimulus/index.js";
import type { LightOnsetRecord } from "../rig/photodiode.js";
import type { EventCodeResult, FrameOnset, Rig, StimulusFrame } from "../rig/types.js";
import { DisplayTimingWriter, type SessionDisplayRecord } from "../store/display-timing.js";
import type { SessionStore } from "../store/store.js";
import type { FaultRecord } from "../store/types.js";
import type { Clock } from "./clock.js";

export class DisplaySteps {
  private readonly writer: DisplayTimingWriter;
  private readonly sampleRate: number;
  /** Images being loaded ahead of their presentation, by seq. */
  private readonly preloading = new Map<number, Promise<void>>();

  constructor(
    store: SessionStore,
    sessionId: number,
    private readonly rig: Rig,
    private readonly fault: (f: FaultRecord) => void,
    display?: SessionDisplayRecord,
  ) {
    this.writer = new DisplayTimingWriter(store.db, sessionId);
    if (display !== undefined) this.writer.session(display);
    this.sampleRate = display?.sampleRate ?? 30000;
  }

  /** The whole frames a requested duration becomes on a frame-locked display; undefined elsewhere. */
  timing(stimulusMs: number): FrameDuration | undefined {
    const hz = this.rig.display.refreshHz;
    return hz === undefined ? undefined : framesFor(stimulusMs, hz);
  }

  /** Puts a presentation up and its code out; on a frame-locked display, the image loads before the code goes. */
  async present(frame: StimulusFrame): Promise<{ sent: EventCodeResult; onset?: FrameOnset }> {
    const { display, eventCodes } = this.rig;
    if (display.prepare === undefined) {
      const [, sent] = await Promise.all([display.show(frame), eventCodes.send(frame.code)]);
      return { sent };
    }
    const early = this.preloading.get(frame.seq);
    this.preloading.delete(frame.seq);
    // A preload that failed is tried once more, now, so its error is the one the session reports.
    await (early === undefined ? display.prepare(frame) : early.catch(() => display.prepare!(frame)));
    const sent = await eventCodes.send(frame.code);
    const onset = await display.show(frame);
    return { sent, onset: onset ?? undefined };
  }

  /** Loads the next presentation's image while this one is up, so its code and first frame follow the schedule. */
  preload(frame: StimulusFrame): void {
    const display = this.rig.display;
    if (display.prepare === undefined || this.preloading.has(frame.seq)) return;
    const loading = display.prepare(frame);
    loading.catch(() => {});
    this.preloading.set(frame.seq, loading);
  }

  /** The onset on the controller's clock (ms since `t0`) from the display's epoch time. */
  static controllerMs(onset: FrameOnset, clock: Clock, t0: number): number {
    const epochNow = performance.timeOrigin + performance.now();
    return clock.nowMs() - t0 - (epochNow - onset.epochMs);
  }

  /** Waits out a stimulus: its frames on a frame-locked display (stored, missed ones as faults), else the clock. */
  async finish(
    idx: number,
    requestedMs: number,
    timing: FrameDuration | undefined,
    clock: Clock,
    signal?: AbortSignal,
  ): Promise<void> {
    const display = this.rig.display;
    if (timing === undefined || display.ended === undefined) {
      await clock.sleep(requestedMs, signal);
      return;
    }
    try {
      const shown = await display.ended(idx);
      this.writer.presentation({
        presentationIdx: idx,
        requestedMs,
        framesPlanned: timing.frames,
        frameMs: timing.frameMs,
        onsetFrame: shown.onsetFrame,
        onsetEpochMs: shown.onsetEpochMs,
        offsetEpochMs: shown.offsetEpochMs,
        framesShown: shown.framesShown,
        framesDrawn: shown.framesDrawn,
        framesMissed: shown.framesMissed,
      });
      if (shown.framesMissed > 0 || shown.framesShown !== timing.frames) {
        this.fault({
          code: "frames-dropped",
          message:
            `presentation ${idx} missed ${shown.framesMissed} frame${shown.framesMissed === 1 ? "" : "s"}: ` +
            `planned ${timing.frames} frames of ${timing.frameMs.toFixed(2)} ms, shown for ${shown.framesShown} ` +
            `(${shown.framesDrawn} drawn); its counts are kept, its frames are in the frame log`,
          presentationIdxs: [idx],
        });
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.writer.presentation({
        presentationIdx: idx,
        requestedMs,
        framesPlanned: timing.frames,
        frameMs: timing.frameMs,
        onsetFrame: null,
        onsetEpochMs: null,
        offsetEpochMs: null,
        framesShown: null,
        framesDrawn: null,
        framesMissed: 0,
      });
      const message = `presentation ${idx}: ${why}; how long it stayed up is not known`;
      this.fault({ code: "display-error", message, presentationIdxs: [idx] });
    }
    this.storeFrames();
  }

  /** Stores the frames the display logged since the last call. */
  storeFrames(): void {
    const frames = this.rig.display.takeFrames?.();
    if (frames !== undefined) this.writer.frames(frames);
  }

  /** What the photodiode saw for a presentation: stored; no light at all is a fault on it. */
  light(l: LightOnsetRecord): void {
    this.writer.light(l);
    if (l.lightOnsetSample === null) {
      this.fault({
        code: "light-missing",
        message:
          `presentation ${l.presentationIdx}: the photodiode saw no light between its code's onset ` +
          `(rig sample ${l.codeOnsetSample}) and the next code's; its counts are kept, aligned on the code. ` +
          "Check the photodiode's place on the patch and its line",
        presentationIdxs: [l.presentationIdx],
      });
    } else if ((1000 * (l.lightOnsetSample - l.codeOnsetSample)) / this.sampleRate > 1000) {
      const lateMs = (1000 * (l.lightOnsetSample - l.codeOnsetSample)) / this.sampleRate;
      this.fault({
        code: "light-missing",
        message: `presentation ${l.presentationIdx}: the light came ${lateMs.toFixed(0)} ms after its code`,
        presentationIdxs: [l.presentationIdx],
      });
    }
  }
}
