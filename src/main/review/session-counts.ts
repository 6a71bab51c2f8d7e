/**
 * One session's responses in one dense array, read once from the store: the input of every mean,
 * plot and export of the analyst's view. Recorded spike counts (integers per bin) and responses
 * imported from other rigs (one float per presentation) both land here.
 */
import type { PresentationStatus, SessionStore } from "../store/index.js";

/** What a presentation's counts are: complete, incomplete (the rig's window was cut short), or none stored. */
export type CountsState = "complete" | "incomplete" | "none";

export interface ReviewUnit {
  id: number;
  electrode: string;
  sortedId: number;
  label: string;
}

export interface ReviewPresentation {
  idx: number;
  block: string;
  sha256: string;
  eventCode: number;
  status: PresentationStatus;
  scheduledMs: number;
  shownMs: number | null;
  durationMs: number;
  onsetSample: number | null;
  counts: CountsState;
}

export interface SessionCounts {
  sessionId: number;
  units: ReviewUnit[];
  presentations: ReviewPresentation[];
  /** Bins per presentation (1 for imported responses). */
  bins: number;
  /** Width of one bin and start of the count window, relative to the onset. */
  binMs: number;
  windowStartMs: number;
  /** `values[(unit * presentations + p) * bins + bin]`; NaN where the unit has no value stored. */
  values: Float64Array;
  /** True when the values are imported float responses, not spike counts. */
  imported: boolean;
}

export function unitLabel(u: { electrode: string; sortedId: number }): string {
  return `${u.electrode}/${u.sortedId}`;
}

export function loadSessionCounts(store: SessionStore, sessionId: number): SessionCounts {
  const session = store.findSession(sessionId);
  if (session === undefined) throw new Error(`loadSessionCounts: no session ${sessionId} in ${store.file}`);
  const units = store.units(sessionId).map((u) => ({ ...u, label: unitLabel(u) }));
  const results = new Map(store.countResults(sessionId).map((r) => [r.presentationIdx, r]));
  const imported = store.recordedResponseRows(sessionId);
  const isImported = imported.length > 0;
  const presentations: ReviewPresentation[] = store.presentations(sessionId).map((p) => {
    const r = results.get(p.idx);
    const counts: CountsState = isImported
      ? "complete"
      : r === undefined
        ? "none"
        : r.complete
          ? "complete"
          : "incomplete";
    return {
      idx: p.idx,
      block: p.block,
      sha256: p.stimulusSha256,
      eventCode: p.eventCode,
      status: p.status,
      scheduledMs: p.scheduledMs,
      shownMs: p.shownMs,
      durationMs: p.durationMs,
      onsetSample: r?.onsetSample ?? null,
      counts,
    };
  });
  const bins = isImported ? 1 : Math.max(1, session.countWindow.bins);
  const nP = presentations.length;
  const values = new Float64Array(units.length * nP * bins).fill(Number.NaN);
  const unitRow = new Map(units.map((u, i) => [u.id, i]));
  const column = new Map(presentations.map((p, j) => [p.idx, j]));
  if (isImported) {
    for (const r of imported) {
      const i = unitRow.get(r.unitId);
      const j = column.get(r.presentationIdx);
      if (i !== undefined && j !== undefined && r.value !== null) values[i * nP + j] = r.value;
    }
  } else {
    for (const c of store.spikeCounts(sessionId)) {
      const i = unitRow.get(c.unitId);
      const j = column.get(c.presentationIdx);
      if (i === undefined || j === undefined || c.bin >= bins) continue;
      values[(i * nP + j) * bins + c.bin] = c.count;
    }
  }
  const { startMs, endMs } = session.countWindow;
  return {
    sessionId,
    units,
    presentations,
    bins,
    binMs: (endMs - startMs) / bins,
    windowStartMs: startMs,
    values,
    imported: isImported,
  };
}

/** The unit's response to presentation `p`: its bins summed; NaN when nothing was stored. */
export function summedResponse(data: SessionCounts, unit: number, p: number): number {
  const base = (unit * data.presentations.length + p) * data.bins;
  let sum = 0;
  for (let b = 0; b < data.bins; b++) {
    const v = data.values[base + b]!;
    if (Number.isNaN(v)) return Number.NaN;
    sum += v;
  }
  return sum;
}
