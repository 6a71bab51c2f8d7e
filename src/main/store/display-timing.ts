/**
 * What the stimulus display did in a session, stored beside what was planned (migration 5): the display it ran on,
 * each presentation's frames (planned, shown, missed), the window's log of every frame, and the photodiode's light
 * onsets. Append-only like the rest of a session; each write is one small transaction.
 */
import type Database from "better-sqlite3";
import type { FrameRecord } from "../../stimulus/frame-timing.js";
import type { LightOnsetRecord } from "../rig/photodiode.js";

export interface SessionDisplayRecord {
  kind: "window" | "virtual" | "none";
  /** The acquisition's sample rate: light onsets are rig samples. */
  sampleRate: number;
  refreshHzExpected: number | null;
  refreshHzMeasured: number | null;
  /** Screen, calibration (date, photometer), pre-flight problems and the experimenter's decision. */
  detail: Record<string, unknown>;
}

export interface PresentationFramesRecord {
  presentationIdx: number;
  requestedMs: number;
  framesPlanned: number;
  frameMs: number;
  onsetFrame: number | null;
  /** requestAnimationFrame time of the first frame, ms since the Unix epoch. */
  onsetEpochMs: number | null;
  /** Time of the first frame after it (background again). */
  offsetEpochMs: number | null;
  /** Refreshes between onset and offset frames. */
  framesShown: number | null;
  /** Frames the window drew with the stimulus. */
  framesDrawn: number | null;
  framesMissed: number;
}

/** Writes one session's display records. */
export class DisplayTimingWriter {
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    readonly sessionId: number,
  ) {
    this.stmts = {
      session: db.prepare(
        `INSERT INTO session_displays (session_id, kind, sample_rate, refresh_hz_expected, refresh_hz_measured,
        detail_json)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      presentation: db.prepare(
        `INSERT INTO presentation_frames (session_id, presentation_idx, requested_ms, frames_planned, frame_ms,
        onset_frame,
           onset_epoch_ms, offset_epoch_ms, frames_shown, frames_drawn, frames_missed) VALUES (?, ?, ?, ?, ?, ?, ?, ?,
           ?, ?, ?)`,
      ),
      frame: db.prepare(
        `INSERT OR IGNORE INTO display_frames (session_id, frame_index, presentation_idx, raf_epoch_ms,
        presented_epoch_ms,
           expected_epoch_ms, missed_before, lit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      light: db.prepare(
        `INSERT OR IGNORE INTO light_onsets (session_id, presentation_idx, code_onset_sample, light_onset_sample,
           light_offset_sample) VALUES (?, ?, ?, ?, ?)`,
      ),
    };
  }

  session(d: SessionDisplayRecord): void {
    this.stmts.session.run(
      this.sessionId,
      d.kind,
      d.sampleRate,
      d.refreshHzExpected,
      d.refreshHzMeasured,
      JSON.stringify(d.detail),
    );
  }

  presentation(p: PresentationFramesRecord): void {
    this.stmts.presentation.run(
      this.sessionId,
      p.presentationIdx,
      p.requestedMs,
      p.framesPlanned,
      p.frameMs,
      p.onsetFrame,
      p.onsetEpochMs,
      p.offsetEpochMs,
      p.framesShown,
      p.framesDrawn,
      p.framesMissed,
    );
  }

  /**
   * Frames of the window's log; `presentationIdxOf` maps a frame's seq to the presentation (they are the same here).
   */
  frames(frames: readonly FrameRecord[]): void {
    if (frames.length === 0) return;
    this.db.transaction(() => {
      for (const f of frames) {
        this.stmts.frame.run(
          this.sessionId,
          f.index,
          f.seq,
          f.rafMs,
          f.presentedMs,
          f.expectedMs,
          f.missedBefore,
          f.lit ? 1 : 0,
        );
      }
    })();
  }

  light(l: LightOnsetRecord): void {
    this.stmts.light.run(this.sessionId, l.presentationIdx, l.codeOnsetSample, l.lightOnsetSample, l.lightOffsetSample);
  }
}

export function sessionDisplay(db: Database.Database, sessionId: number): SessionDisplayRecord | undefined {
  const row = db
    .prepare(
      `SELECT kind, sample_rate AS sampleRate, refresh_hz_expected AS refreshHzExpected, refresh_hz_measured AS
      refreshHzMeasured,
         detail_json FROM session_displays WHERE session_id = ?`,
    )
    .get(sessionId) as (Omit<SessionDisplayRecord, "detail"> & { detail_json: string }) | undefined;
  if (row === undefined) return undefined;
  const { detail_json, ...rest } = row;
  return { ...rest, detail: JSON.parse(detail_json) as Record<string, unknown> };
}

export function presentationFrames(db: Database.Database, sessionId: number): PresentationFramesRecord[] {
  return db
    .prepare(
      `SELECT presentation_idx AS presentationIdx, requested_ms AS requestedMs, frames_planned AS framesPlanned,
      frame_ms AS frameMs,
         onset_frame AS onsetFrame, onset_epoch_ms AS onsetEpochMs, offset_epoch_ms AS offsetEpochMs, frames_shown AS
         framesShown,
         frames_drawn AS framesDrawn, frames_missed AS framesMissed
       FROM presentation_frames WHERE session_id = ? ORDER BY presentation_idx`,
    )
    .all(sessionId) as PresentationFramesRecord[];
}

export function frameLog(db: Database.Database, sessionId: number): FrameRecord[] {
  const rows = db
    .prepare(
      `SELECT frame_index AS "index", raf_epoch_ms AS rafMs, presented_epoch_ms AS presentedMs, expected_epoch_ms AS
      expectedMs,
         missed_before AS missedBefore, presentation_idx AS seq, lit FROM display_frames WHERE session_id = ? ORDER BY
         frame_index`,
    )
    .all(sessionId) as (Omit<FrameRecord, "lit"> & { lit: number })[];
  return rows.map((r) => ({ ...r, lit: r.lit === 1 }));
}

export function lightOnsets(db: Database.Database, sessionId: number): LightOnsetRecord[] {
  return db
    .prepare(
      `SELECT presentation_idx AS presentationIdx, code_onset_sample AS codeOnsetSample, light_onset_sample AS
      lightOnsetSample,
         light_offset_sample AS lightOffsetSample FROM light_onsets WHERE session_id = ? ORDER BY presentation_idx`,
    )
    .all(sessionId) as LightOnsetRecord[];
}

/** A session's display timing in figures (what `cortexloop show` prints). */
export interface DisplayTimingSummary {
  kind: string;
  refreshHzExpected: number | null;
  refreshHzMeasured: number | null;
  /** Refreshes the frame log covers (frames drawn plus frames missed). */
  refreshes: number;
  framesMissed: number;
  droppedPer1000: number;
  presentationsWithMissedFrames: number;
  /** Presentations whose shown frames differ from the planned ones. */
  presentationsOffByFrames: number;
  light: {
    presentations: number;
    withLight: number;
    withoutLight: number;
    /** Code onset to light onset, ms. */
    latencyP50Ms: number | null;
    latencyP99Ms: number | null;
    latencyMeanMs: number | null;
    latencySdMs: number | null;
  };
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function displayTimingSummary(db: Database.Database, sessionId: number): DisplayTimingSummary | undefined {
  const display = sessionDisplay(db, sessionId);
  if (display === undefined) return undefined;
  const frames = frameLog(db, sessionId);
  const missed = frames.reduce((s, f) => s + f.missedBefore, 0);
  const refreshes = frames.length + missed;
  const perPresentation = presentationFrames(db, sessionId);
  const lights = lightOnsets(db, sessionId);
  const latencies = lights
    .filter((l) => l.lightOnsetSample !== null)
    .map((l) => ((l.lightOnsetSample! - l.codeOnsetSample) * 1000) / display.sampleRate)
    .sort((a, b) => a - b);
  const mean = latencies.length === 0 ? null : latencies.reduce((s, x) => s + x, 0) / latencies.length;
  const sd = mean === null ? null : Math.sqrt(latencies.reduce((s, x) => s + (x - mean) ** 2, 0) / latencies.length);
  return {
    kind: display.kind,
    refreshHzExpected: display.refreshHzExpected,
    refreshHzMeasured: display.refreshHzMeasured,
    refreshes,
    framesMissed: missed,
    droppedPer1000: refreshes === 0 ? 0 : (1000 * missed) / refreshes,
    presentationsWithMissedFrames: perPresentation.filter((p) => p.framesMissed > 0).length,
    presentationsOffByFrames: perPresentation.filter((p) => p.framesShown !== null && p.framesShown !== p.framesPlanned)
      .length,
    light: {
      presentations: lights.length,
      withLight: latencies.length,
      withoutLight: lights.length - latencies.length,
      latencyP50Ms: quantile(latencies, 0.5),
      latencyP99Ms: quantile(latencies, 0.99),
      latencyMeanMs: mean,
      latencySdMs: sd,
    },
  };
}

/** The summary as lines a person reads. */
export function describeDisplayTiming(s: DisplayTimingSummary): string[] {
  const f = (x: number | null, d = 1): string => (x === null ? "n/a" : x.toFixed(d));
  const lines = [
    `display ${s.kind}: refresh expected ${f(s.refreshHzExpected, 2)} Hz, measured ${f(s.refreshHzMeasured, 2)} Hz`,
  ];
  if (s.refreshes > 0) {
    lines.push(
      `frames: ${s.refreshes} refreshes logged, ${s.framesMissed} missed (${s.droppedPer1000.toFixed(2)} per 1,000); ` +
        (`${s.presentationsWithMissedFrames} presentations touched, ${s.presentationsOffByFrames} shown for other ` +
          `than the planned frames`),
    );
  }
  if (s.light.presentations > 0) {
    lines.push(
      `photodiode: light seen for ${s.light.withLight} of ${s.light.presentations} presentations (` +
        `${s.light.withoutLight} without); ` +
        `code-to-light latency p50 ${f(s.light.latencyP50Ms, 2)} ms, p99 ${f(s.light.latencyP99Ms, 2)} ms, ` +
        `mean ${f(s.light.latencyMeanMs, 2)} ms, SD (jitter) ${f(s.light.latencySdMs, 2)} ms`,
    );
  }
  return lines;
}
