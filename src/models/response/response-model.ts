// What stimulus synthesis needs of a model: each unit's predicted response to pixels and its
// gradient, for a batch in which every image belongs to one unit (batched over units).
import * as tf from "@tensorflow/tfjs";
import type { FastCompactModel } from "../compact/inference.js";
import { usedBases, type PixelBox } from "../compact/local-window.js";

export { usedBases, type PixelBox };

/** Which model a unit's predictions come from: its own compact model or the ensemble's prediction for it. */
export type ResponseSource = "compact" | "ensemble" | "function";

export interface UnitResponseModel {
  /** Units, numbered 0..unitCount-1. */
  readonly unitCount: number;
  /** Side of the square RGB input, pixels 0..255. */
  readonly inputSize: number;
  /** Per unit, what computes its prediction. */
  readonly sources: readonly ResponseSource[];
  /** Predicted response of unit `units[i]` to image i: pixels [N, S, S, 3] → [N]. Caller disposes. */
  predict(pixels: tf.Tensor4D, units: readonly number[]): tf.Tensor1D;
  /** Predictions of every unit: [N, S, S, 3] → [N, unitCount]. Caller disposes. */
  predictAll(pixels: tf.Tensor4D): tf.Tensor2D;
  /** d(Σ_i sign_i · prediction of unit `units[i]` to image i)/d pixels: [N, S, S, 3] (sign_i = 1 if absent). */
  gradient(pixels: tf.Tensor4D, units: readonly number[], signs?: readonly number[]): tf.Tensor4D;
  /**
   * Optional, faster `predict` for images that each equal a base image outside a box: image i is
   * `bases[baseOf[i]]` changed only inside `boxes[i]` (smoothing's candidates). Caller disposes.
   */
  predictNear?(
    bases: tf.Tensor4D,
    baseOf: readonly number[],
    pixels: tf.Tensor4D,
    boxes: readonly PixelBox[],
    units: readonly number[],
  ): tf.Tensor1D;
}

function checkBatch(
  where: string,
  pixels: tf.Tensor4D,
  units: readonly number[],
  unitCount: number,
  inputSize: number,
): void {
  const [n, h, w, c] = pixels.shape;
  if (h !== inputSize || w !== inputSize || c !== 3)
    throw new Error(`${where}: expected pixels [N, ${inputSize}, ${inputSize}, 3], got [${pixels.shape.join(", ")}]`);
  if (units.length !== n) throw new Error(`${where}: ${n} images but ${units.length} unit indices`);
  for (const u of units)
    if (!Number.isInteger(u) || u < 0 || u >= unitCount)
      throw new Error(`${where}: unit ${u} is not one of the model's ${unitCount} units`);
}

/**
 * A model that predicts every unit at once, `forward(pixels) → [N, units]` (the deep ensemble
 * behind its front end, or a test model): gradients by tf.grad through the one-hot selection.
 */
export function populationResponseModel(
  forward: (pixels: tf.Tensor4D) => tf.Tensor2D,
  unitCount: number,
  inputSize: number,
  source: ResponseSource = "ensemble",
): UnitResponseModel {
  const selected = (pixels: tf.Tensor4D, units: readonly number[], signs: readonly number[] | undefined): tf.Tensor1D =>
    tf.tidy(() => {
      const mask = tf.oneHot(tf.tensor1d([...units], "int32"), unitCount).toFloat();
      const weighted = signs === undefined ? mask : tf.mul(mask, tf.tensor2d([...signs], [signs.length, 1]));
      return tf.sum(tf.mul(forward(pixels), weighted), 1) as tf.Tensor1D;
    });
  return {
    unitCount,
    inputSize,
    sources: Array.from({ length: unitCount }, () => source),
    predict(pixels, units) {
      checkBatch("populationResponseModel.predict", pixels, units, unitCount, inputSize);
      return selected(pixels, units, undefined);
    },
    predictAll(pixels) {
      checkBatch(
        "populationResponseModel.predictAll",
        pixels,
        Array.from({ length: pixels.shape[0] }, () => 0),
        unitCount,
        inputSize,
      );
      return tf.tidy(() => forward(pixels));
    },
    gradient(pixels, units, signs) {
      checkBatch("populationResponseModel.gradient", pixels, units, unitCount, inputSize);
      return tf.tidy(
        () => tf.grad((x: tf.Tensor) => tf.sum(selected(x as tf.Tensor4D, units, signs)))(pixels) as tf.Tensor4D,
      );
    },
  };
}

/** One compact model (eval mode, folded) as a one-unit response model, with its hand-written input gradient. */
export function compactResponseModel(model: FastCompactModel): UnitResponseModel {
  const inputSize = model.inputSize;
  return {
    unitCount: 1,
    inputSize,
    sources: ["compact"],
    predict(pixels, units) {
      checkBatch("compactResponseModel.predict", pixels, units, 1, inputSize);
      return tf.tidy(() => tf.reshape(model.predict(pixels), [-1]) as tf.Tensor1D);
    },
    predictAll(pixels) {
      return model.predict(pixels);
    },
    gradient(pixels, units, signs) {
      checkBatch("compactResponseModel.gradient", pixels, units, 1, inputSize);
      return tf.tidy(() => {
        const g = model.inputGradient(pixels);
        return signs === undefined ? g : (tf.mul(g, tf.tensor4d([...signs], [signs.length, 1, 1, 1])) as tf.Tensor4D);
      });
    },
    predictNear(bases, baseOf, pixels, boxes, units) {
      checkBatch("compactResponseModel.predictNear", pixels, units, 1, inputSize);
      return tf.tidy(() => tf.reshape(model.predictNear(bases, baseOf, pixels, boxes), [-1]) as tf.Tensor1D);
    },
  };
}

/** Unit u of the routed model is unit `routes[u].unit` of `routes[u].model`. */
export interface UnitRoute {
  model: UnitResponseModel;
  unit: number;
}

/**
 * Units drawn from several models (each unit's compact model where it has one, the ensemble's
 * prediction for the others): a batch is split by model, run, and put back in its order.
 */
export function routedResponseModel(routes: readonly UnitRoute[]): UnitResponseModel {
  if (routes.length === 0) throw new Error("routedResponseModel: no units");
  const inputSize = routes[0]!.model.inputSize;
  for (const [u, r] of routes.entries()) {
    if (r.model.inputSize !== inputSize)
      throw new Error(
        `routedResponseModel: unit ${u}'s model takes ${r.model.inputSize} px images, unit 0's ${inputSize}`,
      );
    if (!Number.isInteger(r.unit) || r.unit < 0 || r.unit >= r.model.unitCount)
      throw new Error(`routedResponseModel: unit ${u} routes to unit ${r.unit} of a ${r.model.unitCount}-unit model`);
  }
  const models = [...new Set(routes.map((r) => r.model))];
  /** Runs `run` per model on its images; returns the parts and the batch order they came in. */
  const split = <T extends tf.Tensor>(
    pixels: tf.Tensor4D,
    units: readonly number[],
    run: (m: UnitResponseModel, x: tf.Tensor4D, local: number[], idx: number[]) => T,
  ): T => {
    const parts: T[] = [];
    const order: number[] = [];
    for (const m of models) {
      const idx: number[] = [];
      units.forEach((u, i) => {
        if (routes[u]!.model === m) idx.push(i);
      });
      if (idx.length === 0) continue;
      const x = idx.length === units.length ? pixels : (tf.gather(pixels, tf.tensor1d(idx, "int32")) as tf.Tensor4D);
      parts.push(
        run(
          m,
          x,
          idx.map((i) => routes[units[i]!]!.unit),
          idx,
        ),
      );
      order.push(...idx);
    }
    if (parts.length === 1 && order.every((o, i) => o === i)) return parts[0]!;
    const inverse = new Int32Array(order.length);
    order.forEach((o, i) => (inverse[o] = i));
    return tf.gather(tf.concat(parts, 0), tf.tensor1d(inverse, "int32")) as T;
  };
  return {
    unitCount: routes.length,
    inputSize,
    sources: routes.map((r) => r.model.sources[r.unit]!),
    predict(pixels, units) {
      checkBatch("routedResponseModel.predict", pixels, units, routes.length, inputSize);
      return tf.tidy(() => split(pixels, units, (m, x, local) => m.predict(x, local)));
    },
    predictAll(pixels) {
      return tf.tidy(() => {
        const all = new Map(models.map((m) => [m, m.predictAll(pixels)]));
        const columns = routes.map((r) => tf.slice(all.get(r.model)!, [0, r.unit], [-1, 1]));
        return tf.concat(columns, 1) as tf.Tensor2D;
      });
    },
    gradient(pixels, units, signs) {
      checkBatch("routedResponseModel.gradient", pixels, units, routes.length, inputSize);
      return tf.tidy(() =>
        split(pixels, units, (m, x, local, idx) =>
          m.gradient(x, local, signs === undefined ? undefined : idx.map((i) => signs[i]!)),
        ),
      );
    },
    predictNear(bases, baseOf, pixels, boxes, units) {
      checkBatch("routedResponseModel.predictNear", pixels, units, routes.length, inputSize);
      return tf.tidy(() =>
        split(pixels, units, (m, x, local, idx) => {
          if (m.predictNear === undefined) return m.predict(x, local);
          // Only the bases this model's images come from, renumbered.
          const { used, baseOf: mineOf } = usedBases(idx.map((i) => baseOf[i]!));
          const mine =
            used.length === bases.shape[0] && used.every((b, j) => b === j)
              ? bases
              : (tf.gather(bases, tf.tensor1d(used, "int32")) as tf.Tensor4D);
          return m.predictNear(
            mine,
            mineOf,
            x,
            idx.map((i) => boxes[i]!),
            local,
          );
        }),
      );
    },
  };
}
