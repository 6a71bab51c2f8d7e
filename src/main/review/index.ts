/**
 * The analyst's view, computed in the controller: one session's responses loaded once and cached
 * (sessions are append-only, so the cache key is how many rows they have), and every view built
 * from it under one counting rule.
 */
import type { SessionStore } from "../store/index.js";
import {
  countingSummary,
  defaultCounting,
  stimulusMeans,
  type CountingRule,
  type CountingSummary,
  type StimulusMeans,
} from "./aggregate.js";
import { unitRaster, type UnitRaster } from "./raster.js";
import { unitReliabilities, type UnitReliability } from "./reliability.js";
import { loadSessionCounts, type SessionCounts } from "./session-counts.js";
import { sweepParameters, tuningCurves, type TuningCurve } from "./tuning.js";

export * from "./aggregate.js";
export * from "./learning-curve.js";
export * from "./raster.js";
export * from "./reliability.js";
export * from "./session-counts.js";
export * from "./tuning.js";
export * from "./tuning-predicted.js";

interface Entry {
  key: string;
  data: SessionCounts;
  derived: Map<string, unknown>;
}

const maxSessionsCached = 8;
const caches = new WeakMap<SessionStore, Map<number, Entry>>();

function rowsKey(store: SessionStore, sessionId: number): string {
  const row = store.db
    .prepare(
      `SELECT (SELECT COUNT(*) FROM presentations WHERE session_id = ?) AS p,
              (SELECT COUNT(*) FROM count_results WHERE session_id = ?) AS r,
              (SELECT COUNT(*) FROM recorded_responses WHERE session_id = ?) AS i`,
    )
    .get(sessionId, sessionId, sessionId) as { p: number; r: number; i: number };
  return `${row.p}:${row.r}:${row.i}`;
}

function entry(store: SessionStore, sessionId: number): Entry {
  let cache = caches.get(store);
  if (cache === undefined) {
    cache = new Map();
    caches.set(store, cache);
  }
  const key = rowsKey(store, sessionId);
  const hit = cache.get(sessionId);
  if (hit !== undefined && hit.key === key) {
    // Most recently used last, so the oldest is the one dropped.
    cache.delete(sessionId);
    cache.set(sessionId, hit);
    return hit;
  }
  const fresh: Entry = { key, data: loadSessionCounts(store, sessionId), derived: new Map() };
  cache.set(sessionId, fresh);
  while (cache.size > maxSessionsCached) cache.delete(cache.keys().next().value as number);
  return fresh;
}

function derived<T>(e: Entry, name: string, make: () => T): T {
  if (!e.derived.has(name)) e.derived.set(name, make());
  return e.derived.get(name) as T;
}

function ruleKey(rule: CountingRule): string {
  return rule.includeIncomplete ? "all" : "complete";
}

/** Cached views of one session for the API handlers and the exports. */
export class SessionReview {
  private readonly e: Entry;

  constructor(
    private readonly store: SessionStore,
    sessionId: number,
  ) {
    this.e = entry(store, sessionId);
  }

  get data(): SessionCounts {
    return this.e.data;
  }

  counting(rule: CountingRule = defaultCounting): CountingSummary {
    return derived(this.e, `counting:${ruleKey(rule)}`, () => countingSummary(this.e.data, rule));
  }

  means(rule: CountingRule = defaultCounting): StimulusMeans[] {
    return derived(this.e, `means:${ruleKey(rule)}`, () => stimulusMeans(this.e.data, rule));
  }

  raster(unitIndex: number, rule: CountingRule = defaultCounting): UnitRaster {
    return derived(this.e, `raster:${unitIndex}:${ruleKey(rule)}`, () => unitRaster(this.e.data, unitIndex, rule));
  }

  reliability(rule: CountingRule = defaultCounting): UnitReliability[] {
    return derived(this.e, `reliability:${ruleKey(rule)}`, () => unitReliabilities(this.e.data, rule));
  }

  tuning(rule: CountingRule = defaultCounting): TuningCurve[] {
    // Designs are stored apart from the session: a sweep designed after the recording still shows its predictions.
    const designs = (this.store.db.prepare("SELECT COUNT(*) AS n FROM tuning_images").get() as { n: number }).n;
    return derived(this.e, `tuning:${ruleKey(rule)}:${designs}`, () => {
      const shas = [...new Set(this.e.data.presentations.map((p) => p.sha256))];
      return tuningCurves(this.e.data, this.store.stimulusInfo(shas), rule, 8, sweepParameters(this.store.db, shas));
    });
  }
}
