// Maximizing synthesized images: gradient ascent on the pixels from noise, with blur priors, the
// 0..255 range, the best iterate kept, several restarts per unit (batched over units × restarts).
import * as tf from "@tensorflow/tfjs";
import type { UnitResponseModel } from "../../models/response/index.js";
import type { RgbImage } from "../image.js";
import { Random } from "../random.js";
import { priorGradient, priorsProblem } from "./prior-gradient.js";
import { predictMany } from "./smoothing.js";
import {
  blurTensor,
  checkImages,
  checkUnits,
  imagesToTensor,
  rmsPerImage,
  SynthesisInputError,
  tensorToImages,
} from "./tensors.js";

export { roll2d } from "./prior-gradient.js";

export interface MaximizeOptions {
  /** Independent starts per unit; the best is kept. */
  restarts: number;
  /** Gradient-ascent steps per start. */
  steps: number;
  /** Root-mean-square pixel change of one step at the start (0..255 units); decays linearly to a tenth. */
  stepSize: number;
  /** Blur of the gradient before each step (sigma in px; 0 off): a prior towards smooth images. */
  gradientBlurPx: number;
  /** Every this many steps the image itself is blurred (0 off). */
  imageBlurEvery: number;
  imageBlurPx: number;
  /**
   * Jitter: each step's gradient is taken on the image shifted by a random whole number of pixels up
   * to this far in x and y (wrapping round), then shifted back; 0 off. A prior towards images that
   * drive the unit wherever their features fall by a few pixels, not through one exact pixel pattern.
   */
  jitterPx: number;
  /** Standard deviation of the starting noise around mid-grey (0..255 units). */
  noiseSd: number;
  /**
   * Optional: per unit (in the order of `units`), an image to start from instead of mid-grey (e.g. the unit's
   * best natural image): restart 0 starts from it as it is, later restarts from it plus the seeded noise.
   * Or one per unit and restart (unit-major): each restart starts from its own image as it is.
   */
  startImages?: readonly RgbImage[];
  /** Predictions are checked for the best iterate every this many steps (and at the end). */
  evalEvery: number;
  /**
   * Candidates kept per restart: the steps are cut into this many equal spans and the best iterate of
   * each is kept (`restartCandidates`), so that another model (e.g. the ensemble a compact model was
   * distilled from) may choose among them; 1 keeps only the best iterate. The start itself is never kept.
   */
  candidates: number;
  /**
   * Images optimized together (units × restarts are split in batches of this size). Each image's
   * steps are its own, so the batch changes only the speed: 64 took about 12% less CPU than 16.
   */
  batchSize: number;
  seed: number;
}

export const defaultMaximizeOptions: MaximizeOptions = {
  restarts: 4,
  steps: 150,
  stepSize: 6,
  gradientBlurPx: 1,
  imageBlurEvery: 10,
  imageBlurPx: 0.6,
  jitterPx: 0,
  noiseSd: 24,
  evalEvery: 5,
  candidates: 1,
  batchSize: 64,
  seed: 1,
};

export interface MaximizingImage {
  unit: number;
  image: RgbImage;
  /** The model's prediction for `image` (as stored: 8-bit pixels). */
  predicted: number;
  /** Which restart it came from, and every restart's predicted response. */
  restart: number;
  restartPredictions: number[];
  /** Every restart's best iterate (8 bits), in restart order. */
  restartImages: RgbImage[];
  /**
   * Per restart, the best iterate of each span of its steps (`candidates` of them, the last span's last)
   * and the model's predictions for them; `restartImages[r]` is the one of `restartCandidates[r]` predicted highest.
   */
  restartCandidates: RgbImage[][];
  candidatePredictions: number[][];
}

/** Index of the largest value (the first of equals). */
function bestOf(values: readonly number[]): number {
  return values.indexOf(Math.max(...values));
}

function checkOptions(o: MaximizeOptions): void {
  for (const key of ["restarts", "steps", "evalEvery", "batchSize", "candidates"] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1)
      throw new SynthesisInputError("bad-option", `maximizing: ${key} must be a whole number ≥ 1, got ${o[key]}.`);
  }
  const priors = priorsProblem(o);
  if (priors !== undefined) throw new SynthesisInputError("bad-option", `maximizing: ${priors}`);
  if (o.candidates > o.steps)
    throw new SynthesisInputError("bad-option", `maximizing: ${o.candidates} candidates from ${o.steps} steps.`);
  if (!(o.stepSize > 0))
    throw new SynthesisInputError("bad-option", `maximizing: stepSize must be > 0, got ${o.stepSize}.`);
}

function noiseStarts(count: number, size: number, sd: number, random: Random): RgbImage[] {
  return Array.from({ length: count }, () => {
    const px = new Uint8Array(size * size * 3);
    for (let i = 0; i < px.length; i++) px[i] = Math.min(255, Math.max(0, Math.round(128 + sd * random.normal())));
    return { width: size, height: size, pixels0to255: px };
  });
}

/**
 * Runs one batch of starts; per span of the steps (`o.candidates` spans), each image's best iterate
 * (floats, 0..255). The start itself is not an iterate.
 */
async function ascend(
  model: UnitResponseModel,
  starts: RgbImage[],
  units: number[],
  o: MaximizeOptions,
  random: Random,
): Promise<tf.Tensor4D[]> {
  let x = imagesToTensor(starts);
  const spanOf = (taken: number): number => Math.floor(((taken - 1) * o.candidates) / o.steps);
  const best = Array.from({ length: o.candidates }, () => tf.clone(x));
  const bestScore = Array.from({ length: o.candidates }, () => tf.fill([units.length], -Infinity) as tf.Tensor1D);
  const consider = (span: number): void => {
    const next = tf.tidy(() => {
      const score = model.predict(x, units);
      const better = tf.greater(score, bestScore[span]!);
      return {
        best: tf.where(tf.reshape(better, [-1, 1, 1, 1]).tile([1, ...x.shape.slice(1)]), x, best[span]!) as tf.Tensor4D,
        score: tf.maximum(score, bestScore[span]!) as tf.Tensor1D,
      };
    });
    tf.dispose([best[span]!, bestScore[span]!]);
    best[span] = next.best;
    bestScore[span] = next.score;
  };
  for (let step = 0; step < o.steps; step++) {
    const size = o.stepSize * (1 - (0.9 * step) / Math.max(1, o.steps - 1));
    const next = tf.tidy(() => {
      const g = priorGradient(model, x, units, undefined, o, random);
      let moved = tf.add(x, tf.mul(g, tf.div(size, tf.add(rmsPerImage(g), 1e-8)))) as tf.Tensor4D;
      if (o.imageBlurEvery > 0 && (step + 1) % o.imageBlurEvery === 0) moved = blurTensor(moved, o.imageBlurPx);
      return tf.clipByValue(moved, 0, 255) as tf.Tensor4D;
    });
    x.dispose();
    x = next;
    // Checked every evalEvery steps and at the end of each span.
    const taken = step + 1;
    if (taken % o.evalEvery === 0 || taken === o.steps || spanOf(taken) !== spanOf(taken + 1)) consider(spanOf(taken));
    // Let the event loop breathe between steps (a job's progress and cancel messages).
    if (step % 10 === 9) await new Promise((r) => setImmediate(r));
  }
  tf.dispose([x, ...bestScore]);
  return best;
}

/**
 * Maximizing synthesized images of `units`: `restarts` starts from seeded noise per unit, each
 * ascended `steps` times; per unit the start whose best iterate (rounded to 8 bits) the model
 * predicts highest.
 */
export async function synthesizeMaximizing(
  model: UnitResponseModel,
  units: readonly number[],
  options: Partial<MaximizeOptions> = {},
): Promise<MaximizingImage[]> {
  const o = { ...defaultMaximizeOptions, ...options };
  checkUnits("maximizing", units, model.unitCount);
  checkOptions(o);
  const random = new Random(o.seed);
  const jobs = units.flatMap((unit) => Array.from({ length: o.restarts }, (_, restart) => ({ unit, restart })));
  const starts = noiseStarts(jobs.length, model.inputSize, o.noiseSd, random);
  if (o.startImages !== undefined) {
    const perStart = o.restarts > 1 && o.startImages.length === jobs.length;
    if (o.startImages.length !== units.length && !perStart)
      throw new SynthesisInputError(
        "bad-option",
        `maximizing: ${o.startImages.length} start images for ${units.length} units × ${o.restarts} restarts; ` +
          `give one a unit or one a restart.`,
      );
    checkImages("maximizing", o.startImages, model.inputSize);
    jobs.forEach((job, i) => {
      const from = o.startImages![perStart ? i : Math.floor(i / o.restarts)]!.pixels0to255;
      const px = starts[i]!.pixels0to255;
      for (let v = 0; v < px.length; v++)
        px[v] = perStart || job.restart === 0 ? from[v]! : Math.min(255, Math.max(0, from[v]! + px[v]! - 128));
    });
  }
  // Per start, its candidates (one per span) as stored and their predictions.
  const candidates: RgbImage[][] = [];
  const candidatePredictions: number[][] = [];
  for (let start = 0; start < jobs.length; start += o.batchSize) {
    const batch = jobs.slice(start, start + o.batchSize);
    const batchUnits = batch.map((j) => j.unit);
    const spans = await ascend(model, starts.slice(start, start + batch.length), batchUnits, o, random);
    batch.forEach(() => {
      candidates.push([]);
      candidatePredictions.push([]);
    });
    for (const best of spans) {
      const rounded = await tensorToImages(best);
      best.dispose();
      const x = imagesToTensor(rounded);
      const p = model.predict(x, batchUnits);
      const values = await p.data();
      tf.dispose([x, p]);
      rounded.forEach((im, i) => {
        candidates[start + i]!.push(im);
        candidatePredictions[start + i]!.push(values[i]!);
      });
    }
  }
  return units.map((unit, k) => {
    const mine = Array.from({ length: o.restarts }, (_, r) => k * o.restarts + r);
    const chosen = mine.map((i) => bestOf(candidatePredictions[i]!));
    const restartPredictions = mine.map((i, r) => candidatePredictions[i]![chosen[r]!]!);
    const restartImages = mine.map((i, r) => candidates[i]![chosen[r]!]!);
    const restart = bestOf(restartPredictions);
    return {
      unit,
      image: restartImages[restart]!,
      predicted: restartPredictions[restart]!,
      restart,
      restartPredictions,
      restartImages,
      restartCandidates: mine.map((i) => candidates[i]!),
      candidatePredictions: mine.map((i) => candidatePredictions[i]!),
    };
  });
}

/**
 * `made` with each restart's image chosen among its candidates by `chooser` (e.g. the ensemble that the
 * synthesizing compact models were distilled from: a better model of the neuron than they are), each
 * unit's image its restart that `chooser` predicts highest. The predictions stay the synthesizing model's.
 */
export async function chooseMaximizing(
  chooser: UnitResponseModel,
  made: readonly MaximizingImage[],
): Promise<MaximizingImage[]> {
  const pairs = made.flatMap((m) =>
    m.restartCandidates.flatMap((cands) => cands.map((image) => ({ unit: m.unit, image }))),
  );
  const scores = await predictMany(chooser, pairs, 32);
  let next = 0;
  return made.map((m) => {
    const picks = m.restartCandidates.map((cands) => {
      const own = Array.from(scores.subarray(next, next + cands.length));
      next += cands.length;
      const c = bestOf(own);
      return { c, score: own[c]! };
    });
    const restartImages = picks.map((p, r) => m.restartCandidates[r]![p.c]!);
    const restartPredictions = picks.map((p, r) => m.candidatePredictions[r]![p.c]!);
    const restart = bestOf(picks.map((p) => p.score));
    return {
      ...m,
      image: restartImages[restart]!,
      predicted: restartPredictions[restart]!,
      restart,
      restartImages,
      restartPredictions,
    };
  });
}
