/**
 * The stimulus window as the runner's Display: frame-locked. Each stimulus is loaded first (`prepare`), shown from the
 * window's next frame for a whole number of frames (`show` resolves with its first frame's time), and reports how its
 * frames went (`ended`); the window logs every frame. In simulation each shown stimulus is also published as a virtual
 * display frame (RIG_PROTOCOL.md section 3) with its flip time, so a simulated rig's photodiode sees it.
 */
import { applyCalibration, type DisplayCalibration } from "../../stimulus/calibration.js";
import type { FrameRecord, RefreshMeasurement } from "../../stimulus/frame-timing.js";
import type { StimulusReport } from "../api/stimulus-contract.js";
import type { Display, DisplayedStimulus, FrameOnset, StimulusFrame } from "../rig/types.js";
import { VirtualDisplay } from "../rig/virtual-display.js";
import type { StimulusWindowHost } from "./window-host.js";

export interface WindowDisplayOptions {
  host: StimulusWindowHost;
  /** The lookup tables the window applies: the simulation frames are what it shows. */
  tables: DisplayCalibration;
  /** Whether the photodiode patch lights only on a stimulus's first frame (else for all its frames). */
  patchFirstFrameOnly: boolean;
  /** Publish each shown stimulus here as a virtual display frame (simulation only). */
  simulationEndpoint?: string;
  /** How long `open` waits for a window to attach. */
  windowTimeoutMs?: number;
  /** Said when no window attaches: where to open one. */
  openHint?: string;
  log?: (line: string) => void;
}

type Report<K extends StimulusReport["kind"]> = Extract<StimulusReport, { kind: K }>;

function isKind<K extends StimulusReport["kind"]>(kind: K, seq?: number): (r: StimulusReport) => r is Report<K> {
  return (r): r is Report<K> => r.kind === kind && (seq === undefined || (r as { seq?: number }).seq === seq);
}

export class WindowDisplay implements Display {
  private measured: RefreshMeasurement | undefined;
  private mirror: VirtualDisplay | undefined;
  private frames: FrameRecord[] = [];
  private readonly endings = new Map<number, Promise<DisplayedStimulus>>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: WindowDisplayOptions) {}

  get refreshHz(): number | undefined {
    return this.measured?.hz;
  }

  get refresh(): RefreshMeasurement | undefined {
    return this.measured;
  }

  /** Times `frames` refreshes of the attached window's background. */
  async measureRefresh(frames = 120): Promise<RefreshMeasurement> {
    const host = this.options.host;
    const reply = host.nextReport(isKind("refresh"), 10_000 + frames * 100, `its refresh rate after ${frames} frames`);
    host.send({ kind: "measure-refresh", frames });
    const r = await reply;
    this.measured = { hz: r.hz, periodMs: r.periodMs, jitterMs: r.jitterMs, intervals: r.intervals };
    return this.measured;
  }

  async open(): Promise<void> {
    const host = this.options.host;
    const hint = this.options.openHint ?? "open the stimulus window.";
    await host.waitForWindow(this.options.windowTimeoutMs ?? 60_000, hint);
    this.unsubscribe ??= host.onReport((r) => {
      if (r.kind === "frames") for (const f of r.frames) this.frames.push(f);
      else if (r.kind === "error") this.options.log?.(`stimulus window: ${r.message}`);
    });
    if (this.measured === undefined) await this.measureRefresh();
    if (this.options.simulationEndpoint !== undefined && this.mirror === undefined) {
      const mirror = new VirtualDisplay({ endpoint: this.options.simulationEndpoint, waitForSubscriberMs: 1000 });
      await mirror.open();
      this.mirror = mirror;
    }
  }

  async prepare(frame: StimulusFrame): Promise<void> {
    if (frame.sha256 === undefined) {
      throw new Error(`WindowDisplay: presentation ${frame.seq} has no image hash; the window loads images by hash`);
    }
    const host = this.options.host;
    const ready = host.nextReport(isKind("prepared", frame.seq), 10_000, `presentation ${frame.seq}'s image as loaded`);
    host.send({ kind: "prepare", seq: frame.seq, sha256: frame.sha256, frames: this.framesOf(frame) });
    const r = await ready;
    if (!r.ok) {
      const why = r.message ?? "no reason given";
      throw new Error(`the stimulus window could not load presentation ${frame.seq}'s image: ${why}`);
    }
  }

  private framesOf(frame: StimulusFrame): number {
    if (frame.frames !== undefined) return frame.frames;
    const period = this.measured?.periodMs ?? 1000 / 60;
    return Math.max(1, Math.round(frame.durationMs / period));
  }

  async show(frame: StimulusFrame): Promise<FrameOnset> {
    const host = this.options.host;
    const frames = this.framesOf(frame);
    const periodMs = this.measured?.periodMs ?? 1000 / 60;
    const onset = host.nextReport(isKind("onset", frame.seq), 2000, `presentation ${frame.seq}'s first frame`);
    // Waited for from now: the window may end the stimulus before the runner asks.
    const endWithinMs = frames * periodMs * 3 + 3000;
    const ended = host.nextReport(isKind("ended", frame.seq), endWithinMs, `the end of presentation ${frame.seq}`);
    ended.catch(() => {});
    this.endings.set(
      frame.seq,
      ended.then((r) => ({
        onsetFrame: r.onsetFrame,
        onsetEpochMs: r.onsetMs,
        offsetEpochMs: r.offsetMs,
        framesDrawn: r.framesDrawn,
        framesShown: r.framesShown,
        framesMissed: r.framesMissed,
      })),
    );
    host.send({ kind: "show", seq: frame.seq });
    const first = await onset;
    if (this.mirror !== undefined) {
      const shown = applyCalibration(frame.image, this.options.tables);
      const patchMs = this.options.patchFirstFrameOnly ? periodMs : frames * periodMs;
      const header = { flip_epoch_ms: first.rafMs, patch_ms: patchMs };
      await this.mirror.show({ ...frame, durationMs: frames * periodMs, image: shown }, header);
    }
    return { epochMs: first.rafMs, frame: first.frame };
  }

  ended(seq: number): Promise<DisplayedStimulus> {
    const e = this.endings.get(seq);
    if (e === undefined) return Promise.reject(new Error(`WindowDisplay: presentation ${seq} was never shown`));
    this.endings.delete(seq);
    return e;
  }

  takeFrames(): FrameRecord[] {
    const out = this.frames;
    this.frames = [];
    return out;
  }

  /** Publishes a calibration patch the window showed (`shown`: the pixel it read back) for a simulated photometer. */
  async publishPatch(patchId: number, shown: [number, number, number]): Promise<void> {
    if (this.mirror === undefined) return;
    const side = 16;
    const pixels0to255 = new Uint8Array(side * side * 3);
    for (let i = 0; i < side * side; i++) pixels0to255.set(shown, i * 3);
    const image = { width: side, height: side, pixels0to255 };
    await this.mirror.show({ seq: patchId, code: 0, durationMs: 0, image });
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.mirror?.close();
    this.mirror = undefined;
  }
}
