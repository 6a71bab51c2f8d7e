import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { reduceLeadingConfigs } from "./reduce_leading.js";
import { compareOnBoth, randomTensor, useWasm } from "./test_util.js";

describe("Sum/Mean over [N, H, W] on wasm (pooling, no transpose) match cpu", () => {
  it("is registered for wasm", async () => {
    await useWasm();
    for (const config of reduceLeadingConfigs()) expect(tf.getKernel(config.kernelName, "wasm")).toBe(config);
    expect(
      reduceLeadingConfigs()
        .map((c) => c.kernelName)
        .sort(),
    ).toEqual(["Mean", "Sum"]);
  });
  for (const shape of [
    [3, 9, 8, 5],
    [1, 10, 10, 4],
    [2, 4, 4, 3],
    [4, 16, 12, 7],
  ]) {
    it(`shape ${shape.join("x")}`, async () => {
      await compareOnBoth(`reduce ${shape}`, () => {
        const x = tf.tidy(() => randomTensor(shape, 31).add(0.3));
        const scale = tf.tidy(() => randomTensor([shape[3]!], 32).add(1.5));
        const offset = randomTensor([shape[3]!], 33);
        const out = [
          tf.sum(x, [0, 1, 2]),
          tf.sum(x, [2, 0, 1], true),
          tf.mean(x, [0, 1, 2]),
          tf.mean(x, [0, 1, 2], true),
          tf.sum(x, [1, 2]),
          tf.mean(x, -1),
          tf.sum(x),
          ...Object.values(tf.moments(x, [0, 1, 2], true)),
          // Gradient through batchnorm statistics, as training computes it.
          tf.grad((t: tf.Tensor) => {
            const { mean, variance } = tf.moments(t, [0, 1, 2]);
            return tf.batchNorm(t, mean, variance, offset, scale, 1e-3).square().mul(t).sum();
          })(x),
        ];
        tf.dispose([x, scale, offset]);
        return out;
      });
    });
  }
});
