// The simulated rig's compact-model neurons: each model's output maps linearly onto the rate range over
// the calibration images, and images the model rates above all of them drive the neuron above that range
// (up to the ceiling), as synthesized images drive a V4 neuron above its best natural image.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/models/backend.js";
import { compactNeurons, type CompactModelLike } from "../../src/main/sim/compact-neurons.js";
import type { RgbImage } from "../../src/stimulus/index.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-compact-neurons-");
afterAll(() => tmp.cleanup());
beforeAll(async () => {
  await selectBackend({ prefer: "wasm", log: () => undefined });
});

/** A stand-in compact model: the mean pixel value of each image. */
const meanPixel = async (): Promise<CompactModelLike> => ({
  predict: (x) => tf.tidy(() => tf.mean(x as tf.Tensor4D, [1, 2, 3]).reshape([-1, 1])),
});

function flat(value: number): RgbImage {
  return { width: 112, height: 112, pixels0to255: new Uint8Array(112 * 112 * 3).fill(value) };
}

describe("compactNeurons (published compact models as simulated neurons)", () => {
  // No images/ folder beside the models: the calibration set is the generated gratings, noise and dots.
  const dir = join(tmp.dir, "compact_models");
  mkdirSync(dir);
  writeFileSync(join(dir, "compact_model_000000_neuron0.npy"), "not read by the stand-in loader");

  it("maps the calibration range onto 5–60 Hz, floors below it and goes above 60 Hz up to the ceiling", async () => {
    const neurons = await compactNeurons({ dir, count: 1, seed: 1, loader: meanPixel });
    const capped = await compactNeurons({ dir, count: 1, seed: 1, loader: meanPixel, ceilingHz: 70 });
    try {
      expect(neurons.units).toEqual([{ electrode: "000000_neuron0", sortedId: 0 }]);
      const rate = async (v: number): Promise<number> => (await neurons.rates(flat(v)))[0]!;
      // Monotone in the model's output, at the floor for a black image.
      expect(await rate(0)).toBe(5);
      const grey = await rate(128);
      expect(grey).toBeGreaterThan(5);
      expect(grey).toBeLessThan(60);
      expect(await rate(140)).toBeGreaterThan(grey);
      // White is brighter than every calibration image: above the calibration's 60 Hz, below 150.
      const white = await rate(255);
      expect(white).toBeGreaterThan(60);
      expect(white).toBeLessThanOrEqual(150);
      // The ceiling holds: the same neuron capped at 70 Hz.
      expect((await capped.rates(flat(255)))[0]).toBe(Math.min(70, white));
      expect((await capped.rates(flat(128)))[0]).toBeCloseTo(grey, 5);
    } finally {
      neurons.dispose?.();
      capped.dispose?.();
    }
  });
});
