import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { consensusResponseModel } from "./consensus.js";
import { populationResponseModel, type UnitResponseModel } from "./response-model.js";

const S = 8;

/** Two units, each a fixed random linear filter on the pixels (seeded), times `gain`. */
function linear(seed: number, gain: number): UnitResponseModel {
  const w = tf.keep(tf.mul(tf.randomNormal([S * S * 3, 2], 0, 1, "float32", seed), gain) as tf.Tensor2D);
  return populationResponseModel((x) => tf.matMul(tf.reshape(x, [x.shape[0], -1]), w) as tf.Tensor2D, 2, S);
}

const pixels = (n: number, seed: number): tf.Tensor4D =>
  tf.randomUniform([n, S, S, 3], 0, 255, "float32", seed) as tf.Tensor4D;

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("consensus of several models of the same units", () => {
  const a = linear(1, 0.01);
  const b = linear(2, 0.03);
  const scales = [
    [
      { mean: 10, sd: 2 },
      { mean: -5, sd: 4 },
    ],
    [
      { mean: 0, sd: 6 },
      { mean: 3, sd: 12 },
    ],
  ];
  const z = (m: UnitResponseModel, k: number, x: tf.Tensor4D, units: number[]): number[] => {
    const p = m.predict(x, units).arraySync();
    return p.map((v, i) => (v - scales[k]![units[i]!]!.mean) / scales[k]![units[i]!]!.sd);
  };

  it("predicts the hard minimum of the standardized predictions at temperature 0, and a soft one below it", () => {
    const x = pixels(4, 7);
    const units = [0, 1, 1, 0];
    const za = z(a, 0, x, units);
    const zb = z(b, 1, x, units);
    const hard = consensusResponseModel([a, b], scales, { temperature: 0 }).predict(x, units).arraySync();
    hard.forEach((v, i) => expect(v).toBeCloseTo(Math.min(za[i]!, zb[i]!), 3));
    const soft = consensusResponseModel([a, b], scales, { temperature: 1 }).predict(x, units).arraySync();
    soft.forEach((v, i) => {
      const expected = -Math.log(Math.exp(-za[i]!) + Math.exp(-zb[i]!));
      expect(v).toBeCloseTo(expected, 3);
      expect(v).toBeLessThan(Math.min(za[i]!, zb[i]!));
    });
    // predictAll agrees with predict, unit by unit.
    const all = consensusResponseModel([a, b], scales, { temperature: 1 }).predictAll(x).arraySync();
    units.forEach((u, i) => expect(all[i]![u]!).toBeCloseTo(soft[i]!, 3));
  });

  it("gives the gradient of its prediction, and of the soft maximum's negative when descending", () => {
    const consensus = consensusResponseModel([a, b], scales, { temperature: 0.7 });
    const x = pixels(3, 11);
    const units = [1, 0, 1];
    const g = consensus.gradient(x, units).dataSync();
    const expected = tf
      .grad((p: tf.Tensor) => tf.sum(consensus.predict(p as tf.Tensor4D, units)))(x)
      .dataSync();
    expect(g).toHaveLength(3 * S * S * 3);
    g.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
    // Descending: the gradient of −(soft maximum), −τ log Σ exp(−(−z)/τ) taken on the signed scores.
    const signs = [-1, 1, -1];
    const down = consensus.gradient(x, units, signs).dataSync();
    const objective = (p: tf.Tensor): tf.Scalar =>
      tf.tidy(() => {
        const zs = [a, b].map((m, k) =>
          tf.div(
            tf.sub(
              m.predict(p as tf.Tensor4D, units),
              units.map((u) => scales[k]![u]!.mean),
            ),
            units.map((u) => scales[k]![u]!.sd),
          ),
        );
        const s = tf.tensor1d(signs);
        const stacked = tf.mul(tf.stack(zs, 1), tf.reshape(s, [-1, 1]));
        return tf.sum(tf.mul(tf.logSumExp(tf.div(stacked, -0.7), 1), -0.7)) as tf.Scalar;
      });
    const wanted = tf.grad(objective)(x).dataSync();
    down.forEach((v, i) => expect(v).toBeCloseTo(wanted[i]!, 4));
  });

  it("refuses models of different units or scales that cannot standardize", () => {
    const one = populationResponseModel((x) => tf.zeros([x.shape[0], 1]) as tf.Tensor2D, 1, S);
    expect(() => consensusResponseModel([a, one], scales)).toThrow(/model 1 has 1 units/);
    expect(() =>
      consensusResponseModel(
        [a, b],
        [
          scales[0]!,
          [
            { mean: 0, sd: 0 },
            { mean: 0, sd: 1 },
          ],
        ],
      ),
    ).toThrow(/sd > 0/);
    expect(() => consensusResponseModel([a, b], scales, { temperature: -1 })).toThrow(/temperature/);
  });
});
