import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { createCompactModel } from "./model.js";
import { expectClose, randomValues, useWasm } from "../kernels/test_util.js";
import { compactTrainingForward } from "./training.js";

/** Loss, gradients (sorted by variable name) and BN moving statistics after one step of `forward`. */
async function step(
  forward: (m: tf.LayersModel, x: tf.Tensor4D) => tf.Tensor,
): Promise<{ loss: number; grads: [string, Float32Array][]; moving: Float32Array[]; numTensors: number }> {
  const model = createCompactModel([6, 5, 4, 4, 3], { inputSize: 32, seed: 7 });
  const x = tf.tensor4d(
    Float32Array.from(randomValues(4 * 32 * 32 * 3, 1), (v) => (v + 1) * 127.5),
    [4, 32, 32, 3],
  );
  const y = tf.tensor2d(randomValues(4, 2), [4, 1]);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(y, forward(model, x)) as tf.Scalar);
  const loss = (await value.data())[0]!;
  const out: [string, Float32Array][] = [];
  for (const name of Object.keys(grads).sort())
    out.push([name.replace(/_\d+$/, ""), (await grads[name]!.data()) as Float32Array]);
  tf.dispose([value, ...Object.values(grads)]);
  const numTensors = tf.memory().numTensors - before;
  const moving: Float32Array[] = [];
  for (const layer of model.layers.filter((l) => l.name.endsWith("_bn"))) {
    for (const w of layer.getWeights().slice(2)) moving.push((await w.data()) as Float32Array);
  }
  tf.dispose([x, y]);
  model.dispose();
  return { loss, grads: out, moving, numTensors };
}

const viaLayers = (m: tf.LayersModel, x: tf.Tensor4D): tf.Tensor => m.apply(x, { training: true }) as tf.Tensor;

describe("compactTrainingForward", () => {
  it("matches model.apply(training) on cpu (loss, every gradient, moving stats), on cpu and on wasm", async () => {
    await tf.setBackend("cpu");
    const ref = await step(viaLayers);
    for (const backend of ["cpu", "wasm"]) {
      if (backend === "wasm") await useWasm();
      const fast = await step(compactTrainingForward);
      expect(Math.abs(fast.loss - ref.loss), backend).toBeLessThanOrEqual(1e-4 * Math.max(1, ref.loss));
      expect(fast.grads.length).toBe(26);
      expect(fast.grads.map(([n]) => n)).toEqual(ref.grads.map(([n]) => n));
      fast.grads.forEach(([name, g], i) => expectClose(g, ref.grads[i]![1], `${backend} ${name}`));
      fast.moving.forEach((v, i) => expectClose(v, ref.moving[i]!, `${backend} moving stat ${i}`));
      expect(fast.numTensors, `${backend}: tensors leaked`).toBe(0);
    }
  });
});
