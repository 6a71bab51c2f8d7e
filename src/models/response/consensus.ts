// Several models of the same units as one: each unit's prediction is a soft minimum over the models of
// their standardized predictions, so an image scores high only where every model rates it high. Designs
// made through it (ascending it) cannot win by exploiting one model's own features, which another model
// of the same neuron, and the neuron, do not share.
import * as tf from "@tensorflow/tfjs";
import type { UnitResponseModel } from "./response-model.js";

/** A unit's typical response under one model: its mean and standard deviation over natural images. */
export interface UnitScale {
  mean: number;
  sd: number;
}

export interface ConsensusOptions {
  /**
   * Softness of the minimum, in standard deviations: 0 is the hard minimum, large values tend to the mean
   * of the models' standardized predictions (default 0.5).
   */
  temperature: number;
}

/**
 * `models[k]` predicts the same `unitCount` units in the same order; `scales[k][u]` standardizes model
 * k's prediction of unit u. The consensus predicts, per unit, the soft minimum −τ log Σ_k exp(−z_k/τ) of the
 * standardized predictions z_k (in standard deviations of that unit's natural-image responses), and its
 * gradient is the soft-min's weighted sum of the models' gradients. With sign −1 (descent) the gradient is
 * that of −(soft maximum): lowering the image's score under the model that rates it highest.
 */
export function consensusResponseModel(
  models: readonly UnitResponseModel[],
  scales: readonly (readonly UnitScale[])[],
  options: Partial<ConsensusOptions> = {},
): UnitResponseModel {
  const temperature = options.temperature ?? 0.5;
  if (models.length === 0) throw new Error("consensusResponseModel: no models");
  const { unitCount, inputSize } = models[0]!;
  models.forEach((m, k) => {
    if (m.unitCount !== unitCount || m.inputSize !== inputSize)
      throw new Error(
        `consensusResponseModel: model ${k} has ${m.unitCount} units of ${m.inputSize} px, model 0 ` +
          `${unitCount} of ${inputSize} px`,
      );
    const s = scales[k];
    if (s === undefined || s.length !== unitCount || s.some((u) => !(u.sd > 0) || !Number.isFinite(u.mean)))
      throw new Error(`consensusResponseModel: model ${k} needs a finite mean and an sd > 0 for each of its units`);
  });
  if (!(temperature >= 0)) throw new Error(`consensusResponseModel: temperature must be ≥ 0, got ${temperature}`);
  const column = (k: number, units: readonly number[], key: keyof UnitScale): tf.Tensor1D =>
    tf.tensor1d(units.map((u) => scales[k]![u]![key]));
  /** [N, models] standardized predictions of image i for unit units[i]. */
  const standardized = (pixels: tf.Tensor4D, units: readonly number[]): tf.Tensor2D =>
    tf.tidy(
      () =>
        tf.stack(
          models.map((m, k) =>
            tf.div(tf.sub(m.predict(pixels, units), column(k, units, "mean")), column(k, units, "sd")),
          ),
          1,
        ) as tf.Tensor2D,
    );
  const softMin = (z: tf.Tensor2D): tf.Tensor1D =>
    tf.tidy(() =>
      temperature === 0
        ? (tf.min(z, 1) as tf.Tensor1D)
        : (tf.mul(tf.logSumExp(tf.div(z, -temperature), 1), -temperature) as tf.Tensor1D),
    );
  /** [N, models] the soft-min's weight of each model (a one-hot at the minimum when τ = 0). */
  const weights = (z: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() =>
      temperature === 0
        ? (tf.oneHot(tf.argMin(z, 1), models.length).toFloat() as tf.Tensor2D)
        : (tf.softmax(tf.div(z, -temperature), 1) as tf.Tensor2D),
    );
  return {
    unitCount,
    inputSize,
    sources: models[0]!.sources,
    predict(pixels, units) {
      return tf.tidy(() => softMin(standardized(pixels, units)));
    },
    predictAll(pixels) {
      return tf.tidy(() => {
        const row = (k: number, key: keyof UnitScale): tf.Tensor2D =>
          tf.tensor2d(
            scales[k]!.map((u) => u[key]),
            [1, unitCount],
          );
        const z = models.map((m, k) => tf.div(tf.sub(m.predictAll(pixels), row(k, "mean")), row(k, "sd")));
        // [N, units, models] → soft-min over the last axis.
        const stacked = tf.stack(z, 2);
        return (
          temperature === 0 ? tf.min(stacked, 2) : tf.mul(tf.logSumExp(tf.div(stacked, -temperature), 2), -temperature)
        ) as tf.Tensor2D;
      });
    },
    gradient(pixels, units, signs) {
      return tf.tidy(() => {
        // Descending (sign −1) lowers the soft maximum: every model must agree the image went down.
        const z = standardized(pixels, units);
        const w = weights(
          signs === undefined ? z : (tf.mul(z, tf.tensor2d([...signs], [signs.length, 1])) as tf.Tensor2D),
        );
        let g: tf.Tensor4D | undefined;
        models.forEach((m, k) => {
          const scale = tf.div(tf.slice(w, [0, k], [-1, 1]), tf.reshape(column(k, units, "sd"), [-1, 1]));
          const part = tf.mul(m.gradient(pixels, units, signs), tf.reshape(scale, [-1, 1, 1, 1])) as tf.Tensor4D;
          g = g === undefined ? part : (tf.add(g, part) as tf.Tensor4D);
        });
        return g!;
      });
    },
  };
}
