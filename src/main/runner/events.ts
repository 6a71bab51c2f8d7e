/**
 * What a running session tells a watcher (the live view), as it happens. The runner calls the sink synchronously and
 * never waits on it; a sink must only queue (see live/coalesce.ts), and anything it throws is ignored.
 */
import type { FaultCode, PresentationCounts, SessionState } from "../store/types.js";
import type { SessionLinkState } from "./health.js";

export type PausedBy = "operator" | "rig" | "port";

export type RunnerEvent =
  | {
      kind: "started";
      sessionId: number;
      uuid: string;
      name: string;
      total: number;
      /** The protocol's onset cycle (stimulus + inter-stimulus), for an ETA. */
      cycleMs: number;
    }
  /** Presentation `n` of `total` is on screen (idx is its place in the schedule). */
  | { kind: "presented"; n: number; total: number; idx: number; sha256: string }
  /** Counts that became durable in the store, per presentation (with the image it showed). */
  | { kind: "counts"; counts: (PresentationCounts & { sha256: string })[] }
  | { kind: "fault"; code: FaultCode; message: string; presentationIdxs: number[] }
  | { kind: "link"; state: SessionLinkState; message: string }
  | { kind: "paused"; by: PausedBy; reason: string; atPresentation: number }
  | { kind: "resumed"; by: PausedBy }
  | {
      kind: "ended";
      state: SessionState;
      presented: number;
      scheduled: number;
      countsStored: number;
      faults: number;
    };

export type RunnerEventSink = (event: RunnerEvent) => void;

/** Calls the sink, never letting a watcher's error reach the session. */
export function safeSink(sink: RunnerEventSink | undefined): RunnerEventSink {
  if (sink === undefined) return () => {};
  return (event) => {
    try {
      sink(event);
    } catch {
      // A watcher's failure must not cost a presentation.
    }
  };
}
