// k-fold cross-validation of a session the ensemble never trained on: in each fold the session's
// readout is fitted against the frozen cores on the other folds, and the fold is predicted; ridge
// and a factorized readout on the front end's features get the same folds, so every image is
// predicted once by each model and the three are compared unit by unit. "skip" reads the frozen
// cores' outputs and the front end's features together: one ridge readout over both, the weight
// of each block chosen by cross-validation inside the training folds.
import * as tf from "@tensorflow/tfjs";
import { zscoreTargets } from "../data/targets.js";
import { SeededRandom } from "../data/random.js";
import type { DeepEnsemble } from "./ensemble.js";
import { fitFactorizedReadout } from "./factorized.js";
import { ridgeFit, ridgeFitBlocks } from "./ridge.js";
import { predictSession, refitReadoutsWithReport, type TrainingSession } from "./train.js";

export type CrossValidatedModel = "ensemble" | "skip" | "ridge" | "factorized";

/**
 * Weights of [front-end features, core outputs, predicted responses of the pretraining sessions' units]
 * tried by the skip readout (each block's Gram is trace-normalized first). The first is ridge on the
 * front end alone, so a unit the ensemble does not help keeps ridge's fit.
 */
export const skipBlockWeights: readonly number[][] = [
  [1, 0, 0],
  [0.5, 0.5, 0],
  [0.5, 0, 0.5],
  [0.4, 0.3, 0.3],
  [0.25, 0.5, 0.25],
  [0.25, 0.25, 0.5],
  [0, 0.5, 0.5],
];

export interface HeldOutSession {
  key: string;
  /** Front-end features [N, h, w, c]. */
  features: Float32Array;
  shape: readonly [number, number, number];
  /** Repeat-averaged responses [unit][image] (NaN where missing). */
  responses: Float64Array;
  units: number;
  images: number;
  usable: readonly boolean[];
}

export interface CrossValidationOptions {
  /** Which models to fit (default: all four with an ensemble, ridge and factorized without). */
  models?: readonly CrossValidatedModel[];
  readoutL2?: number;
  /** Most steps of a readout fit; early stopping on a slice of the training folds usually ends it sooner. */
  readoutSteps?: number;
  /** Fraction of each fold's training images kept aside for the readouts' early stopping (default 0.15). */
  validationFraction?: number;
  seed?: number;
  onFold?: (
    fold: number,
    folds: number,
    detail: { readoutSteps?: number; factorizedSteps?: number; readoutSeconds?: number },
  ) => void;
  signal?: AbortSignal;
}

export interface CrossValidation {
  /** Out-of-fold predictions [N, U] of each model fitted, in response units (NaN for unusable units). */
  predictions: Partial<Record<CrossValidatedModel, Float32Array>>;
  /** Seconds spent fitting each model's readouts over all folds. */
  seconds: Partial<Record<CrossValidatedModel, number>>;
}

/**
 * Runs the folds (each a list of image indices; together they cover every image once). The
 * ensemble's cores are never changed; its readout for `session.key` is replaced by the last
 * fold's.
 */
export async function crossValidateSession(
  ensemble: DeepEnsemble | undefined,
  session: HeldOutSession,
  folds: readonly (readonly number[])[],
  options: CrossValidationOptions = {},
): Promise<CrossValidation> {
  const models =
    options.models ??
    (ensemble === undefined
      ? (["ridge", "factorized"] as const)
      : (["ensemble", "skip", "ridge", "factorized"] as const));
  if ((models.includes("ensemble") || models.includes("skip")) && ensemble === undefined)
    throw new Error("crossValidateSession: the ensemble and skip models need an ensemble");
  const { units, images } = session;
  const predictions: Partial<Record<CrossValidatedModel, Float32Array>> = {};
  const seconds: Partial<Record<CrossValidatedModel, number>> = {};
  for (const m of models) {
    predictions[m] = new Float32Array(images * units).fill(Number.NaN);
    seconds[m] = 0;
  }
  const l2 = options.readoutL2 ?? 1e-2;
  const seed = options.seed ?? 1;
  const core = models.includes("skip") ? coreFeatures(ensemble!, session) : undefined;
  const population = models.includes("skip") ? populationFeatures(ensemble!, session) : undefined;
  for (const [f, test] of folds.entries()) {
    if (options.signal?.aborted) throw new Error(`cross-validation cancelled after ${f} of ${folds.length} folds`);
    const inTest = new Set(test);
    const rest = Array.from({ length: images }, (_, i) => i).filter((i) => !inTest.has(i));
    const order = new SeededRandom(seed * 7919 + f).shuffle([...rest]);
    const nVal = Math.max(1, Math.round(rest.length * (options.validationFraction ?? 0.15)));
    const valIdx = order.slice(0, nVal).sort((a, b) => a - b);
    const trainIdx = order.slice(nVal).sort((a, b) => a - b);
    // Targets z-scored with the training folds' statistics only.
    const z = zscoreTargets(session.responses, units, images, session.usable, rest);
    const targets = z.values;
    const s: TrainingSession = { key: session.key, features: session.features, targets, units, trainIdx, valIdx };
    // Back to response units, so that every fold's predictions share one scale.
    const put = (m: CrossValidatedModel, pred: Float32Array): void => {
      const out = predictions[m]!;
      test.forEach((i, r) => {
        for (let u = 0; u < units; u++)
          out[i * units + u] =
            session.usable[u] && z.std[u]! > 0 ? pred[r * units + u]! * z.std[u]! + z.mean[u]! : Number.NaN;
      });
    };
    const detail: { readoutSteps?: number; factorizedSteps?: number; readoutSeconds?: number } = {};
    if (models.includes("ensemble")) {
      const t0 = performance.now();
      const fit = await refitReadoutsWithReport(ensemble!, s, {
        steps: options.readoutSteps ?? 2000,
        validate: true,
        evaluateEvery: 25,
        patience: 6,
        readoutL2: l2,
        seed: seed + f,
      });
      seconds.ensemble! += (performance.now() - t0) / 1000;
      detail.readoutSteps = fit.steps;
      detail.readoutSeconds = (performance.now() - t0) / 1000;
      put("ensemble", predictSession(ensemble!, s, test));
    }
    if (core !== undefined) {
      const t0 = performance.now();
      // An ensemble with no other session's readout (none stored) has no third block.
      const withPopulation = population !== undefined && population.length > 0;
      const blocks = withPopulation ? [session.features, core, population] : [session.features, core];
      const skip = ridgeFitBlocks(blocks, images, targets, units, rest, {
        seed: seed + f,
        scalePerFeature: [true, false, true].slice(0, blocks.length),
        blockWeights: skipBlockWeights
          .filter((w) => withPopulation || w[2] === 0)
          .map((w) => w.slice(0, blocks.length)),
      });
      put("skip", skip.predict(blocks, test));
      skip.dispose();
      seconds.skip! += (performance.now() - t0) / 1000;
    }
    if (models.includes("ridge")) {
      const t0 = performance.now();
      const ridge = ridgeFit(session.features, images, targets, units, rest, { seed: seed + f });
      put("ridge", ridge.predict(session.features, test));
      ridge.dispose();
      seconds.ridge! += (performance.now() - t0) / 1000;
    }
    if (models.includes("factorized")) {
      const t0 = performance.now();
      const fm = await fitFactorizedReadout(session.features, session.shape, targets, units, trainIdx, valIdx, {
        readoutL2: l2,
        seed: seed + f,
        steps: options.readoutSteps ?? 2000,
      });
      put("factorized", fm.predict(session.features, test));
      detail.factorizedSteps = fm.steps;
      fm.dispose();
      seconds.factorized! += (performance.now() - t0) / 1000;
    }
    options.onFold?.(f + 1, folds.length, detail);
  }
  return { predictions, seconds };
}

/**
 * The ensemble's predicted responses of every unit it was trained on (every readout but the session's
 * own), for every image of the session [N, ΣU]: the ensemble's last layer, which already combines the
 * core's channels the way V4 units of other sessions did.
 */
function populationFeatures(ensemble: DeepEnsemble, session: HeldOutSession): Float32Array {
  const keys = [...ensemble.readouts.keys()].filter((k) => k !== session.key);
  const per = session.shape[0] * session.shape[1] * session.shape[2];
  const width = keys.reduce((n, k) => n + ensemble.readoutsOf(k)[0]!.units, 0);
  const out = new Float32Array(session.images * width);
  for (let start = 0; start < session.images; start += 128) {
    const n = Math.min(128, session.images - start);
    const x = tf.tensor4d(session.features.subarray(start * per, (start + n) * per), [n, ...session.shape]);
    let col = 0;
    for (const k of keys) {
      const p = ensemble.predict(k, x);
      const values = p.dataSync() as Float32Array;
      const u = p.shape[1];
      p.dispose();
      for (let i = 0; i < n; i++) for (let j = 0; j < u; j++) out[(start + i) * width + col + j] = values[i * u + j]!;
      col += u;
    }
    x.dispose();
  }
  return out;
}

/**
 * Every member's core output for every image, flattened per image [N, M·h·w·C]. Centred, not
 * scaled, by the ridge: a ReLU core's outputs are mostly zero, and scaling such a column to unit
 * variance blows its rare values up.
 */
function coreFeatures(ensemble: DeepEnsemble, session: HeldOutSession): Float32Array {
  const per = session.shape[0] * session.shape[1] * session.shape[2];
  let out: Float32Array | undefined;
  let width = 0;
  for (let start = 0; start < session.images; start += 128) {
    const n = Math.min(128, session.images - start);
    const x = tf.tensor4d(session.features.subarray(start * per, (start + n) * per), [n, ...session.shape]);
    const outs = ensemble.coreOutputs(x);
    const parts = outs.map((o) => o.dataSync() as Float32Array);
    tf.dispose([x, ...outs]);
    const each = parts[0]!.length / n;
    if (out === undefined) {
      width = each * parts.length;
      out = new Float32Array(session.images * width);
    }
    for (let i = 0; i < n; i++)
      parts.forEach((p, m) => out!.set(p.subarray(i * each, (i + 1) * each), (start + i) * width + m * each));
  }
  return out ?? new Float32Array(0);
}
