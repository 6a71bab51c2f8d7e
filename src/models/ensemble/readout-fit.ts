// Fitting factorized readouts on fixed inputs: the cores' cached outputs (a session's readout
// against a frozen ensemble) or standardized front-end features (the factorized baseline).
import * as tf from "@tensorflow/tfjs";
import { SeededRandom } from "../data/random.js";
import { adamOptimizer } from "../kernels/adam.js";
import { readoutForward, readoutVariables, type Readout } from "./weights.js";

/** Masked mean squared error of a readout on core outputs, plus its L2 penalty. */
export function readoutLoss(
  r: Readout,
  coreOut: tf.Tensor4D,
  y: tf.Tensor2D,
  mask: tf.Tensor2D,
  count: number,
  readoutL2: number,
): tf.Scalar {
  const pred = readoutForward(r, coreOut);
  const mse = tf.div(tf.sum(tf.mul(tf.square(tf.sub(pred, y)), mask)), count) as tf.Scalar;
  if (readoutL2 <= 0) return mse;
  // The spatial map is scaled by its size so that both factors are penalized alike.
  const penalty = tf.add(tf.sum(tf.square(r.mix)), tf.mul(tf.sum(tf.square(r.spatial)), r.spatial.shape[0]));
  return tf.add(mse, tf.mul(penalty, readoutL2 / r.units));
}

export interface CachedReadoutFitOptions {
  /** Most optimizer steps (default 200). */
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  seed?: number;
  readoutL2?: number;
  /**
   * Rows (of the cached inputs) whose loss decides when to stop: every `evaluateEvery` steps the
   * masked error on them is measured, the best readout kept, and fitting stops after `patience`
   * measurements without improvement. Empty or absent: a fixed number of steps.
   */
  validationRows?: readonly number[];
  evaluateEvery?: number;
  patience?: number;
}

export interface CachedReadoutFit {
  steps: number;
  /** Masked mean squared error on the validation rows at the kept step (NaN without validation). */
  validationLoss: number;
}

function maskedError(
  readouts: readonly Readout[],
  inputs: readonly tf.Tensor4D[],
  y: tf.Tensor2D,
  mask: tf.Tensor2D,
  rows: tf.Tensor1D,
): number {
  return tf.tidy(() => {
    const yy = tf.gather(y, rows);
    const mm = tf.gather(mask, rows);
    const count = Math.max(1, mm.sum().dataSync()[0]!);
    const pred = tf.mean(
      tf.stack(readouts.map((r, m) => readoutForward(r, tf.gather(inputs[m]!, rows) as tf.Tensor4D))),
      0,
    );
    return tf.sum(tf.mul(tf.square(tf.sub(pred, yy)), mm)).dataSync()[0]! / count;
  });
}

/**
 * Fits readouts (one per input, e.g. one per ensemble member) on cached inputs [N, h, w, C]
 * against targets y [N, U] with a 0/1 mask, on rows `trainRows`. Each readout has its own loss
 * (members stay independent); early stopping watches the members' mean prediction.
 */
export async function fitReadoutsOnInputs(
  readouts: readonly Readout[],
  inputs: readonly tf.Tensor4D[],
  y: tf.Tensor2D,
  mask: tf.Tensor2D,
  trainRows: readonly number[],
  options: CachedReadoutFitOptions = {},
): Promise<CachedReadoutFit> {
  if (readouts.length !== inputs.length)
    throw new Error(`fitReadoutsOnInputs: ${readouts.length} readouts for ${inputs.length} inputs`);
  if (trainRows.length === 0) return { steps: 0, validationLoss: Number.NaN };
  const rng = new SeededRandom(options.seed ?? 2);
  const optimizer = adamOptimizer(options.learningRate ?? 5e-3);
  const vars = readouts.flatMap(readoutVariables);
  const batchSize = Math.min(options.batchSize ?? 64, trainRows.length);
  const l2 = options.readoutL2 ?? 0;
  const maxSteps = options.steps ?? 200;
  const val =
    options.validationRows !== undefined && options.validationRows.length > 0
      ? tf.tensor1d(Int32Array.from(options.validationRows), "int32")
      : undefined;
  const every = options.evaluateEvery ?? 25;
  const patience = options.patience ?? 4;
  let best = Number.POSITIVE_INFINITY;
  let bestStep = 0;
  let bestWeights: tf.Tensor[] | undefined;
  let waited = 0;
  let step = 0;
  try {
    for (step = 0; step < maxSteps; step++) {
      const rows = tf.tensor1d(
        Array.from({ length: batchSize }, () => trainRows[rng.int(trainRows.length)]!),
        "int32",
      );
      const yb = tf.gather(y, rows) as tf.Tensor2D;
      const mb = tf.gather(mask, rows) as tf.Tensor2D;
      const count = Math.max(
        1,
        tf.tidy(() => mb.sum().dataSync()[0]!),
      );
      const loss = optimizer.minimize(
        () =>
          tf.addN(
            inputs.map((c, m) => readoutLoss(readouts[m]!, tf.gather(c, rows) as tf.Tensor4D, yb, mb, count, l2)),
          ) as tf.Scalar,
        false,
        vars,
      );
      tf.dispose([rows, yb, mb, loss ?? []]);
      if (step % 50 === 49) await new Promise((r) => setImmediate(r));
      if (val === undefined || (step + 1) % every !== 0) continue;
      const error = maskedError(readouts, inputs, y, mask, val);
      if (error < best) {
        best = error;
        bestStep = step + 1;
        if (bestWeights !== undefined) tf.dispose(bestWeights);
        bestWeights = vars.map((v) => tf.keep(v.clone()));
        waited = 0;
      } else if (++waited >= patience) {
        step++;
        break;
      }
    }
    if (val !== undefined) {
      // A last look at the final weights, then the best weights go back in.
      const error = maskedError(readouts, inputs, y, mask, val);
      if (error < best || bestWeights === undefined) {
        best = error;
        bestStep = step;
      } else vars.forEach((v, i) => v.assign(bestWeights![i]!));
    }
  } finally {
    optimizer.dispose();
    if (bestWeights !== undefined) tf.dispose(bestWeights);
    val?.dispose();
  }
  return { steps: val === undefined ? step : bestStep, validationLoss: val === undefined ? Number.NaN : best };
}
