import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { useWasm } from "../kernels/test_util.js";
import { SeededRandom } from "../data/random.js";
import { r2Raw } from "../metrics/r2-raw.js";
import {
  BatchSampler,
  distillUnit,
  predictArrays,
  predictPopulation,
  recalibratePopulation,
  scaleOutput,
  targetScaling,
  trainPopulation,
  zscore,
  type DistillSettings,
  type ImageStream,
} from "./distill.js";
import { PopulationCompactModel } from "./population.js";
import { factorizedFromArrays, headReadoutArrays, headReadoutVars } from "./layers.js";

const size = 32;

/**
 * Pictures of four flat quadrants of random colour; unit 0 reads red top-left, unit 1 green minus blue bottom-right.
 */
function quadrantStream(n: number, seed: number): { stream: ImageStream; targets: Float32Array } {
  const rnd = new SeededRandom(seed);
  const images: Uint8Array[] = [];
  const targets = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const colours = Array.from({ length: 4 }, () => [rnd.next() * 255, rnd.next() * 255, rnd.next() * 255]);
    const px = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const q = (y < size / 2 ? 0 : 2) + (x < size / 2 ? 0 : 1);
        for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = Math.round(colours[q]![c]! * (0.9 + 0.1 * rnd.next()));
      }
    }
    images.push(px);
    targets[i * 2] = colours[0]![0]! / 255;
    targets[i * 2 + 1] = (colours[3]![1]! - colours[3]![2]!) / 255;
  }
  return { stream: { count: n, size, pixels: (i) => images[i]! }, targets };
}

const settings: DistillSettings = {
  sharedLayers: 3,
  filters: [6, 6, 4, 4, 3],
  steps: 120,
  batchSize: 16,
  learningRate: 3e-3,
  smoothness: { depthwise: 1e-3, readout: 1e-3 },
  hint: 0,
  naturalWeight: 1,
  recalibrateBatches: 4,
  prune: { keepVariance: 0.95, minFilters: 2, images: 32, tolerance: 0.01, retries: 2, validation: 64 },
  retrain: { steps: 30, batchSize: 16, images: 128, learningRate: 1e-3 },
  seed: 1,
};

beforeAll(async () => {
  await useWasm();
});

describe("distillation (shared model, then per unit)", () => {
  it(
    "batches depend only on the step: a resumed run draws the same images; weights repeat images within an " + "epoch",
    () => {
      const a = new BatchSampler([0, 1, 2, 3, 4, 5, 6], undefined, 3);
      const b = new BatchSampler([0, 1, 2, 3, 4, 5, 6], undefined, 3);
      const first = [0, 1, 2, 3].map((t) => a.batch(t, 3));
      expect(b.batch(2, 3)).toEqual(first[2]);
      expect(first.slice(0, 3).flat().slice(0, 7).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
      const weighted = new BatchSampler([10, 11], [2, 1], 1).batch(0, 3).sort();
      expect(weighted).toEqual([10, 10, 11]);
    },
  );

  it("scaleOutput folds a scale and offset into the readout", () => {
    const arrays = Array.from({ length: 36 }, () => ({ shape: [1], dtype: "f4", data: Float32Array.of(2) }));
    const scaled = scaleOutput(arrays, 3, 1);
    expect(Array.from(scaled[34]!.data)).toEqual([6]);
    expect(Array.from(scaled[35]!.data)).toEqual([7]);
    expect(Array.from(arrays[34]!.data)).toEqual([2]);
  });

  it(
    "a factorized readout exports as the dense kernel it computes, and a rank-one kernel factorizes back " + "exactly",
    () => {
      const { stream } = quadrantStream(12, 5);
      const model = new PopulationCompactModel({
        units: 2,
        sharedLayers: 3,
        filters: [4, 4, 3, 3, 2],
        inputSize: size,
        seed: 4,
      });
      // Give the spatial maps some structure first.
      tf.tidy(() => {
        for (const h of model.heads)
          if (h.readout.kind === "factorized") h.readout.spatial.assign(tf.randomNormal([64, 1], 0, 0.1, "float32", 3));
      });
      const idx = Array.from({ length: 12 }, (_, i) => i);
      const population = predictPopulation(model, stream, idx);
      for (const u of [0, 1]) {
        const arrays = model.unitArrays(u);
        const single = predictArrays(arrays, stream, idx);
        single.forEach((v, i) =>
          expect(Math.abs(v - population[i * 2 + u]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(v))),
        );
        const back = factorizedFromArrays(arrays[34]!, arrays[35]!, 2);
        const dense = headReadoutArrays(back)[0]!;
        dense.data.forEach((v, i) => expect(Math.abs(v - arrays[34]!.data[i]!)).toBeLessThanOrEqual(1e-5));
        tf.dispose(headReadoutVars(back));
      }
      model.dispose();
    },
  );

  it("students learn the teacher, keep it through pruning, and leak no tensors", async () => {
    const { stream, targets } = quadrantStream(464, 11);
    const train = Array.from({ length: 300 }, (_, i) => i);
    const heldOut = Array.from({ length: 60 }, (_, i) => 300 + i);
    const prune = Array.from({ length: 40 }, (_, i) => 360 + i);
    const validation = Array.from({ length: 64 }, (_, i) => 400 + i);
    const scaling = targetScaling(targets, 2, train);
    const z = zscore(targets, 2, scaling);
    const before = tf.memory().numTensors;
    const model = new PopulationCompactModel({
      units: 2,
      sharedLayers: settings.sharedLayers,
      filters: settings.filters,
      inputSize: size,
      seed: 1,
    });
    const r2Of = (p: Float32Array, u: number): number =>
      r2Raw(
        Float64Array.from(heldOut, (_, k) => p[k * 2 + u]!),
        Float64Array.from(heldOut, (i) => targets[i * 2 + u]!),
      );
    const untrained = predictPopulation(model, stream, heldOut);
    const losses: number[] = [];
    await trainPopulation(model, stream, settings, {
      sampler: new BatchSampler(train, undefined, 1),
      targets: z,
      onStep: (_, l) => losses.push(l),
    });
    recalibratePopulation(model, stream, train.slice(0, 64), 16);
    const trained = predictPopulation(model, stream, heldOut);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-20))).toBeLessThan(0.5 * mean(losses.slice(0, 20)));
    const images = {
      targets,
      units: 2,
      scaling,
      trainIdx: train,
      heldOutIdx: heldOut,
      pruneIdx: prune,
      validationIdx: validation,
    };
    for (const u of [0, 1]) {
      expect(r2Of(trained, u)).toBeGreaterThan(0.7);
      expect(r2Of(trained, u)).toBeGreaterThan(r2Of(untrained, u) + 0.2);
      const r = await distillUnit(model, stream, { unit: u, ...images, settings });
      expect(r.r2TeacherBeforePruning).toBeCloseTo(r2Of(trained, u), 2);
      expect(r.r2Teacher).toBeGreaterThan(0.6);
      expect(r.filtersBeforePruning).toEqual(settings.filters);
      r.filters.forEach((k, l) => expect(k).toBeLessThanOrEqual(settings.filters[l]!));
      // The stored arrays predict the teacher's units (scale folded in): predictions match held-out targets' range.
      const p = predictArrays(r.arrays, stream, heldOut);
      expect(Array.from(p)).toEqual(Array.from(r.heldOutPredictions));
      const spread = (xs: ArrayLike<number>): number => Math.max(...Array.from(xs)) - Math.min(...Array.from(xs));
      expect(spread(p)).toBeGreaterThan(0.3 * spread(Float64Array.from(heldOut, (i) => targets[i * 2 + u]!)));
    }
    // Pruning far too hard: the check on validation images prunes again, less hard each time, and
    // retrains the first attempt within the tolerance or else the best; with no tolerance, the first.
    const harsh = { ...settings, prune: { ...settings.prune, keepVariance: 0.2, minFilters: 1 } };
    const options = { unit: 0, ...images };
    const checked = await distillUnit(model, stream, { ...options, settings: harsh });
    const tries = checked.validation.attempts;
    expect(checked.validation.images).toBe(64);
    expect(tries[0]!.keepVariance).toBe(0.2);
    expect(tries.length).toBeGreaterThan(1);
    expect(tries.length).toBeLessThanOrEqual(3);
    tries.slice(1).forEach((t, i) => expect(t.keepVariance).toBeCloseTo(1 - (1 - tries[i]!.keepVariance) / 2, 10));
    const within = tries.findIndex((t) => checked.validation.unpruned - t.r2 <= 0.01);
    const chosen = within >= 0 ? tries[within]! : tries.reduce((a, b) => (b.r2 > a.r2 ? b : a));
    expect(within === -1 || within === tries.length - 1).toBe(true);
    expect(checked.filters).toEqual(chosen.filters);
    // Retraining is kept only where it does not follow the teacher worse on the validation images.
    expect(checked.validation.keptRetrained).toBe(!(chosen.r2 > checked.validation.retrained));
    const lax = await distillUnit(model, stream, {
      ...options,
      settings: { ...harsh, prune: { ...harsh.prune, tolerance: 1 } },
    });
    expect(lax.validation.attempts).toHaveLength(1);
    expect(lax.filters).toEqual(tries[0]!.filters);
    model.dispose();
    expect(tf.memory().numTensors, "tensors leaked").toBe(before);
  }, 300_000);
});
