// Distillation: compact models trained to match a teacher's (the deep ensemble's) predictions on a
// stream of images, then pruned and retrained. The steps are separate functions so a job can
// checkpoint between them; none of them knows where images, teachers or models are stored.
import * as tf from "@tensorflow/tfjs";
import { SeededRandom } from "../data/random.js";
import { adamOptimizer } from "../kernels/adam.js";
import { r2Raw } from "../metrics/r2-raw.js";
import { compactModelFromArrays, checkCompactArrays, compactParameterCount } from "./model.js";
import type { NdArray } from "./npy.js";
import { FastCompactModel } from "./inference.js";
import {
  centerPixels,
  depthwiseMaps,
  disposeLayer,
  firstArrayOf,
  laplacianPenalty,
  layerArrays,
  layerBatchForward,
  layerInference,
  layerTraining,
  layerVarsFromArrays,
  factorizedFromArrays,
  headReadoutArrays,
  headReadoutForward,
  headReadoutMaps,
  headReadoutVars,
  setMovingStatistics,
  trainableOf,
  type CompactLayerVars,
} from "./layers.js";
import type { PopulationCompactModel, SmoothnessPrior } from "./population.js";
import { pruneCompactModel, type PruneResult } from "./prune.js";

/** Images the students learn from: each `size`×`size`×3, pixels 0..255. */
export interface ImageStream {
  count: number;
  size: number;
  pixels(i: number): Uint8Array;
}

export interface DistillSettings {
  /** Layers shared by every unit while the population trains (Extended Data Fig. 3d). */
  sharedLayers: number;
  /** Filters [K0..K4] before pruning. */
  filters: number[];
  /** Optimizer steps of the shared (population) model. */
  steps: number;
  batchSize: number;
  learningRate: number;
  smoothness: SmoothnessPrior;
  /**
   * Weight of the feature hint: the shared layers also learn the teacher front end's features
   * (z-scored per channel) through a 1×1 map, so each image teaches far more than a few outputs.
   * 0 turns it off.
   */
  hint: number;
  /**
   * Natural images (the recordings' and the bank's) are drawn this many times as often as gaudy ones
   * while the shared model trains (a whole number; 1: as often).
   */
  naturalWeight: number;
  /** Batches whose statistics replace the batchnorm moving averages after training. */
  recalibrateBatches: number;
  /**
   * Pruning keeps `keepVariance` of the output variance on the pruning images; then a check on
   * `validation` images never trained on: where the pruned model, before retraining, follows the
   * teacher worse than the unpruned one by more than `tolerance` of R², the unit is pruned again less
   * hard (half the variance given up), at most `retries` times; the first attempt within the
   * tolerance, else the best, is retrained, and the retrained model is kept only where it is not
   * worse on those images, so a pruning within the tolerance costs at most `tolerance` there.
   */
  prune: {
    keepVariance: number;
    minFilters: number;
    images: number;
    tolerance: number;
    retries: number;
    validation: number;
  };
  /** Retraining after pruning: each unit's own layers, on its pruned shared layers' outputs. */
  retrain: { steps: number; batchSize: number; images: number; learningRate: number };
  seed: number;
}

/** Settings as given: any field may be left out, also inside the nested groups (defaults fill them). */
export type DistillSettingsInput = Partial<Omit<DistillSettings, "smoothness" | "prune" | "retrain">> & {
  smoothness?: Partial<SmoothnessPrior>;
  prune?: Partial<DistillSettings["prune"]>;
  retrain?: Partial<DistillSettings["retrain"]>;
};

export const defaultDistillSettings: DistillSettings = {
  sharedLayers: 3,
  filters: [64, 64, 32, 16, 16],
  steps: 600,
  batchSize: 32,
  learningRate: 2e-3,
  smoothness: { depthwise: 1e-3, readout: 1e-3 },
  hint: 1,
  naturalWeight: 3,
  recalibrateBatches: 8,
  // 0.975 and 120 steps: session 190925's 16 units in 18.7 min, pruning cost 0.009 (docs/compact-models.md).
  prune: { keepVariance: 0.975, minFilters: 3, images: 64, tolerance: 0.02, retries: 2, validation: 256 },
  retrain: { steps: 120, batchSize: 64, images: 1024, learningRate: 3e-4 },
  seed: 1,
};

/** Pixels of the stream's images `idx` as one float tensor [n, size, size, 3]. */
export function streamBatch(stream: ImageStream, idx: readonly number[]): tf.Tensor4D {
  const per = stream.size * stream.size * 3;
  const data = new Float32Array(idx.length * per);
  idx.forEach((i, k) => {
    const px = stream.pixels(i);
    if (px.length !== per)
      throw new Error(`streamBatch: image ${i} has ${px.length} bytes, expected ${stream.size}x${stream.size}x3`);
    data.set(px, k * per);
  });
  return tf.tensor4d(data, [idx.length, stream.size, stream.size, 3]);
}

/**
 * Seeded batches over the training images, each image `weights[i]` times per epoch, a fresh
 * permutation per epoch: batch t depends only on (seed, t), so a resumed run draws the same batches.
 */
export class BatchSampler {
  private readonly pool: number[];
  private epoch = -1;
  private order: number[] = [];

  constructor(
    train: readonly number[],
    weights: readonly number[] | undefined,
    private readonly seed: number,
  ) {
    this.pool = train.flatMap((i, k) => Array.from({ length: Math.max(1, Math.round(weights?.[k] ?? 1)) }, () => i));
    if (this.pool.length === 0) throw new Error("BatchSampler: no training images");
  }

  batch(step: number, size: number): number[] {
    const out: number[] = [];
    for (let pos = step * size; out.length < size; pos++) {
      const e = Math.floor(pos / this.pool.length);
      if (e !== this.epoch) {
        this.epoch = e;
        this.order = new SeededRandom(this.seed * 7919 + e).shuffle([...this.pool]);
      }
      out.push(this.order[pos % this.pool.length]!);
    }
    return out;
  }
}

/** Per-unit mean and SD of the teacher's predictions over `idx` (students learn z-scored targets). */
export function targetScaling(
  targets: Float32Array,
  units: number,
  idx: readonly number[],
): { mean: Float64Array; sd: Float64Array } {
  const mean = new Float64Array(units);
  const sd = new Float64Array(units);
  for (const i of idx) for (let u = 0; u < units; u++) mean[u]! += targets[i * units + u]!;
  for (let u = 0; u < units; u++) mean[u]! /= idx.length;
  for (const i of idx) for (let u = 0; u < units; u++) sd[u]! += (targets[i * units + u]! - mean[u]!) ** 2;
  for (let u = 0; u < units; u++) sd[u] = Math.sqrt(sd[u]! / Math.max(1, idx.length - 1)) || 1;
  return { mean, sd };
}

export function zscore(
  targets: Float32Array,
  units: number,
  scaling: { mean: Float64Array; sd: Float64Array },
): Float32Array {
  return Float32Array.from(targets, (v, k) => (v - scaling.mean[k % units]!) / scaling.sd[k % units]!);
}

function rows(targets: Float32Array, units: number, idx: readonly number[]): tf.Tensor2D {
  const out = new Float32Array(idx.length * units);
  idx.forEach((i, k) => out.set(targets.subarray(i * units, (i + 1) * units), k * units));
  return tf.tensor2d(out, [idx.length, units]);
}

export interface PopulationTrainOptions {
  sampler: BatchSampler;
  /** z-scored teacher targets [stream.count, units]. */
  targets: Float32Array;
  /** z-scored front-end features [stream.count, h·w·c] for the hint (with a model that has one). */
  features?: Float32Array;
  /** Steps already done (a resumed run continues the count and the learning-rate schedule). */
  startStep?: number;
  signal?: AbortSignal;
  onStep?: (step: number, loss: number) => void;
  /** Called every `checkpointEvery` steps and when cancelled. */
  checkpointEvery?: number;
  onCheckpoint?: (step: number) => Promise<void>;
}

/** Learning rate at a step: constant, then a fifth of it for the last quarter. */
export function learningRateAt(settings: Pick<DistillSettings, "learningRate" | "steps">, step: number): number {
  return step < Math.floor(settings.steps * 0.75) ? settings.learningRate : settings.learningRate / 5;
}

/** Trains the shared population model: mean squared error on z-scored targets plus the smoothness prior, Adam. */
export async function trainPopulation(
  model: PopulationCompactModel,
  stream: ImageStream,
  settings: DistillSettings,
  options: PopulationTrainOptions,
): Promise<{ step: number; cancelled: boolean; losses: number[] }> {
  const units = model.heads.length;
  const vars = model.trainableVariables();
  let step = options.startStep ?? 0;
  let rate = learningRateAt(settings, step);
  let optimizer = adamOptimizer(rate);
  const losses: number[] = [];
  try {
    while (step < settings.steps) {
      if (options.signal?.aborted) {
        await options.onCheckpoint?.(step);
        return { step, cancelled: true, losses };
      }
      if (learningRateAt(settings, step) !== rate) {
        optimizer.dispose();
        rate = learningRateAt(settings, step);
        optimizer = adamOptimizer(rate);
      }
      const idx = options.sampler.batch(step, settings.batchSize);
      const x = streamBatch(stream, idx);
      const y = rows(options.targets, units, idx);
      const hintTarget =
        model.hint !== undefined && options.features !== undefined && settings.hint > 0
          ? rows(
              options.features,
              model.hint.shape.reduce((a, b) => a * b, 1),
              idx,
            )
          : undefined;
      const { value, grads } = tf.variableGrads(
        () =>
          tf.tidy(() => {
            const { out, hint } = model.trainingForwardWithHint(x);
            const loss = tf.add(tf.losses.meanSquaredError(y, out), model.smoothness(settings.smoothness));
            if (hint === undefined || hintTarget === undefined) return loss as tf.Scalar;
            return tf.add(
              loss,
              tf.mul(settings.hint, tf.losses.meanSquaredError(tf.reshape(hintTarget, hint.shape), hint)),
            ) as tf.Scalar;
          }),
        vars,
      );
      const loss = (await value.data())[0]!;
      optimizer.applyGradients(grads);
      tf.dispose([x, y, value, ...Object.values(grads), ...(hintTarget === undefined ? [] : [hintTarget])]);
      if (!Number.isFinite(loss))
        throw new Error(
          `Distillation diverged at step ${step + 1} (loss ${loss}); nothing of this run was stored. Lower the ` +
            `learning rate and run it again.`,
        );
      step++;
      losses.push(loss);
      options.onStep?.(step, loss);
      if (options.checkpointEvery !== undefined && step % options.checkpointEvery === 0 && step < settings.steps)
        await options.onCheckpoint?.(step);
      // Lets a worker's message loop see a cancel between steps.
      await new Promise((r) => setImmediate(r));
    }
    return { step, cancelled: false, losses };
  } finally {
    optimizer.dispose();
  }
}

/**
 * Forward in training form with exact batch statistics: the moving statistics of `layers` become their averages over
 * the batches.
 */
function recalibrateChain(layers: CompactLayerVars[], inputs: tf.Tensor4D[]): tf.Tensor4D[] {
  let xs = inputs;
  for (const l of layers) {
    const outs = xs.map((x) => layerBatchForward(l, x));
    setMovingStatistics(
      l,
      outs.map((o) => o.mean),
      outs.map((o) => o.variance),
    );
    for (const o of outs) tf.dispose([o.mean, o.variance]);
    if (xs !== inputs) tf.dispose(xs);
    xs = outs.map((o) => o.out);
  }
  return xs;
}

/** Replaces the population's batchnorm moving statistics by exact averages over `idx`'s batches. */
export function recalibratePopulation(
  model: PopulationCompactModel,
  stream: ImageStream,
  idx: readonly number[],
  batchSize: number,
): void {
  const batches: tf.Tensor4D[] = [];
  for (let s = 0; s < idx.length; s += batchSize)
    batches.push(tf.tidy(() => centerPixels(streamBatch(stream, idx.slice(s, s + batchSize)))));
  const trunkOut = recalibrateChain(model.trunk, batches);
  tf.dispose(batches);
  for (const h of model.heads) tf.dispose(recalibrateChain(h.layers, trunkOut));
  tf.dispose(trunkOut);
}

/** Predictions [idx.length, units] of the population model (inference form), in batches. */
export function predictPopulation(
  model: PopulationCompactModel,
  stream: ImageStream,
  idx: readonly number[],
  batchSize = 64,
): Float32Array {
  const units = model.heads.length;
  const out = new Float32Array(idx.length * units);
  for (let s = 0; s < idx.length; s += batchSize) {
    const p = tf.tidy(() => model.predict(streamBatch(stream, idx.slice(s, s + batchSize))));
    out.set(p.dataSync() as Float32Array, s * units);
    p.dispose();
  }
  return out;
}

/** Predictions of one compact model (its published arrays, run in inference form: folded batchnorm). */
export function predictArrays(
  arrays: NdArray[],
  stream: ImageStream,
  idx: readonly number[],
  batchSize = 64,
): Float32Array {
  const model = compactModelFromArrays(arrays, "prediction", { inputSize: stream.size });
  const fast = FastCompactModel.fromModel(model);
  model.dispose();
  try {
    const out = new Float32Array(idx.length);
    for (let s = 0; s < idx.length; s += batchSize) {
      const p = tf.tidy(() => fast.predict(streamBatch(stream, idx.slice(s, s + batchSize))));
      out.set(p.dataSync() as Float32Array, s);
      p.dispose();
    }
    return out;
  } finally {
    fast.dispose();
  }
}

/** Folds an output scale and offset into the readout: the model then predicts scale·y + offset. */
export function scaleOutput(arrays: readonly NdArray[], scale: number, offset: number): NdArray[] {
  const out = [...arrays];
  out[34] = { ...arrays[34]!, data: Float32Array.from(arrays[34]!.data, (v) => v * scale) };
  out[35] = { ...arrays[35]!, data: Float32Array.from(arrays[35]!.data, (v) => v * scale + offset) };
  return out;
}

export interface RetrainOptions {
  /** Layers from here on are retrained (those before stay as pruned). */
  fromLayer: number;
  /** Training images and their z-scored targets for this unit. */
  idx: readonly number[];
  targets: Float32Array;
  settings: DistillSettings;
  signal?: AbortSignal;
}

/**
 * Retrains a pruned model's layers fromLayer..4 and readout on the outputs of its (fixed) earlier
 * layers, computed once for the retraining images; then recomputes their batchnorm statistics.
 */
export async function retrainPruned(
  arrays: NdArray[],
  stream: ImageStream,
  options: RetrainOptions,
): Promise<{ arrays: NdArray[]; losses: number[]; cancelled: boolean }> {
  const { fromLayer, settings } = options;
  const r = settings.retrain;
  if (fromLayer < 1 || fromLayer > 4) throw new Error(`retrainPruned: fromLayer must be 1 to 4, got ${fromLayer}`);
  const layers = [0, 1, 2, 3, 4].map((l) =>
    layerVarsFromArrays(l, arrays.slice(firstArrayOf(l), firstArrayOf(l) + (l === 0 ? 6 : 7))),
  );
  // The readout retrains factorized (spatial map × channel weights), from the kernel's best rank-one form.
  const readout = factorizedFromArrays(arrays[34]!, arrays[35]!, arrays[29]!.shape[0]!);
  const side = stream.size / 4;
  const losses: number[] = [];
  let cache: tf.Tensor4D | undefined;
  const optimizer = adamOptimizer(r.learningRate);
  try {
    // Inputs of layer fromLayer for every retraining image, once (inference form of the fixed layers).
    const parts: tf.Tensor4D[] = [];
    for (let s = 0; s < options.idx.length; s += 64) {
      parts.push(
        tf.tidy(() => {
          let x = centerPixels(streamBatch(stream, options.idx.slice(s, s + 64)));
          for (let l = 0; l < fromLayer; l++) x = layerInference(layers[l]!, x);
          return x;
        }),
      );
    }
    cache = tf.concat(parts, 0) as tf.Tensor4D;
    tf.dispose(parts);
    const y = tf.tensor2d(
      Float32Array.from(options.idx, (_, k) => options.targets[k]!),
      [options.idx.length, 1],
    );
    const own = layers.slice(fromLayer);
    const vars = [...own.flatMap(trainableOf), ...headReadoutVars(readout)];
    const sampler = new BatchSampler(
      options.idx.map((_, k) => k),
      undefined,
      settings.seed + 17,
    );
    let cancelled = false;
    for (let step = 0; step < r.steps; step++) {
      if (options.signal?.aborted) {
        cancelled = true;
        break;
      }
      const pick = sampler.batch(step, Math.min(r.batchSize, options.idx.length));
      const { value, grads } = tf.variableGrads(
        () =>
          tf.tidy(() => {
            const at = tf.tensor1d(pick, "int32");
            let x = tf.gather(cache!, at) as tf.Tensor4D;
            for (const l of own) x = layerTraining(l, x);
            const out = headReadoutForward(readout, x);
            const penalty = tf.addN([
              ...own.flatMap((l) =>
                l.depthwise === undefined
                  ? []
                  : [tf.mul(settings.smoothness.depthwise, laplacianPenalty(depthwiseMaps(l.depthwise)))],
              ),
              tf.mul(settings.smoothness.readout, laplacianPenalty(headReadoutMaps(readout, side))),
            ]);
            return tf.add(tf.losses.meanSquaredError(tf.gather(y, at), out), penalty) as tf.Scalar;
          }),
        vars,
      );
      losses.push((await value.data())[0]!);
      optimizer.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
      if (step % 20 === 19) await new Promise((res) => setImmediate(res));
    }
    y.dispose();
    // Exact batchnorm statistics of the retrained layers on the retraining images.
    const batches: tf.Tensor4D[] = [];
    for (let s = 0; s < options.idx.length; s += settings.batchSize)
      batches.push(tf.slice(cache, [s, 0, 0, 0], [Math.min(settings.batchSize, options.idx.length - s), -1, -1, -1]));
    tf.dispose(recalibrateChain(own, batches));
    tf.dispose(batches);
    const out = [...layers.flatMap(layerArrays), ...headReadoutArrays(readout)];
    checkCompactArrays(out, "retrained model", stream.size);
    return { arrays: out, losses, cancelled };
  } finally {
    optimizer.dispose();
    cache?.dispose();
    layers.forEach(disposeLayer);
    tf.dispose(headReadoutVars(readout));
  }
}

export interface UnitResult {
  /** The unit's compact model in the published layout, predicting the teacher's units. */
  arrays: NdArray[];
  filters: number[];
  filtersBeforePruning: number[];
  parameters: number;
  /** Squared correlation with the teacher on the held-out images, before pruning and at the end. */
  r2TeacherBeforePruning: number;
  r2Teacher: number;
  /** Held-out predictions of the final model (teacher units). */
  heldOutPredictions: Float32Array;
  pruning: Omit<PruneResult, "arrays">;
  /**
   * The pruning check: R² with the teacher on training images the retraining does not use, of the
   * unpruned model, of each pruning as pruned, and of the kept one retrained (kept if not worse).
   */
  validation: { images: number; unpruned: number; attempts: PruneAttempt[]; retrained: number; keptRetrained: boolean };
  seconds: { prune: number; retrain: number; evaluate: number };
}

/** One pruning of a unit: how hard, the filters it kept, its R² with the teacher on the validation images. */
export interface PruneAttempt {
  keepVariance: number;
  filters: number[];
  r2: number;
}

export interface UnitDistillOptions {
  unit: number;
  /** Teacher predictions [stream.count, units] (teacher units) and their per-unit scaling. */
  targets: Float32Array;
  units: number;
  scaling: { mean: Float64Array; sd: Float64Array };
  trainIdx: readonly number[];
  /** Images whose student-teacher R² is reported; never trained on. */
  heldOutIdx: readonly number[];
  /** Images the pruning measures output variance on; never trained on. */
  pruneIdx: readonly number[];
  /** Images the pruning check scores each pruning on (the first `prune.validation`); never trained on. */
  validationIdx: readonly number[];
  settings: DistillSettings;
  /** The population model's held-out predictions for this unit (z units), if already computed. */
  populationHeldOut?: Float32Array;
  signal?: AbortSignal;
}

/** One unit: its model from the population, pruned, its own layers retrained, scaled to the teacher's units. */
export async function distillUnit(
  population: PopulationCompactModel,
  stream: ImageStream,
  o: UnitDistillOptions,
): Promise<UnitResult> {
  const { unit, settings } = o;
  const teacherHeld = Float64Array.from(o.heldOutIdx, (i) => o.targets[i * o.units + unit]!);
  const zArrays = population.unitArrays(unit);
  const t0 = performance.now();
  const before = o.populationHeldOut ?? predictArrays(zArrays, stream, o.heldOutIdx);
  const r2TeacherBeforePruning = r2Raw(before, teacherHeld);
  const p = settings.prune;
  // A seeded sample of the training images: the first ones by index are the teacher's own sessions'
  // stimuli, where it fits its training data, and retraining on those alone undid the distillation.
  const order = new SeededRandom(settings.seed * 7919 + unit).shuffle([...o.trainIdx]);
  const retrainIdx = order.slice(0, settings.retrain.images).sort((a, b) => a - b);
  // The pruning check's images were never trained on: on training images any pruning costs more
  // than on new ones, and the check then rejected nearly every pruning.
  const validationIdx = o.validationIdx.slice(0, p.validation);
  const teacherValidation = Float64Array.from(validationIdx, (i) => o.targets[i * o.units + unit]!);
  const validate = (arrays: NdArray[]): number =>
    validationIdx.length < 2 ? Number.NaN : r2Raw(predictArrays(arrays, stream, validationIdx), teacherValidation);
  const z = Float32Array.from(
    retrainIdx,
    (i) => (o.targets[i * o.units + unit]! - o.scaling.mean[unit]!) / o.scaling.sd[unit]!,
  );
  const unprunedValidation = validate(zArrays);
  // Pruning, checked before retraining (an ablation and a prediction cost far less than retraining).
  const tp = performance.now();
  const attempts: PruneAttempt[] = [];
  let best: { pruned: PruneResult; score: number } | undefined;
  let keepVariance = p.keepVariance;
  const pixels = streamBatch(stream, o.pruneIdx);
  try {
    for (let attempt = 0; attempt <= p.retries; attempt++) {
      const candidate = pruneCompactModel(zArrays, pixels, { keepVariance, minFilters: p.minFilters });
      const score = validate(candidate.arrays);
      attempts.push({ keepVariance, filters: candidate.after, r2: score });
      // The first (hardest) pruning within the tolerance is kept; without validation images, the first.
      if (!(unprunedValidation - score > p.tolerance)) {
        best = { pruned: candidate, score };
        break;
      }
      if (best === undefined || score > best.score) best = { pruned: candidate, score };
      keepVariance = 1 - (1 - keepVariance) / 2;
    }
  } finally {
    pixels.dispose();
  }
  const { pruned, score: asPruned } = best!;
  const tr = performance.now();
  const retrained = await retrainPruned(pruned.arrays, stream, {
    fromLayer: settings.sharedLayers,
    idx: retrainIdx,
    targets: z,
    settings,
    signal: o.signal,
  });
  if (retrained.cancelled) throw new DistillCancelled();
  const pruneSeconds = (tr - tp) / 1000;
  const retrainSeconds = (performance.now() - tr) / 1000;
  // Retraining is kept where it follows the teacher at least as well on the validation images.
  const asRetrained = validate(retrained.arrays);
  const keptRetrained = !(asPruned > asRetrained);
  const chosen = keptRetrained ? retrained.arrays : pruned.arrays;
  const arrays = scaleOutput(chosen, o.scaling.sd[unit]!, o.scaling.mean[unit]!);
  const heldOutPredictions = predictArrays(arrays, stream, o.heldOutIdx);
  const r2Teacher = r2Raw(heldOutPredictions, teacherHeld);
  const filters = checkCompactArrays(arrays, "distilled model", stream.size);
  const { arrays: _dropped, ...pruning } = pruned;
  return {
    arrays,
    filters,
    filtersBeforePruning: pruned.before,
    parameters: compactParameterCount(filters, stream.size),
    r2TeacherBeforePruning,
    r2Teacher,
    heldOutPredictions,
    pruning,
    validation: {
      images: validationIdx.length,
      unpruned: unprunedValidation,
      attempts,
      retrained: asRetrained,
      keptRetrained,
    },
    seconds: {
      prune: pruneSeconds,
      retrain: retrainSeconds,
      evaluate: (performance.now() - t0) / 1000 - pruneSeconds - retrainSeconds,
    },
  };
}

/** A unit's distillation was cancelled part-way (nothing of it is kept). */
export class DistillCancelled extends Error {
  constructor() {
    super("distillation cancelled");
    this.name = "DistillCancelled";
  }
}
