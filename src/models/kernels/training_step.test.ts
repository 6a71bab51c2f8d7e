import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { createCompactModel } from "../compact/model.js";
import { randomValues, useWasm } from "./test_util.js";

/** A compact-model-like net at 32x32: conv5x5+BN+ReLU, separable stride 2, dense; Adam + MSE. */
async function trainSteps(steps: number): Promise<{ losses: number[]; tensorCounts: number[] }> {
  const model = createCompactModel([6, 5, 4, 4, 3], { inputSize: 32, seed: 7 });
  const optimizer = tf.train.adam(1e-3);
  const x = tf.tensor4d(
    Float32Array.from(randomValues(4 * 32 * 32 * 3, 1), (v) => (v + 1) * 127.5),
    [4, 32, 32, 3],
  );
  const y = tf.tensor2d(randomValues(4, 2), [4, 1]);
  const losses: number[] = [];
  const tensorCounts: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = optimizer.minimize(
      () => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      true,
    );
    losses.push((await loss!.data())[0]!);
    loss!.dispose();
    tensorCounts.push(tf.memory().numTensors);
  }
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return { losses, tensorCounts };
}

describe("training step on wasm", () => {
  it("leaks no tensors and matches cpu", async () => {
    await tf.setBackend("cpu");
    const cpu = await trainSteps(3);
    await useWasm();
    const before = tf.memory().numTensors;
    const wasm = await trainSteps(4);
    // Adam creates its moment slots on the first step; afterwards the count must not move.
    expect(wasm.tensorCounts.slice(1), `tensor counts per step ${wasm.tensorCounts}`).toEqual(
      Array(3).fill(wasm.tensorCounts[1]),
    );
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 3; i++)
      expect(Math.abs(wasm.losses[i]! - cpu.losses[i]!)).toBeLessThanOrEqual(1e-3 * Math.max(1, cpu.losses[i]!));
    expect(wasm.losses[2]!).toBeLessThan(wasm.losses[0]!);
  });
});
