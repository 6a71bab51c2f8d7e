import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { compareOnBoth, randomTensor, WASM_PATHS } from "./test_util.js";

describe("FusedBatchNorm on wasm (per-channel SIMD multiply-add) matches cpu", () => {
  const channels = [5, 8, 1];
  for (const path of WASM_PATHS) {
    for (const c of channels) {
      it(`${c} channels, per-channel, scalar and missing statistics (${path} path)`, async () => {
        await compareOnBoth(
          `batchnorm ${c}`,
          () => {
            const x = randomTensor([3, 4, 6, c], 21);
            const mean = randomTensor([c], 22);
            const variance = tf.tidy(() => tf.add(tf.abs(randomTensor([c], 23)), 0.1));
            const scale = randomTensor([c], 24);
            const offset = randomTensor([c], 25);
            const out = tf.tidy(() => [
              tf.batchNorm(x, mean, variance, offset, scale, 1e-3),
              tf.batchNorm(x, mean, variance),
              tf.batchNorm(x, tf.scalar(0.3), tf.scalar(2), tf.scalar(-1), tf.scalar(0.5), 1e-5),
              // Statistics of x's rank (broadcast): the runtime's own kernel.
              tf.batchNorm(x, tf.reshape(mean, [1, 1, 1, c]), tf.reshape(variance, [1, 1, 1, c])),
            ]);
            tf.dispose([x, mean, variance, scale, offset]);
            return out;
          },
          path,
        );
      });
    }
  }
});
