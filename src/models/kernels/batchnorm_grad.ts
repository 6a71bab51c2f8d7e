// FusedBatchNorm gradient with broadcasting: tfjs's own tiles every per-channel factor to the full
// activation size, which dominated training time and memory on wasm.
import * as tf from "@tensorflow/tfjs";
import type { GradConfig, NamedAttrMap } from "@tensorflow/tfjs";

/** tfjs's gradient as shipped, kept for tests and for ranks our version does not handle. */
export const ORIGINAL_BATCHNORM_GRAD: GradConfig | undefined = tf.getGradient("FusedBatchNorm");

export const batchNormGradConfig: GradConfig = {
  kernelName: "FusedBatchNorm",
  inputsToSave: ["x", "mean", "variance", "scale"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: NamedAttrMap) => {
    const g = dy as tf.Tensor;
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const eps = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
    if (
      mean.rank !== 1 ||
      variance.rank !== 1 ||
      (scale !== undefined && scale.rank !== 1) ||
      ORIGINAL_BATCHNORM_GRAD === undefined
    ) {
      if (ORIGINAL_BATCHNORM_GRAD === undefined)
        throw new Error("batchNormGrad: tfjs has no FusedBatchNorm gradient to fall back on");
      return ORIGINAL_BATCHNORM_GRAD.gradFunc(dy, saved, attrs);
    }
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    // Per-channel factors are [C] and broadcast against the last axis; sums are computed once and shared.
    const r = tf.rsqrt(tf.add(variance, eps));
    const s = scale ?? tf.onesLike(mean);
    // Each thunk runs in its own tidy, so the shared sums are recomputed rather than kept alive.
    const sumDy = (): tf.Tensor => tf.sum(g, axes);
    const sumDyXm = (): tf.Tensor => tf.sum(tf.mul(g, tf.sub(x, mean)), axes);
    return {
      x: () => tf.mul(g, tf.mul(s, r)),
      mean: () => tf.neg(tf.mul(sumDy(), tf.mul(s, r))),
      variance: () => tf.mul(sumDyXm(), tf.mul(s, tf.mul(tf.pow(r, 3), -0.5))),
      scale: () => tf.mul(sumDyXm(), r),
      offset: () => sumDy(),
    };
  },
};

/** Replaces tfjs's FusedBatchNorm gradient (backend-independent). Idempotent. */
export function registerBatchNormGradient(): void {
  if (tf.getGradient("FusedBatchNorm") === batchNormGradConfig) return;
  tf.registerGradient(batchNormGradConfig);
}
