// One way to predict with a stored deep ensemble, whatever the images' source: check the version
// (kind, weights, recorded front end), run the front end, predict one readout's units, and undo the
// z-scoring when the version recorded its target statistics. `cortexloop predict` (image folders)
// and the review's predicted responses (the store's stimuli) both go through here.
import * as tf from "@tensorflow/tfjs";
import { CheckpointError, loadEnsemble, type DeepEnsemble, type LoadedEnsemble } from "../../models/ensemble/index.js";
import { extractFeatures, loadFrontEnd, type FrontEnd, type FrontEndSpec } from "../../models/frontend/index.js";
import type { ModelVersionRow, SessionStore } from "../store/index.js";
import type { PredictRefusal } from "./predict-refusal.js";

export type { PredictRefusal } from "./predict-refusal.js";

export class PredictError extends Error {
  readonly code = "predict-input";
  /** What happened, without the closing "Nothing was written." (the review shows this). */
  readonly detail: string;
  constructor(
    message: string,
    readonly refusal: PredictRefusal = "input",
  ) {
    super(`${message} Nothing was written.`);
    this.name = "PredictError";
    this.detail = message;
  }
}

/** Per-session target statistics a model version records (`config.targetStats[readoutKey]`). */
export interface TargetStats {
  mean: number[];
  std: number[];
}

/** A stored deep ensemble that has what predicting needs. */
export interface PredictableVersion {
  id: number;
  row: ModelVersionRow;
  checkpoint: Uint8Array;
  frontEndSpec: FrontEndSpec;
  /** Side of the square images it was trained on. */
  imageSize: number;
}

export function isEnsembleKind(kind: string): boolean {
  return kind === "deep-ensemble" || kind === "deep-ensemble-checkpoint";
}

/** The version, checked: a deep ensemble with weights and a recorded front end; else a PredictError saying which. */
export function predictableVersion(store: SessionStore, id: number): PredictableVersion {
  const version = store.getModelVersion(id);
  if (version === undefined)
    throw new PredictError(
      `Model version ${id} does not exist in ${store.file}; run \`cortexloop models\` to list them.`,
      "no-model",
    );
  if (!isEnsembleKind(version.kind))
    throw new PredictError(
      `Model version ${id} is a ${version.kind}, not a deep ensemble; predict takes an ensemble (kind ` +
        `deep-ensemble, see \`cortexloop models\`).`,
      "not-ensemble",
    );
  if (version.checkpoint === null) throw new PredictError(`Model version ${id} has no weights stored.`, "no-weights");
  const spec = version.config.frontEndSpec as FrontEndSpec | undefined;
  if (spec === undefined)
    throw new PredictError(
      `Model version ${id} does not record its front end (frontEndSpec), so its features cannot be made again; ` +
        `retrain it with this cortexloop.`,
      "no-front-end",
    );
  const row: ModelVersionRow = {
    id: version.id,
    name: version.name,
    kind: version.kind,
    parentId: version.parentId,
    createdAt: version.createdAt,
    metrics: version.metrics,
    config: version.config,
    sessionIds: version.sessionIds,
  };
  const imageSize = typeof version.config.imageSize === "number" ? version.config.imageSize : 112;
  return { id, row, checkpoint: version.checkpoint, frontEndSpec: spec, imageSize };
}

export interface VersionPredictions {
  readoutKey: string;
  /** Units of the readout. */
  units: number;
  /** [image][unit], in response units when the version recorded the readout's target statistics, else z-scored. */
  predictions: Float32Array;
  scale: "responses" | "z-scored";
  frontEnd: string;
}

/**
 * Predicts `pixels` (RGB 0..255, `imageSize` square, as the version was trained) with the readout
 * `pickReadout` chooses once the ensemble is loaded (it may throw a PredictError).
 */
export async function predictWithVersion(
  version: PredictableVersion,
  pixels: readonly Uint8Array[],
  pickReadout: (ensemble: DeepEnsemble) => string,
  log: (line: string) => void = () => {},
): Promise<VersionPredictions> {
  let loaded: LoadedEnsemble;
  try {
    loaded = loadEnsemble(version.checkpoint, `model version ${version.id}`);
  } catch (err) {
    if (err instanceof CheckpointError) throw new PredictError(err.message, "load-failed");
    throw err;
  }
  const { ensemble, frontEnd: trainedOn } = loaded;
  try {
    const key = pickReadout(ensemble);
    let frontEnd: FrontEnd;
    try {
      frontEnd = await loadFrontEnd({ ...version.frontEndSpec, log });
    } catch (err) {
      throw new PredictError(
        `Model version ${version.id}'s front end (${JSON.stringify(version.frontEndSpec)}) cannot be loaded here ` +
          `(${err instanceof Error ? err.message : String(err)}).`,
        "front-end",
      );
    }
    let features: Float32Array;
    try {
      if (frontEnd.name !== trainedOn)
        throw new PredictError(
          `Model version ${version.id} was trained on front end ${trainedOn} but ${frontEnd.name} loaded here; ` +
            `install what it used.`,
          "front-end",
        );
      features = await extractFeatures(frontEnd, [...pixels], version.imageSize, {
        onProgress: (d, t) => (d === t || d % 320 === 0 ? log(`features ${d}/${t}`) : undefined),
      });
    } finally {
      frontEnd.dispose();
    }
    const [h, w, c] = ensemble.config.inputShape;
    const per = h * w * c;
    const units = ensemble.unitsOf(key);
    const out = new Float32Array(pixels.length * units);
    for (let start = 0; start < pixels.length; start += 64) {
      const n = Math.min(64, pixels.length - start);
      const p = tf.tidy(() =>
        ensemble.predict(key, tf.tensor4d(features.subarray(start * per, (start + n) * per), [n, h, w, c])),
      );
      out.set(p.dataSync(), start * units);
      p.dispose();
    }
    const stats = (version.row.config.targetStats as Record<string, TargetStats> | undefined)?.[key];
    const scale = stats !== undefined && stats.mean.length === units ? "responses" : "z-scored";
    if (scale === "responses") {
      for (let i = 0; i < pixels.length; i++)
        for (let u = 0; u < units; u++) out[i * units + u] = out[i * units + u]! * stats!.std[u]! + stats!.mean[u]!;
    }
    return { readoutKey: key, units, predictions: out, scale, frontEnd: trainedOn };
  } finally {
    ensemble.dispose();
  }
}
