/**
 * The review's causal panel: a session's causal images with their provenance (stored by `cortexloop design causal`),
 * each with the recorded unit's mean response to it, and the causal analysis of `cortexloop analyze causal` (the
 * statistics are analyze.ts's, only NaN becomes null for JSON). The permutation tests take seconds for a full design
 * (16 units), so replies are kept in memory per session, unit map and what the session and designs hold so far.
 */
import type { SessionStore } from "../store/index.js";
// analyze.ts and errors.ts directly: the causal index also loads the design code (TensorFlow.js).
import { analyzeCausal } from "../causal/analyze.js";
import type { CausalKind } from "../causal/design.js";
import { CausalInputError } from "../causal/errors.js";
import { countingSummary, defaultCounting, loadSessionCounts, stimulusMeans } from "../review/index.js";
import type { CausalImageItem, CausalReview } from "./causal-contract.js";

/** A refusal that keeps its meaning over the API (a unit map naming a unit the session lacks). */
export class CausalReviewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CausalReviewError";
  }
}

const finite = (v: number | null | undefined): number | null =>
  v === null || v === undefined || !Number.isFinite(v) ? null : v;

/** Kinds made by a design (never bank images): a session that showed none of them is no causal test. */
const designedKinds: readonly CausalKind[] = [
  "maximizing-synthesized",
  "adversarial-plus",
  "adversarial-minus",
  "smooth-minus",
  "random-smoothed",
];

/**
 * How many distinct designed images (synthesized, adversarial, smoothed) of any causal design the session showed. Bank
 * images a design also uses (random normal, maximizing normal, bases) do not count: sessions before the design may
 * have shown them. Cheap: the session header asks it.
 */
export function causalImageCount(store: SessionStore, sessionId: number): number {
  const row = store.db
    .prepare(
      `SELECT COUNT(DISTINCT c.stimulus_sha256) AS n FROM causal_images c WHERE c.kind IN ` +
        `(${designedKinds.map(() => "?").join(", ")}) AND c.stimulus_sha256 IN ` +
        "(SELECT stimulus_sha256 FROM presentations WHERE session_id = ?)",
    )
    .get(...designedKinds, sessionId) as { n: number };
  return row.n;
}

interface ProvenanceRow {
  sha: string;
  unit: string;
  kind: CausalKind;
  baseSha: string | null;
  predicted: number;
  source: "compact" | "ensemble";
  modelVersionId: number;
}

/** Most replies kept per store; the oldest asked for goes first. */
const cacheSize = 8;
const caches = new WeakMap<SessionStore, Map<string, CausalReview>>();

/** What the reply depends on that can grow (sessions and designs are append-only): counted, cheaply. */
function contentKey(store: SessionStore, sessionId: number): string {
  const row = store.db
    .prepare(
      "SELECT (SELECT COUNT(*) FROM presentations WHERE session_id = @s) AS p, (SELECT COUNT(*) FROM count_results " +
        "WHERE session_id = @s) AS c, (SELECT COUNT(*) FROM recorded_responses WHERE session_id = @s) AS r, " +
        "(SELECT COUNT(*) FROM units WHERE session_id = @s) AS u, (SELECT COUNT(*) FROM causal_images) AS i",
    )
    .get({ s: sessionId });
  return JSON.stringify(row);
}

/**
 * `unitMap` names, per design unit, the session's unit it is when the names differ (as `analyze causal --unit-map`).
 */
export function causalReview(
  store: SessionStore,
  sessionId: number,
  unitMap: ReadonlyMap<string, string> = new Map(),
): CausalReview {
  let cache = caches.get(store);
  if (cache === undefined) caches.set(store, (cache = new Map()));
  const key = JSON.stringify([sessionId, [...unitMap].sort(), contentKey(store, sessionId)]);
  const kept = cache.get(key);
  if (kept !== undefined) {
    cache.delete(key);
    cache.set(key, kept);
    return kept;
  }
  const reply = computeCausalReview(store, sessionId, unitMap);
  cache.set(key, reply);
  while (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
  return reply;
}

function computeCausalReview(
  store: SessionStore,
  sessionId: number,
  unitMap: ReadonlyMap<string, string>,
): CausalReview {
  const session = store.findSession(sessionId);
  if (session === undefined) throw new CausalReviewError(`No session ${sessionId} in this database.`);
  if (causalImageCount(store, sessionId) === 0)
    return {
      available: false,
      session: sessionId,
      message:
        `Session ${session.name} showed no designed images of a causal test (maximizing synthesized, ` +
        "adversarial or smoothed), so there is no causal test to show. A causal-test session runs a protocol " +
        "written by `cortexloop design causal`; its images keep their unit, kind, base image and predicted response.",
    };
  let a: ReturnType<typeof analyzeCausal>;
  try {
    a = analyzeCausal(store, String(sessionId), unitMap);
  } catch (err) {
    // Nothing is written by the review; the analysis' "Nothing was written." is dropped from its message.
    if (err instanceof CausalInputError)
      throw new CausalReviewError(err.message.replace(/ Nothing was written\.$/, ""));
    throw err;
  }
  const designId = a.designIds[0]!;
  const design = store.db
    .prepare("SELECT model_version_id AS mv, created_at AS at FROM causal_designs WHERE id = ?")
    .get(designId) as { mv: number | null; at: string };
  const data = loadSessionCounts(store, sessionId);
  const means = new Map(stimulusMeans(data, defaultCounting).map((m) => [m.sha256, m]));
  const recorded = new Map(data.units.map((u, i) => [`${u.electrode}#${u.sortedId}`, i]));
  const shown = store.db
    .prepare(
      "SELECT stimulus_sha256 AS sha, unit, kind, base_sha256 AS baseSha, predicted, model_source AS source, " +
        "model_version_id AS modelVersionId FROM causal_images WHERE design_id = ? AND stimulus_sha256 IN " +
        "(SELECT stimulus_sha256 FROM presentations WHERE session_id = ?) ORDER BY unit, kind, stimulus_sha256",
    )
    .all(designId, sessionId) as ProvenanceRow[];
  const images = shown.map((r): CausalImageItem => {
    const recordedUnit = unitMap.get(r.unit) ?? r.unit;
    const i = recorded.get(recordedUnit);
    const m = means.get(r.sha);
    return {
      sha256: r.sha,
      unit: r.unit,
      recordedUnit: i === undefined ? null : recordedUnit,
      kind: r.kind,
      baseSha256: r.baseSha,
      predicted: r.predicted,
      source: r.source,
      modelVersionId: r.modelVersionId,
      measured: i === undefined ? null : finite(m?.meanByUnit[i]),
      measuredSem: i === undefined ? null : finite(m?.semByUnit[i]),
      presentations: i === undefined ? 0 : (m?.nByUnit[i] ?? 0),
    };
  });
  return {
    available: true,
    session: sessionId,
    sessionName: a.sessionName,
    designId,
    modelVersionId: design.mv,
    designedAt: design.at,
    scale: a.modelScale,
    counting: countingSummary(data, defaultCounting),
    missingUnits: a.missingUnits,
    recordedUnits: [...recorded.keys()],
    summary: a.summary.map((s) => ({
      kind: s.kind,
      against: s.against,
      units: s.units,
      mean: finite(s.mean),
      se: finite(s.se),
      p: finite(s.p),
      predictedMean: finite(s.predictedMean),
      predictedSe: finite(s.predictedSe),
      predictedUnits: s.predictedUnits,
      modelMean: finite(s.modelMean),
      modelSe: finite(s.modelSe),
    })),
    rows: a.rows.map((r) => ({
      unit: r.unit,
      source: r.source,
      kind: r.kind,
      images: r.images,
      measured: finite(r.measured),
      measuredBase: finite(r.measuredBase),
      measuredChange: finite(r.measuredChange),
      predictedChange: finite(r.predictedChange),
      predictedModelChange: finite(r.predictedModelChange),
      fitImages: r.fitImages,
      fitSlope: finite(r.fitSlope),
      fitIntercept: finite(r.fitIntercept),
      note: r.note,
      p: finite(r.p),
    })),
    images,
  };
}
