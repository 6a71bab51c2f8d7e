// k-fold cross-validation of a session the ensemble never trained on: in each fold the session's
// readout is fitted against the frozen cores on the other folds, and the fold is predicted; ridge
// and a factorized readout on the front end's features get the same folds, so every image is
// predicted once by each model and the three are compared unit by unit. "skip" reads the frozen
// cores' outputs and the front end's features together: one ridge readout over both, the weight
// of each block chosen by cross-validation inside the training folds.
import { zscoreTargets } from "../data/targets.js";
import { SeededRandom } from "../data/random.js";
import type { DeepEnsemble } from "./ensemble.js";
import { fitFactorizedReadout } from "./factorized.js";
import { ridgeFit, ridgeFitBlocks } from "./ridge.js";
import { skipBlockWeights } from "./skip.js";
import { memberBlocks } from "./skip-fit.js";
import { predictSession, refitReadoutsWithReport, type TrainingSession } from "./train.js";

export type CrossValidatedModel = "ensemble" | "skip" | "ridge" | "factorized";

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
  const { core, population } = models.includes("skip")
    ? skipBlocks(ensemble!, session)
    : { core: undefined, population: undefined };
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
 * The skip readout's ensemble blocks for every image of the session: every member's core output side by
 * side per image [N, M·h·w·C] (centred, not scaled, by the ridge: a ReLU core's outputs are mostly zero,
 * and scaling such a column to unit variance blows its rare values up), and the ensemble's predicted
 * responses of every unit of its other readouts, averaged over members [N, ΣU] (its last layer, which
 * already combines the core's channels the way V4 units of other sessions did).
 */
function skipBlocks(ensemble: DeepEnsemble, session: HeldOutSession): { core: Float32Array; population: Float32Array } {
  const keys = [...ensemble.readouts.keys()].filter((k) => k !== session.key);
  const rows = Array.from({ length: session.images }, (_, i) => i);
  const blocks = memberBlocks(ensemble, session.features, rows, keys);
  const M = blocks.core.length;
  const each = blocks.core[0]!.length / Math.max(1, session.images);
  const core = new Float32Array(session.images * each * M);
  for (let i = 0; i < session.images; i++)
    blocks.core.forEach((c, m) => core.set(c.subarray(i * each, (i + 1) * each), (i * M + m) * each));
  const population = new Float32Array(blocks.pop[0]!.length);
  for (const p of blocks.pop) for (let k = 0; k < population.length; k++) population[k]! += p[k]! / M;
  return { core, population };
}
