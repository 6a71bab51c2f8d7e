/**
 * The review's predicted responses: which model version predicts a session (asked for, or the newest deep ensemble
 * that lists it and has what predicting needs), and its predictions, computed on request (seconds) and kept in
 * memory per session, version and number of stimuli (sessions are append-only; versions never change).
 */
import type { SessionStore } from "../store/index.js";
import { unitLabel } from "../review/index.js";
import { isEnsembleKind, PredictError, predictableVersion } from "../jobs/predict-core.js";
import { predictStoredStimuli, sessionStimuli } from "../jobs/predict-stored.js";
import type { PredictedResponses, PredictionVersion } from "./contract.js";

type Computed =
  | { available: true; reply: Extract<PredictedResponses, { available: true }> }
  | { available: false; reason: PredictError };

/** Most predictions kept per store; the oldest asked for goes first. */
const cacheSize = 8;
const caches = new WeakMap<SessionStore, Map<string, Promise<Computed>>>();

function cacheOf(store: SessionStore): Map<string, Promise<Computed>> {
  let cache = caches.get(store);
  if (cache === undefined) caches.set(store, (cache = new Map()));
  return cache;
}

function versionOf(store: SessionStore, id: number): PredictionVersion | undefined {
  const row = store.listModelVersions().find((m) => m.id === id);
  return row === undefined ? undefined : { id: row.id, name: row.name };
}

/** Deep ensembles that list the session, newest first. */
export function predictionCandidates(store: SessionStore, sessionId: number): PredictionVersion[] {
  return store
    .listModelVersions()
    .filter((m) => isEnsembleKind(m.kind) && m.sessionIds.includes(sessionId))
    .map((m) => ({ id: m.id, name: m.name }))
    .reverse();
}

/** The newest candidate that has weights and a recorded front end; else the newest, which will say why not. */
function defaultVersion(store: SessionStore, candidates: readonly PredictionVersion[]): PredictionVersion | undefined {
  for (const c of candidates) {
    try {
      predictableVersion(store, c.id);
      return c;
    } catch (err) {
      if (!(err instanceof PredictError)) throw err;
    }
  }
  return candidates[0];
}

async function compute(
  store: SessionStore,
  sessionId: number,
  version: PredictionVersion,
  stimuli: string[],
  candidates: PredictionVersion[],
): Promise<Computed> {
  const t0 = performance.now();
  try {
    const p = await predictStoredStimuli(store, { modelVersionId: version.id, sessionId, stimuli });
    return {
      available: true,
      reply: {
        available: true,
        session: sessionId,
        candidates,
        modelVersion: version,
        readout: p.readoutKey,
        scale: p.scale,
        frontEnd: p.frontEnd,
        units: store.units(sessionId).map((u) => ({ ...u, label: unitLabel(u) })),
        stimuli: p.stimuli,
        predictions: p.byUnit,
        seconds: (performance.now() - t0) / 1000,
        cached: false,
      },
    };
  } catch (err) {
    if (err instanceof PredictError) return { available: false, reason: err };
    throw err;
  }
}

/**
 * The predictions of `model` (or the default version) for the session's stimuli, or why there are none. A version
 * that does not exist is the caller's mistake: `undefined` (the handler answers not-found).
 */
export async function predictedResponses(
  store: SessionStore,
  sessionId: number,
  model: number | undefined,
): Promise<PredictedResponses | undefined> {
  const candidates = predictionCandidates(store, sessionId);
  const version = model === undefined ? defaultVersion(store, candidates) : versionOf(store, model);
  if (version === undefined) {
    if (model !== undefined) return undefined;
    return {
      available: false,
      session: sessionId,
      candidates,
      modelVersion: null,
      reason: "no-model",
      message:
        `No deep-ensemble model version lists session ${sessionId}; train one on it (cortexloop retrain, or a ` +
        `campaign) or fit its readout on a lab model (cortexloop readout).`,
    };
  }
  const stimuli = sessionStimuli(store, sessionId);
  const key = `${sessionId}:${version.id}:${stimuli.length}`;
  const cache = cacheOf(store);
  let entry = cache.get(key);
  const cached = entry !== undefined;
  if (entry === undefined) {
    entry = compute(store, sessionId, version, stimuli, candidates);
    // An unexpected failure is not kept: the next request tries again.
    entry.catch(() => cache.delete(key));
  }
  cache.delete(key);
  cache.set(key, entry);
  while (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
  const computed = await entry;
  if (computed.available) return { ...computed.reply, candidates, cached };
  return {
    available: false,
    session: sessionId,
    candidates,
    modelVersion: version,
    reason: computed.reason.refusal,
    message: computed.reason.detail,
  };
}
