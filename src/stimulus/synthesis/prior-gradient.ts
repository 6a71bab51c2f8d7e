// The gradient that synthesis follows, with image priors applied to it: jitter (the gradient taken on
// the image shifted by a few pixels, then shifted back) and blur. Both favour changes that move the
// unit wherever its features fall by a few pixels and that are smooth, rather than one exact
// high-frequency pixel pattern, which another model of the same neuron (or the neuron) does not share.
import * as tf from "@tensorflow/tfjs";
import type { UnitResponseModel } from "../../models/response/index.js";
import type { Random } from "../random.js";
import { blurTensor } from "./tensors.js";

export interface GradientPriors {
  /** Largest shift in x and y (whole pixels, wrapping round); 0 off. */
  jitterPx: number;
  /** Gaussian blur of the gradient (sigma in px); 0 off. */
  gradientBlurPx: number;
}

/** What is wrong with `priors`, or undefined: the jitter is whole pixels ≥ 0, the blur ≥ 0. */
export function priorsProblem(priors: GradientPriors): string | undefined {
  if (!Number.isInteger(priors.jitterPx) || priors.jitterPx < 0)
    return `jitterPx must be a whole number ≥ 0, got ${priors.jitterPx}.`;
  if (!(priors.gradientBlurPx >= 0)) return `gradientBlurPx must be ≥ 0, got ${priors.gradientBlurPx}.`;
  return undefined;
}

/** x [N, H, W, C] shifted by dy rows and dx columns, wrapping round (the pixel at (y, x) moves to (y+dy, x+dx)). */
export function roll2d(x: tf.Tensor4D, dy: number, dx: number): tf.Tensor4D {
  return tf.tidy(() => {
    const along = (t: tf.Tensor4D, shift: number, axis: 1 | 2): tf.Tensor4D => {
      const n = t.shape[axis];
      const s = ((shift % n) + n) % n;
      if (s === 0) return t;
      const begin = [0, 0, 0, 0];
      const size = [-1, -1, -1, -1];
      size[axis] = n - s;
      const head = tf.slice(t, begin, size);
      begin[axis] = n - s;
      size[axis] = s;
      return tf.concat([tf.slice(t, begin, size), head], axis) as tf.Tensor4D;
    };
    return along(along(x, dy, 1), dx, 2);
  });
}

/**
 * d(Σ_i sign_i · prediction of unit `units[i]` to image i)/d pixels, taken on the batch shifted by one
 * seeded random shift up to `jitterPx` (drawn from `random`, so seeded runs repeat) and blurred.
 */
export function priorGradient(
  model: UnitResponseModel,
  x: tf.Tensor4D,
  units: readonly number[],
  signs: readonly number[] | undefined,
  priors: GradientPriors,
  random: Random,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [dy, dx] = [0, 0].map(() =>
      priors.jitterPx > 0 ? random.int(2 * priors.jitterPx + 1) - priors.jitterPx : 0,
    );
    const raw =
      dy === 0 && dx === 0
        ? model.gradient(x, units, signs)
        : roll2d(model.gradient(roll2d(x, dy!, dx!), units, signs), -dy!, -dx!);
    return blurTensor(raw, priors.gradientBlurPx);
  });
}
