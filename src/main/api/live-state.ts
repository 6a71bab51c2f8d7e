/**
 * The live view's state and the pure reducer that folds pushed events into it. The controller keeps one (so a page
 * that attaches late gets everything so far as a snapshot) and each page keeps its own from the batches; both run
 * this code. Spike counts are summed over the count window's bins; means count complete counts only, as `show` does.
 */
import type { LiveEvent, ProposalEvent, RetrainedEvent } from "./live-contract.js";
import type { PausedBy, RunnerEvent } from "../runner/events.js";
import type { SessionLinkState } from "../runner/health.js";
import type { SessionState } from "../store/types.js";

export interface LiveUnit {
  /** `electrode#sortedId`, as the session list names units. */
  key: string;
  /** Presentations with complete counts, and the sum and sum of squares of their counts (all bins). */
  n: number;
  sum: number;
  sumSq: number;
}

/** Per image, per unit (in `units` order): complete presentations, count sum and sum of squares. */
export interface LiveImageStats {
  n: number[];
  sum: number[];
  sumSq: number[];
}

export interface LiveRecentRow {
  idx: number;
  complete: boolean;
  /** Per unit in `units` order; null where the unit had no counts for it. */
  counts: (number | null)[];
}

export interface LiveFault {
  code: string;
  message: string;
  presentationIdxs: number[];
}

export interface LiveTraining {
  label: string;
  afterSession: number;
  maxCycles: number;
  points: { cycle: number; loss: number; validationLoss: number | null; validation: number | null }[];
}

export interface LiveState {
  session: { id: number; uuid: string; name: string; total: number; cycleMs: number } | null;
  phase: "idle" | "running" | "paused" | "ended";
  pause: { by: PausedBy; reason: string; atPresentation: number } | null;
  ended: { state: SessionState; presented: number; scheduled: number; countsStored: number; faults: number } | null;
  link: { state: SessionLinkState; message: string } | null;
  progress: { n: number; total: number; idx: number; sha256: string } | null;
  units: LiveUnit[];
  images: Record<string, LiveImageStats>;
  /** The newest presentations with counts (a raster), oldest first. */
  recent: LiveRecentRow[];
  /** Presentations whose counts are stored: all, and complete ones. */
  committed: number;
  complete: number;
  /** The newest faults (oldest first), and how many there were in all. */
  faults: LiveFault[];
  faultCount: number;
  training: LiveTraining | null;
  retrained: RetrainedEvent[];
  proposal: ProposalEvent["proposal"] | null;
}

export const liveRecentRows = 40;
export const liveFaultRows = 100;

export function emptyLiveState(): LiveState {
  return {
    session: null,
    phase: "idle",
    pause: null,
    ended: null,
    link: null,
    progress: null,
    units: [],
    images: {},
    recent: [],
    committed: 0,
    complete: 0,
    faults: [],
    faultCount: 0,
    training: null,
    retrained: [],
    proposal: null,
  };
}

/** Presentations still to show × the protocol's cycle; null before a session starts or once it ended. */
export function liveEtaMs(state: LiveState): number | null {
  if (state.session === null || state.phase === "ended" || state.phase === "idle") return null;
  const done = state.progress?.n ?? 0;
  return Math.max(0, state.session.total - done) * state.session.cycleMs;
}

/** What this batch already copied (copy on first write, then change in place: a batch costs its size, not more). */
interface Fresh {
  units: Set<number>;
  images: Set<string>;
}

function addCounts(s: LiveState, event: Extract<RunnerEvent, { kind: "counts" }>, fresh: Fresh): void {
  const index = new Map(s.units.map((u, i) => [u.key, i]));
  for (const c of event.counts) {
    s.committed++;
    if (c.complete) s.complete++;
    const row: (number | null)[] = s.units.map(() => null);
    for (const u of c.units) {
      const key = `${u.unit.electrode}#${u.unit.sortedId}`;
      let i = index.get(key);
      if (i === undefined) {
        i = s.units.length;
        index.set(key, i);
        s.units.push({ key, n: 0, sum: 0, sumSq: 0 });
        row.push(null);
      }
      let total = 0;
      for (const b of u.bins) total += b;
      row[i] = total;
    }
    s.recent.push({ idx: c.presentationIdx, complete: c.complete, counts: row });
    if (!c.complete) continue;
    const sha = c.sha256;
    if (!fresh.images.has(sha)) {
      const prev = s.images[sha];
      s.images[sha] =
        prev === undefined
          ? { n: [], sum: [], sumSq: [] }
          : { n: [...prev.n], sum: [...prev.sum], sumSq: [...prev.sumSq] };
      fresh.images.add(sha);
    }
    const img: LiveImageStats = s.images[sha]!;
    row.forEach((v, i) => {
      if (v === null) return;
      if (!fresh.units.has(i)) {
        s.units[i] = { ...s.units[i]! };
        fresh.units.add(i);
      }
      const u = s.units[i]!;
      u.n++;
      u.sum += v;
      u.sumSq += v * v;
      img.n[i] = (img.n[i] ?? 0) + 1;
      img.sum[i] = (img.sum[i] ?? 0) + v;
      img.sumSq[i] = (img.sumSq[i] ?? 0) + v * v;
    });
  }
  if (s.recent.length > liveRecentRows) s.recent = s.recent.slice(-liveRecentRows);
}

/** Folds a batch of events into the state; returns a new state (the old one is not changed). */
export function reduceLive(state: LiveState, events: readonly LiveEvent[]): LiveState {
  if (events.length === 0) return state;
  const s: LiveState = {
    ...state,
    units: [...state.units],
    images: { ...state.images },
    recent: [...state.recent],
    faults: [...state.faults],
    retrained: [...state.retrained],
  };
  const fresh: Fresh = { units: new Set(), images: new Set() };
  for (const e of events) {
    switch (e.kind) {
      case "started":
        Object.assign(s, {
          ...emptyLiveState(),
          training: s.training,
          retrained: s.retrained,
          proposal: s.proposal,
          link: s.link,
        });
        s.session = { id: e.sessionId, uuid: e.uuid, name: e.name, total: e.total, cycleMs: e.cycleMs };
        fresh.units.clear();
        fresh.images.clear();
        s.phase = "running";
        break;
      case "presented":
        s.progress = { n: e.n, total: e.total, idx: e.idx, sha256: e.sha256 };
        break;
      case "counts":
        addCounts(s, e, fresh);
        break;
      case "fault":
        s.faultCount++;
        s.faults.push({ code: e.code, message: e.message, presentationIdxs: e.presentationIdxs });
        if (s.faults.length > liveFaultRows) s.faults = s.faults.slice(-liveFaultRows);
        break;
      case "link":
        s.link = { state: e.state, message: e.message };
        break;
      case "paused":
        s.phase = "paused";
        s.pause = { by: e.by, reason: e.reason, atPresentation: e.atPresentation };
        break;
      case "resumed":
        s.phase = "running";
        s.pause = null;
        break;
      case "ended":
        s.phase = "ended";
        s.pause = null;
        s.ended = {
          state: e.state,
          presented: e.presented,
          scheduled: e.scheduled,
          countsStored: e.countsStored,
          faults: e.faults,
        };
        break;
      case "training": {
        const same = s.training !== null && s.training.label === e.label && s.training.afterSession === e.afterSession;
        const points = same ? [...s.training!.points] : [];
        points.push({ cycle: e.cycle, loss: e.loss, validationLoss: e.validationLoss, validation: e.validation });
        s.training = { label: e.label, afterSession: e.afterSession, maxCycles: e.maxCycles, points };
        break;
      }
      case "retrained":
        s.retrained.push(e);
        break;
      case "proposal":
        s.proposal = e.proposal;
        break;
    }
  }
  return s;
}

export interface UnitResponsiveness {
  key: string;
  n: number;
  mean: number;
  /** How much the image changes the count: one-way ANOVA F over images (null without repeats to compare). */
  f: number | null;
  dfImages: number;
  dfWithin: number;
}

/** Each unit so far: its mean count and whether the images drive it differently (F of image means). */
export function unitResponsiveness(state: LiveState): UnitResponsiveness[] {
  const images = Object.values(state.images);
  return state.units.map((u, i) => {
    let k = 0;
    let between = 0;
    let within = 0;
    const grand = u.n > 0 ? u.sum / u.n : 0;
    for (const img of images) {
      const n = img.n[i] ?? 0;
      if (n === 0) continue;
      k++;
      const mean = img.sum[i]! / n;
      between += n * (mean - grand) ** 2;
      within += img.sumSq[i]! - n * mean * mean;
    }
    const dfImages = k - 1;
    const dfWithin = u.n - k;
    let f: number | null = null;
    if (dfImages > 0 && dfWithin > 0) {
      const msWithin = within / dfWithin;
      f = msWithin > 0 ? between / dfImages / msWithin : null;
    }
    return { key: u.key, n: u.n, mean: grand, f, dfImages, dfWithin };
  });
}
