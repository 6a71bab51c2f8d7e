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

describe("FastCompactModel.predictNear (layers 0-2 recomputed around a changed box)", () => {
  // Boxes at the corners and edges (the windows clamp, 'same' padding reads zeros) and inside.
  const boxes = [
    { y0: 0, y1: 6, x0: 0, x1: 6 },
    { y0: 26, y1: 32, x0: 26, x1: 32 },
    { y0: 0, y1: 6, x0: 26, x1: 32 },
    { y0: 13, y1: 19, x0: 7, x1: 13 },
    { y0: 9, y1: 12, x0: 20, x1: 29 },
    { y0: 5, y1: 6, x0: 5, x1: 6 },
  ];
  it.each([[[6, 5, 4, 4, 3]], [[6, 5, 4, 9, 8]]])(
    "filters %j: equals predict on each whole image within 1e-4 relative, on cpu and wasm",
    async (filters) => {
      const { cpu, wasm } = await onBoth(() => {
        const model = smallModel(filters);
        const fast = FastCompactModel.fromModel(model);
        const bases = pixels(2, 7);
        const baseValues = bases.dataSync();
        const changes = randomValues(boxes.length * 32 * 32 * 3, 8);
        const per = 32 * 32 * 3;
        const baseOf = boxes.map((_, i) => i % 2);
        const images = new Float32Array(boxes.length * per);
        boxes.forEach((b, i) => {
          images.set(baseValues.subarray(baseOf[i]! * per, (baseOf[i]! + 1) * per), i * per);
          for (let y = b.y0; y < b.y1; y++)
            for (let x = b.x0; x < b.x1; x++)
              for (let c = 0; c < 3; c++)
                images[i * per + (y * 32 + x) * 3 + c] = (changes[i * per + y * 32 + x]! + 1) * 127.5;
        });
        const x = tf.tensor4d(images, [boxes.length, 32, 32, 3]);
        const out = [fast.predict(x), fast.predictNear(bases, baseOf, x, boxes), fast.predict(bases)];
        tf.dispose([x, bases]);
        fast.dispose();
        model.dispose();
        return out;
      });
      for (const [name, values] of [
        ["cpu", cpu],
        ["wasm", wasm],
      ] as const) {
        const [whole, near, base] = values as [Float32Array, Float32Array, Float32Array];
        // Not vacuous: every box changed its image's prediction.
        whole.forEach((v, i) =>
          expect(Math.abs(v - base[i % 2]!), `${name} image ${i} unchanged`).toBeGreaterThan(1e-4),
        );
        whole.forEach((v, i) =>
          expect(Math.abs(near[i]! - v), `${name} image ${i}: near ${near[i]} vs whole ${v}`).toBeLessThanOrEqual(
            1e-4 * Math.max(1e-3, Math.abs(v)),
          ),
        );
      }
    },
  );

  it("refuses images without a base or a box, and boxes outside the image", () => {
    const model = smallModel([6, 5, 4, 4, 3]);
    const fast = FastCompactModel.fromModel(model);
    const x = pixels(2, 9);
    expect(() => fast.predictNear(x, [0, 2], x, boxes.slice(0, 2))).toThrow(/base 2 is not one of 2/);
    expect(() => fast.predictNear(x, [0], x, boxes.slice(0, 2))).toThrow(/2 images but 1 base indices/);
    const outside = { y0: 28, y1: 34, x0: 0, x1: 6 };
    expect(() => fast.predictNear(x, [0, 1], x, [boxes[0]!, outside])).toThrow(
      /rows 28..34, columns 0..6 is not within/,
    );
    tf.dispose(x);
    fast.dispose();
    model.dispose();
  });
});
