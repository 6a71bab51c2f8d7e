/**
 * Frame-locked presentation arithmetic shared by the controller and the stimulus window (no Node or DOM imports):
 * durations in whole frames, the refresh rate from frame timestamps, and missed frames from their spacing.
 * As in Psychtoolbox and PsychoPy, a stimulus lasts a whole number of refreshes and every missed one is counted.
 */

/** A requested duration rounded to whole frames of a display. */
export interface FrameDuration {
  requestedMs: number;
  frames: number;
  frameMs: number;
  /** What the display shows: frames × frameMs. */
  durationMs: number;
}

/** The nearest whole number of frames (at least one) to `requestedMs` at `refreshHz`. */
export function framesFor(requestedMs: number, refreshHz: number): FrameDuration {
  if (!(refreshHz > 0) || !Number.isFinite(refreshHz))
    throw new Error(`framesFor: refresh rate must be positive, got ${refreshHz}`);
  if (!(requestedMs > 0)) throw new Error(`framesFor: duration must be positive, got ${requestedMs} ms`);
  const frameMs = 1000 / refreshHz;
  const frames = Math.max(1, Math.round(requestedMs / frameMs));
  return { requestedMs, frames, frameMs, durationMs: frames * frameMs };
}

/** A refresh rate measured from consecutive frame timestamps. */
export interface RefreshMeasurement {
  hz: number;
  periodMs: number;
  /** Intervals used (those within half a period of the median: missed frames left out). */
  intervals: number;
  /** Standard deviation of those intervals, ms. */
  jitterMs: number;
}

/** The median frame interval of a run of timestamps, refined by the mean of the intervals near it. */
export function measureRefresh(timestampsMs: readonly number[]): RefreshMeasurement {
  if (timestampsMs.length < 3)
    throw new Error(`measureRefresh: need at least 3 frame timestamps, got ${timestampsMs.length}`);
  const d: number[] = [];
  for (let i = 1; i < timestampsMs.length; i++) d.push(timestampsMs[i]! - timestampsMs[i - 1]!);
  const sorted = [...d].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  if (!(median > 0)) throw new Error(`measureRefresh: frame timestamps do not increase (median interval ${median} ms)`);
  const near = d.filter((x) => Math.abs(x - median) < median / 2);
  const mean = near.reduce((s, x) => s + x, 0) / near.length;
  const sd = Math.sqrt(near.reduce((s, x) => s + (x - mean) ** 2, 0) / near.length);
  return { hz: 1000 / mean, periodMs: mean, intervals: near.length, jitterMs: sd };
}

/** Refreshes that passed without a frame between two frames `intervalMs` apart (0 when on time). */
export function missedFrames(intervalMs: number, periodMs: number): number {
  return Math.max(0, Math.round(intervalMs / periodMs) - 1);
}

/**
 * Whether the frame at `nowMs` is the first after a stimulus that began at `onsetMs` and lasts `frames` refreshes:
 * the offset is due half a frame before the stimulus's last refresh ends, so a late frame never stretches it.
 */
export function stimulusOver(onsetMs: number, nowMs: number, frames: number, periodMs: number): boolean {
  return nowMs - onsetMs >= (frames - 0.5) * periodMs;
}

/** One refresh as the stimulus window logs it. */
export interface FrameRecord {
  /** The window's frame counter. */
  index: number;
  /** The requestAnimationFrame timestamp, ms since the Unix epoch. */
  rafMs: number;
  /** When the platform reports the frame reached the screen, ms since the Unix epoch; null where it does not. */
  presentedMs: number | null;
  /**
   * When this frame was due: the previous frame's time plus one period (a stimulus's frames: its onset plus k periods).
   */
  expectedMs: number;
  /** Refreshes missed just before this frame. */
  missedBefore: number;
  /** The presentation drawn in this frame (its seq), or null for background. */
  seq: number | null;
  /** Whether the photodiode patch was lit. */
  lit: boolean;
}
