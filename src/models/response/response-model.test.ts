import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { createCompactModel } from "../compact/model.js";
import { FastCompactModel } from "../compact/inference.js";
import { compactResponseModel, populationResponseModel, routedResponseModel } from "./response-model.js";

const S = 32;

function pixels(n: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([n, S, S, 3], 0, 255, "float32", seed) as tf.Tensor4D;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("unit response models", () => {
  it(
    "two compact models routed as units 0 and 1 (beside an ensemble-like unit 2) predict and differentiate " +
      "as their own models",
    () => {
      const plain = [
        createCompactModel([4, 4, 3, 3, 3], { inputSize: S, seed: 1 }),
        createCompactModel([4, 4, 3, 3, 3], { inputSize: S, seed: 2 }),
      ];
      const fast = plain.map((m) => FastCompactModel.fromModel(m));
      const population = populationResponseModel(
        (x) =>
          tf.concat(
            [plain[1]!.apply(x) as tf.Tensor2D, tf.mul(plain[0]!.apply(x) as tf.Tensor2D, 2)],
            1,
          ) as tf.Tensor2D,
        2,
        S,
      );
      const routed = routedResponseModel([
        { model: compactResponseModel(fast[0]!), unit: 0 },
        { model: compactResponseModel(fast[1]!), unit: 0 },
        { model: population, unit: 1 },
      ]);
      expect(routed.sources).toEqual(["compact", "compact", "ensemble"]);
      const x = pixels(4, 3);
      const units = [1, 0, 2, 1];
      const before = tf.memory().numTensors;
      const p = routed.predict(x, units);
      const g = routed.gradient(x, units, [1, -1, 1, 2]);
      const all = routed.predictAll(x);
      expect(tf.memory().numTensors).toBe(before + 3);
      const gradOf = (m: tf.LayersModel, scale: number) =>
        tf.grad((t: tf.Tensor) => tf.mul(tf.sum(m.apply(t) as tf.Tensor), scale));
      const row = (i: number) => tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
      const want = [plain[1]!, plain[0]!, plain[0]!, plain[1]!].map(
        (m, i) => (m.predict(row(i)) as tf.Tensor).dataSync()[0]! * (i === 2 ? 2 : 1),
      );
      Array.from(p.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 3));
      const wantG = tf.concat([
        gradOf(plain[1]!, 1)(row(0)),
        gradOf(plain[0]!, -1)(row(1)),
        gradOf(plain[0]!, 2)(row(2)),
        gradOf(plain[1]!, 2)(row(3)),
      ]);
      const scale = tf.max(tf.abs(wantG)).dataSync()[0]!;
      expect(scale).toBeGreaterThan(0);
      expect(tf.max(tf.abs(tf.sub(g, wantG))).dataSync()[0]! / scale).toBeLessThan(1e-3);
      expect(all.shape).toEqual([4, 3]);
      expect(all.arraySync()[0]![1]).toBeCloseTo(want[0]!, 3);
      expect(() => routed.predict(x, [0, 1, 2, 3])).toThrow(/unit 3 is not one of the model's 3 units/);
    },
  );
});
