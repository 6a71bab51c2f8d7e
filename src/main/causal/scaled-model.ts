// A unit response model rescaled unit by unit: unit i's prediction as mean_i + std_i · (the model's).
// A campaign's ensemble (and the compact models distilled from it, scaled to it) predicts z-scored
// responses; %Δr needs spikes. A positive scale leaves every design's images as they were (steps are
// normalized, choices are by order); only the predicted responses change.
import * as tf from "@tensorflow/tfjs";
import type { UnitResponseModel } from "../../models/response/index.js";

/** Per unit (in the model's unit order), the affine map onto responses. */
export interface UnitScale {
  mean: number[];
  std: number[];
}

export function scaledResponseModel(
  model: UnitResponseModel,
  scale: UnitScale,
): { model: UnitResponseModel; dispose(): void } {
  const { mean, std } = scale;
  const m = tf.keep(tf.tensor1d([...mean]));
  const s = tf.keep(tf.tensor1d([...std]));
  /** Predictions p of units `units` in responses. */
  const of = (p: tf.Tensor1D, units: readonly number[]): tf.Tensor1D =>
    tf.tidy(() => {
      const idx = tf.tensor1d([...units], "int32");
      return tf.add(tf.mul(p, tf.gather(s, idx)), tf.gather(m, idx)) as tf.Tensor1D;
    });
  const near = model.predictNear?.bind(model);
  const scaled: UnitResponseModel = {
    unitCount: model.unitCount,
    inputSize: model.inputSize,
    sources: model.sources,
    predict: (pixels, units) => tf.tidy(() => of(model.predict(pixels, units), units)),
    // Smoothing's fast path stays fast.
    ...(near === undefined
      ? {}
      : {
          predictNear: (bases, baseOf, pixels, boxes, units) =>
            tf.tidy(() => of(near(bases, baseOf, pixels, boxes, units), units)),
        }),
    predictAll: (pixels) => tf.tidy(() => tf.add(tf.mul(model.predictAll(pixels), s), m) as tf.Tensor2D),
    gradient: (pixels, units, signs) =>
      model.gradient(
        pixels,
        units,
        units.map((u, i) => (signs?.[i] ?? 1) * std[u]!),
      ),
  };
  return { model: scaled, dispose: () => tf.dispose([m, s]) };
}
