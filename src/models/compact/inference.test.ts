import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { createCompactModel } from "./model.js";
import { expectClose, onBoth, randomTensor, randomValues } from "../kernels/test_util.js";
import { FastCompactModel } from "./inference.js";

/** A small compact model with non-trivial batchnorm statistics, so folding is really exercised. */
function smallModel(filters: number[]): tf.LayersModel {
  const model = createCompactModel(filters, { inputSize: 32, seed: 3 });
  let seed = 100;
  for (const layer of model.layers) {
    if (!layer.name.endsWith("_bn")) continue;
    const c = layer.getWeights()[0]!.shape[0]!;
    const [gamma, beta, mean, variance] = [0, 1, 2, 3].map(() => randomTensor([c], seed++));
    const weights = tf.tidy(() => [gamma!.mul(0.5).add(1), beta!.mul(0.2), mean!.mul(0.3), variance!.abs().add(0.5)]);
    layer.setWeights(weights);
    tf.dispose([gamma!, beta!, mean!, variance!, ...weights]);
  }
  return model;
}

function pixels(batch: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(
    Float32Array.from(randomValues(batch * 32 * 32 * 3, seed), (v) => (v + 1) * 127.5),
    [batch, 32, 32, 3],
  );
}

describe("FastCompactModel (folded batchnorm, hand-written input gradient)", () => {
  // [6,5,4,4,3]: layers 3 and 4 composed into single convs; [6,5,4,9,8]: layer 4 stays separable.
  it.each([[[6, 5, 4, 4, 3]], [[6, 5, 4, 9, 8]]])(
    "filters %j: predicts and differentiates like the plain model, on cpu and wasm",
    async (filters) => {
      const { cpu, wasm } = await onBoth(() => {
        const model = smallModel(filters);
        const fast = FastCompactModel.fromModel(model);
        const x = pixels(3, 5);
        const img = pixels(1, 6);
        const plainGrad = tf.grad((t: tf.Tensor) => (model.apply(t) as tf.Tensor).sum());
        const out = [
          model.predict(x) as tf.Tensor,
          fast.predict(x),
          plainGrad(x),
          fast.inputGradient(x),
          plainGrad(img),
          fast.inputGradient(img),
          tf.tidy(() => {
            const g = plainGrad(img);
            return img.add(g.mul(10).div(g.square().mean().sqrt().add(1e-5)));
          }),
          fast.ascentStep(img),
        ];
        tf.dispose([x, img]);
        fast.dispose();
        model.dispose();
        return out;
      });
      // Not vacuous: the outputs and gradients are non-zero.
      for (const i of [0, 2, 4])
        expect(Math.max(...cpu[i]!.map(Math.abs)), `cpu output ${i} is all zeros`).toBeGreaterThan(1e-3);
      for (const [name, values] of [
        ["cpu", cpu],
        ["wasm", wasm],
      ] as const) {
        for (let i = 0; i < values.length; i += 2)
          expectClose(values[i + 1]!, values[i]!, `${name} output ${i / 2} fast vs plain`);
      }
      wasm.forEach((v, i) => expectClose(v, cpu[i]!, `output ${i} wasm vs cpu`));
    },
  );
});
