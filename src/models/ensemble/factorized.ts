// Baseline: a factorized readout (1×1 channel mixing, then a spatial map per unit) fitted directly
// on the front end's standardized features, with no trained core in between.
import * as tf from "@tensorflow/tfjs";
import { fitReadoutsOnInputs, type CachedReadoutFitOptions } from "./readout-fit.js";
import { channelStats, createReadout, disposeReadout, readoutForward } from "./weights.js";

export interface FactorizedModel {
  /** Steps kept by early stopping. */
  steps: number;
  /** Predictions [idx.length, U] for rows idx of a feature matrix [N, h, w, c]. */
  predict(features: Float32Array, idx: readonly number[]): Float32Array;
  dispose(): void;
}

function rowsTensor(
  features: Float32Array,
  shape: readonly [number, number, number],
  idx: readonly number[],
  mean: number[],
  scale: number[],
): tf.Tensor4D {
  const per = shape[0] * shape[1] * shape[2];
  const c = shape[2];
  const out = new Float32Array(idx.length * per);
  idx.forEach((i, r) => {
    for (let p = 0; p < per; p++) out[r * per + p] = (features[i * per + p]! - mean[p % c]!) * scale[p % c]!;
  });
  return tf.tensor4d(out, [idx.length, ...shape]);
}

/**
 * Fits the factorized readout on rows `trainIdx` of features [N, h, w, c] against targets [N, U]
 * (NaN = missing), stopping early on rows `valIdx`. Features are standardized per channel with
 * the training rows' statistics.
 */
export async function fitFactorizedReadout(
  features: Float32Array,
  shape: readonly [number, number, number],
  targets: Float32Array,
  units: number,
  trainIdx: readonly number[],
  valIdx: readonly number[],
  options: Omit<CachedReadoutFitOptions, "validationRows"> = {},
): Promise<FactorizedModel> {
  const per = shape[0] * shape[1] * shape[2];
  if (features.length % per !== 0)
    throw new Error(
      `fitFactorizedReadout: features hold ${features.length} values, not a multiple of ${shape.join("x")}`,
    );
  const { mean, scale } = channelStats(features, shape[2], trainIdx, per);
  const rows = [...trainIdx, ...valIdx];
  const x = rowsTensor(features, shape, rows, mean, scale);
  const ys = new Float32Array(rows.length * units);
  const ms = new Float32Array(rows.length * units);
  rows.forEach((i, r) => {
    for (let u = 0; u < units; u++) {
      const v = targets[i * units + u]!;
      if (Number.isNaN(v)) continue;
      ys[r * units + u] = v;
      ms[r * units + u] = 1;
    }
  });
  const y = tf.tensor2d(ys, [rows.length, units]);
  const mask = tf.tensor2d(ms, [rows.length, units]);
  const readout = createReadout(
    { inputShape: [...shape] as [number, number, number], width: shape[2] },
    units,
    options.seed ?? 5,
  );
  let steps = 0;
  try {
    const trainRows = trainIdx.map((_, r) => r);
    const validationRows = valIdx.map((_, r) => trainIdx.length + r);
    steps = (
      await fitReadoutsOnInputs([readout], [x], y, mask, trainRows, {
        steps: 2000,
        evaluateEvery: 25,
        patience: 6,
        ...options,
        validationRows,
      })
    ).steps;
  } finally {
    tf.dispose([x, y, mask]);
  }
  return {
    steps,
    predict(feats, idx) {
      const out = new Float32Array(idx.length * units);
      for (let start = 0; start < idx.length; start += 256) {
        const part = idx.slice(start, start + 256);
        const p = tf.tidy(() => readoutForward(readout, rowsTensor(feats, shape, part, mean, scale)));
        out.set(p.dataSync(), start * units);
        p.dispose();
      }
      return out;
    },
    dispose() {
      disposeReadout(readout);
    },
  };
}
