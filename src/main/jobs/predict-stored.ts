// A model version's predicted responses of one stored session's units to that session's stimuli,
// read from the store (the images it showed, resized as training resized them).
import { selectBackend } from "../../models/backend.js";
import type { DeepEnsemble } from "../../models/ensemble/index.js";
import { decodeImage, resizeImage } from "../../stimulus/index.js";
import type { SessionStore, UnitKey } from "../store/index.js";
import { PredictError, predictableVersion, predictWithVersion } from "./predict-core.js";

export interface StoredPredictionOptions {
  modelVersionId: number;
  sessionId: number;
  /** Stimuli to predict (SHA-256); default: the session's, shown or not, in order of first presentation. */
  stimuli?: readonly string[];
  log?: (line: string) => void;
}

export interface StoredPrediction {
  modelVersionId: number;
  /** The readout whose units were predicted (`<id>` from retrain jobs, `session-<id>` or `pooled` from campaigns). */
  readoutKey: string;
  scale: "responses" | "z-scored";
  frontEnd: string;
  stimuli: string[];
  /** Per unit of the session (`store.units` order), the prediction per stimulus; null: the readout lacks the unit. */
  byUnit: (number[] | null)[];
}

let backendReady: Promise<unknown> | undefined;

const sameUnit = (a: UnitKey, b: UnitKey): boolean => a.electrode === b.electrode && a.sortedId === b.sortedId;

/** The session's stimuli in order of first presentation (skipped ones were never shown and are left out). */
export function sessionStimuli(store: SessionStore, sessionId: number): string[] {
  const seen = new Set<string>();
  for (const p of store.presentations(sessionId)) if (p.status !== "skipped") seen.add(p.stimulusSha256);
  return [...seen];
}

/**
 * Which readout of `ensemble` models `sessionId`'s units, and the units it was fitted on (its columns):
 * a retrain job's readout is keyed by the session id, a campaign's by `session-<id>`, or one `pooled`
 * readout over every session of the version (fitted on the first session's units).
 */
function readoutFor(
  store: SessionStore,
  ensemble: DeepEnsemble,
  versionId: number,
  sessionIds: readonly number[],
  sessionId: number,
): { key: string; columns: UnitKey[] } {
  const own = [String(sessionId), `session-${sessionId}`].find((k) => ensemble.hasSession(k));
  const pooled = own === undefined && ensemble.hasSession("pooled") && sessionIds.includes(sessionId);
  const key = own ?? (pooled ? "pooled" : undefined);
  if (key === undefined) {
    const keys = ensemble.sessionKeys();
    throw new PredictError(
      `Model version ${versionId} has no readout for session ${sessionId} (its readouts: ${keys.join(", ") || "none"}` +
        `); fit one first (cortexloop readout).`,
      "no-readout",
    );
  }
  const columns = store.units(key === "pooled" ? sessionIds[0]! : sessionId);
  const units = ensemble.unitsOf(key);
  if (units !== columns.length)
    throw new PredictError(
      `Model version ${versionId}'s readout ${key} has ${units} units but the session it was fitted on stores ` +
        `${columns.length}; the readout cannot be matched to units.`,
      "units-mismatch",
    );
  return { key, columns };
}

export async function predictStoredStimuli(
  store: SessionStore,
  options: StoredPredictionOptions,
): Promise<StoredPrediction> {
  const log = options.log ?? (() => {});
  const version = predictableVersion(store, options.modelVersionId);
  const stimuli = [...(options.stimuli ?? sessionStimuli(store, options.sessionId))];
  if (stimuli.length === 0)
    throw new PredictError(
      `Session ${options.sessionId} has shown no stimuli yet; there is nothing to predict.`,
      "images",
    );
  const pixels: Uint8Array[] = [];
  for (const sha of stimuli) {
    const png = store.getStimulusPng(sha);
    if (png === undefined)
      throw new PredictError(
        `Stimulus ${sha.slice(0, 12)}… of session ${options.sessionId} is missing from ${store.file}; its ` +
          `presentations are kept, but it cannot be predicted.`,
        "images",
      );
    const image = await resizeImage(await decodeImage(png, sha), version.imageSize, version.imageSize);
    pixels.push(image.pixels0to255);
  }
  // Once per process; a failure is not kept, so the next request tries again.
  backendReady ??= selectBackend({ log }).catch((err: unknown) => {
    backendReady = undefined;
    throw err;
  });
  await backendReady;
  let columns: UnitKey[] = [];
  const predicted = await predictWithVersion(
    version,
    pixels,
    (ensemble) => {
      const found = readoutFor(store, ensemble, version.id, version.row.sessionIds, options.sessionId);
      columns = found.columns;
      return found.key;
    },
    log,
  );
  const n = predicted.units;
  const byUnit = store.units(options.sessionId).map((unit) => {
    const u = columns.findIndex((c) => sameUnit(c, unit));
    return u < 0 ? null : stimuli.map((_, i) => predicted.predictions[i * n + u]!);
  });
  if (byUnit.every((row) => row === null))
    throw new PredictError(
      `None of session ${options.sessionId}'s units is in model version ${version.id}'s readout ` +
        `${predicted.readoutKey}.`,
      "units-mismatch",
    );
  return {
    modelVersionId: version.id,
    readoutKey: predicted.readoutKey,
    scale: predicted.scale,
    frontEnd: predicted.frontEnd,
    stimuli,
    byUnit,
  };
}
