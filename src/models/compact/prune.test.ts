import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { useWasm, randomValues } from "../kernels/test_util.js";
import { compactModelArrays, compactModelFromArrays, createCompactModel } from "./model.js";
import type { NdArray } from "./npy.js";
import { filterAblationEffects, pruneArrays, pruneCompactModel, takeAxis, varianceKept } from "./prune.js";

const size = 32;

/** A small model (input 32) with varied batchnorm statistics, so every layer matters. */
function modelArrays(filters: number[], seed: number): NdArray[] {
  const model = createCompactModel(filters, { inputSize: size, seed });
  const arrays = compactModelArrays(model);
  model.dispose();
  let s = seed * 10;
  for (const first of [0, 6, 13, 20, 27]) {
    const bn = first === 0 ? 2 : first + 3;
    const c = arrays[bn]!.shape[0]!;
    arrays[bn] = { shape: [c], dtype: "f4", data: Float32Array.from(randomValues(c, s++), (v) => 1 + 0.4 * v) };
    arrays[bn + 1] = { shape: [c], dtype: "f4", data: Float32Array.from(randomValues(c, s++), (v) => 0.3 + 0.2 * v) };
    arrays[bn + 3] = { shape: [c], dtype: "f4", data: Float32Array.from(randomValues(c, s++), (v) => 1 + 0.5 * v) };
  }
  return arrays;
}

function pixels(n: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(
    Float32Array.from(randomValues(n * size * size * 3, seed), (v) => (v + 1) * 127.5),
    [n, size, size, 3],
  );
}

function predict(arrays: NdArray[], x: tf.Tensor4D): Float32Array {
  const model = compactModelFromArrays(arrays, "test", { inputSize: size });
  const out = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  return out;
}

/** The model's output with the filters not kept zeroed after their ReLU (what removing them should equal). */
function predictMasked(arrays: NdArray[], x: tf.Tensor4D, kept: number[][]): Float32Array {
  const model = compactModelFromArrays(arrays, "test", { inputSize: size });
  const out = tf.tidy(() => {
    let a: tf.Tensor = x;
    let relu = -1;
    for (const layer of model.layers.slice(1)) {
      a = layer.apply(a) as tf.Tensor;
      if (layer.name.endsWith("_relu")) {
        relu++;
        const k = a.shape[3]!;
        const mask = new Float32Array(k);
        for (const j of kept[relu]!) mask[j] = 1;
        a = tf.mul(a, tf.tensor1d(mask));
      }
    }
    return a.dataSync() as Float32Array;
  });
  model.dispose();
  return out;
}

beforeAll(async () => {
  await useWasm();
});

describe("pruning", () => {
  it("takeAxis picks positions along an axis", () => {
    const a: NdArray = { shape: [2, 3], dtype: "f4", data: Float32Array.of(0, 1, 2, 3, 4, 5) };
    expect(Array.from(takeAxis(a, 1, [2, 0]).data)).toEqual([2, 0, 5, 3]);
    expect(takeAxis(a, 0, [1]).shape).toEqual([1, 3]);
    expect(() => takeAxis(a, 1, [3])).toThrow(/index 3 out of range 0\.\.2 on axis 1/);
  });

  it("removing filters gives exactly the output with those filters zeroed", () => {
    const arrays = modelArrays([6, 5, 4, 4, 3], 1);
    const kept = [
      [0, 2, 5],
      [1, 2, 3, 4],
      [0, 3],
      [1, 2, 3],
      [0, 2],
    ];
    const x = pixels(3, 2);
    const pruned = pruneArrays(arrays, kept);
    expect([0, 7, 14, 21, 28].map((i) => pruned[i]!.shape[3])).toEqual([3, 4, 2, 3, 2]);
    const got = predict(pruned, x);
    const want = predictMasked(arrays, x, kept);
    // Not vacuous: removing them changes the output.
    const full = predict(arrays, x);
    expect(Math.max(...Array.from(full, (v, i) => Math.abs(v - want[i]!)))).toBeGreaterThan(1e-3);
    got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want[i]!))));
    x.dispose();
  });

  it("ablation effects (rank-one shortcut) equal the brute-force output change of removing each filter", () => {
    const arrays = modelArrays([6, 5, 4, 4, 3], 3);
    const x = pixels(4, 4);
    const full = predict(arrays, x);
    for (const layer of [0, 1, 3, 4]) {
      const effects = filterAblationEffects(arrays, x, layer);
      const k = [6, 5, 4, 4, 3][layer]!;
      for (let j = 0; j < k; j++) {
        const kept = [6, 5, 4, 4, 3].map((n, l) =>
          Array.from({ length: n }, (_, i) => i).filter((i) => l !== layer || i !== j),
        );
        const out = predict(pruneArrays(arrays, kept), x);
        const brute = out.reduce((s, v, i) => s + (v - full[i]!) ** 2, 0) / out.length;
        expect(Math.abs(effects[j]! - brute)).toBeLessThanOrEqual(1e-3 * Math.max(1e-3, brute));
      }
    }
    x.dispose();
  });

  it(
    "prunes deepest first to the stated variance, never below the minimum, removing more when less variance must " +
      "be kept",
    () => {
      const arrays = modelArrays([8, 8, 6, 6, 6], 5);
      // Layer 2 filters 4 and 5 feed nothing: their rows of layer 3's pointwise kernel are zero.
      const pw3 = arrays[21]!;
      const data = Float32Array.from(pw3.data);
      for (const c of [4, 5]) for (let o = 0; o < 6; o++) data[c * 6 + o] = 0;
      arrays[21] = { ...pw3, data };
      const x = pixels(16, 6);
      const tensorsBefore = tf.memory().numTensors;
      const strict = pruneCompactModel(arrays, x, { keepVariance: 0.999, minFilters: 2 });
      const loose = pruneCompactModel(arrays, x, { keepVariance: 0.6, minFilters: 2 });
      expect(tf.memory().numTensors, "pruning leaked tensors").toBe(tensorsBefore);
      for (const r of [strict, loose]) {
        r.after.forEach((k) => expect(k).toBeGreaterThanOrEqual(2));
        expect(r.kept.map((k) => k.length)).toEqual(r.after);
        r.kept.forEach((k) => expect([...k].sort((a, b) => a - b)).toEqual(k));
      }
      // The dead filters go even when almost all the variance must be kept.
      expect(strict.kept[2]).not.toContain(4);
      expect(strict.kept[2]).not.toContain(5);
      expect(strict.varianceKept).toBeGreaterThanOrEqual(0.999);
      expect(loose.varianceKept).toBeGreaterThanOrEqual(0.6);
      const total = (r: typeof strict): number => r.after.reduce((a, b) => a + b, 0);
      expect(total(loose)).toBeLessThan(total(strict));
      // The pruned arrays compute what the stated variance says.
      const full = predict(arrays, x);
      expect(varianceKept(predict(loose.arrays, x), full)).toBeCloseTo(loose.varianceKept, 4);
      x.dispose();
    },
  );
});
