import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/models/backend.js";
import { scaledResponseModel } from "../../src/main/causal/index.js";
import { startSynthesisPool } from "../../src/main/causal/synthesis-pool.js";
import { generateImages } from "../../src/stimulus/index.js";
import { imagesToTensor } from "../../src/stimulus/synthesis/index.js";
import { compactUnits, type CompactUnits } from "../helpers/compact-units.js";

let models: CompactUnits;
const scale = { mean: [3, -1], std: [2, 0.5] };

beforeAll(async () => {
  await selectBackend({ log: () => {} });
  models = compactUnits([8, 9]);
});
afterAll(() => models.dispose());

describe("scaledResponseModel", () => {
  it("maps every prediction onto responses unit by unit, the gradient and smoothing's fast path alike", () => {
    const scaled = scaledResponseModel(models.model, scale);
    const images = generateImages("gratings", 4, 112, 5);
    const x = imagesToTensor(images);
    const units = [0, 1, 1, 0];
    const raw = models.model.predict(x, units).dataSync();
    const got = scaled.model.predict(x, units).dataSync();
    units.forEach((u, i) => expect(got[i]).toBeCloseTo(scale.mean[u]! + scale.std[u]! * raw[i]!, 4));
    const all = scaled.model.predictAll(x).dataSync();
    const rawAll = models.model.predictAll(x).dataSync();
    for (let i = 0; i < 4; i++)
      for (const u of [0, 1])
        expect(all[i * 2 + u]).toBeCloseTo(scale.mean[u]! + scale.std[u]! * rawAll[i * 2 + u]!, 4);
    const g = scaled.model.gradient(x, units, [1, -1, 1, 1]).dataSync();
    const rawG = models.model.gradient(x, units, [1, -1, 1, 1]).dataSync();
    const per = 112 * 112 * 3;
    for (const i of [0, 1]) expect(g[i * per + 5000]).toBeCloseTo(scale.std[units[i]!]! * rawG[i * per + 5000]!, 4);
    expect(scaled.model.predictNear).toBeDefined();
    const box = { y0: 10, y1: 20, x0: 30, x1: 40 };
    const near = scaled.model.predictNear!(x, [0, 1, 2, 3], x, [box, box, box, box], units).dataSync();
    units.forEach((_, i) => expect(near[i]).toBeCloseTo(got[i]!, 3));
    tf.dispose(x);
    scaled.dispose();
  });

  it("on the synthesis workers gives the same images with the predictions mapped", async () => {
    const plain = await startSynthesisPool(models.arrays, 112, { workers: 1 });
    const scaled = await startSynthesisPool(models.arrays, 112, { workers: 1, scale });
    try {
      const job = { kind: "maximizing synthesized" as const, units: [0, 1], options: { restarts: 1, steps: 3 } };
      const a = await plain.run(job);
      const b = await scaled.run(job);
      a.output.forEach((m, k) => {
        const other = b.output[k]!;
        // The steps are normalized: the same path, up to float rounding.
        let differ = 0;
        m.image.pixels0to255.forEach((v, j) => (differ += Math.abs(v - other.image.pixels0to255[j]!) > 2 ? 1 : 0));
        expect(differ / m.image.pixels0to255.length).toBeLessThan(0.01);
        expect(other.predicted).toBeCloseTo(scale.mean[m.unit]! + scale.std[m.unit]! * m.predicted, 1);
      });
    } finally {
      await Promise.all([plain.close(), scaled.close()]);
    }
  });
});
