// Task-driven baseline: ridge regression from flattened front-end features to each unit,
// with λ chosen per unit by k-fold cross-validation (kernel form: n images ≪ d features).
import * as tf from "@tensorflow/tfjs";
import { SeededRandom } from "../data/random.js";
import type { RidgeRunner } from "./ridge-pool.js";

export interface RidgeModel {
  lambdas: number[];
  /** Per unit, the block weighting chosen (one weight with a single block). */
  weights: number[][];
  /** Predictions [idx.length, U] for rows idx of a feature matrix [N, d] (or of each block, in order). */
  predict(features: Float32Array | readonly Float32Array[], idx: readonly number[]): Float32Array;
  /** Releases the training features kept for prediction (one tensor). */
  dispose(): void;
}

/**
 * In-place Cholesky of a symmetric positive definite n×n matrix (lower triangle). The dot products run
 * with four accumulators (about 1.3× as fast in V8 as one).
 */
export function cholesky(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j]!;
    for (let k = 0; k < j; k++) d -= a[rj + k]! ** 2;
    if (!(d > 0)) throw new Error(`cholesky: matrix is not positive definite at pivot ${j} (${d})`);
    const l = Math.sqrt(d);
    a[rj + j] = l;
    const j4 = j - (j % 4);
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let k = 0;
      for (; k < j4; k += 4) {
        s0 += a[ri + k]! * a[rj + k]!;
        s1 += a[ri + k + 1]! * a[rj + k + 1]!;
        s2 += a[ri + k + 2]! * a[rj + k + 2]!;
        s3 += a[ri + k + 3]! * a[rj + k + 3]!;
      }
      for (; k < j; k++) s0 += a[ri + k]! * a[rj + k]!;
      a[ri + j] = (a[ri + j]! - (s0 + s1 + s2 + s3)) / l;
    }
  }
}

/**
 * Solves L Lᵀ X = B for B [n, m] (overwritten with X). Two rows of B are folded into a row at a time
 * (about 1.5× as fast as one).
 */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array, m: number): void {
  const fold = (ri: number, r0: number, f0: number, r1: number, f1: number): void => {
    for (let c = 0; c < m; c++) b[ri + c]! -= f0 * b[r0 + c]! + f1 * b[r1 + c]!;
  };
  for (let i = 0; i < n; i++) {
    const ri = i * m;
    let k = 0;
    for (; k + 1 < i; k += 2) fold(ri, k * m, l[i * n + k]!, (k + 1) * m, l[i * n + k + 1]!);
    if (k < i) fold(ri, k * m, l[i * n + k]!, 0, 0);
    const d = l[i * n + i]!;
    for (let c = 0; c < m; c++) b[ri + c]! /= d;
  }
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * m;
    let k = i + 1;
    for (; k + 1 < n; k += 2) fold(ri, k * m, l[k * n + i]!, (k + 1) * m, l[(k + 1) * n + i]!);
    if (k < n) fold(ri, k * m, l[k * n + i]!, 0, 0);
    const d = l[i * n + i]!;
    for (let c = 0; c < m; c++) b[ri + c]! /= d;
  }
}

/** Ridge's dual solution on rows `rows` of a Gram matrix for targets y [N, m] (self-contained: runs in workers too). */
export function solveFor(
  gram: Float64Array,
  n: number,
  rows: readonly number[],
  lambda: number,
  y: Float64Array,
  m: number,
): Float64Array {
  const k = rows.length;
  const a = new Float64Array(k * k);
  for (let i = 0; i < k; i++)
    for (let j = 0; j <= i; j++) a[i * k + j] = gram[rows[i]! * n + rows[j]!]! + (i === j ? lambda : 0);
  cholesky(a, k);
  const b = new Float64Array(k * m);
  for (let i = 0; i < k; i++) for (let c = 0; c < m; c++) b[i * m + c] = y[rows[i]! * m + c]!;
  choleskySolve(a, k, b, m);
  return b;
}

/** One block of features [N, d], standardized with the training rows' statistics. */
export interface Block {
  d: number;
  mean: Float64Array;
  sd: Float64Array;
  /** Standardized training rows, transposed [d, n], kept for predictions. */
  xTrainT: tf.Tensor2D;
  /** 1 / (trace of the block's Gram matrix / n): every block enters with unit mean diagonal. */
  norm: number;
}

function standardizeRows(
  src: Float32Array,
  d: number,
  mean: Float64Array,
  sd: Float64Array,
  idx: readonly number[],
): Float32Array {
  if (src.length % d !== 0)
    throw new Error(`ridge: features hold ${src.length} values, not a multiple of ${d} per image`);
  const out = new Float32Array(idx.length * d);
  idx.forEach((i, r) => {
    for (let j = 0; j < d; j++) out[r * d + j] = (src[i * d + j]! - mean[j]!) / sd[j]!;
  });
  return out;
}

/** A block ready for fitting: its statistics, standardized training rows and trace-normalized Gram matrix. */
export interface PreparedBlock {
  block: Block;
  gram: Float64Array;
}

/** Standardizes (or only centres) a block of features [nRows, d] with the statistics of rows `trainIdx`. */
export function prepareBlock(
  features: Float32Array,
  nRows: number,
  trainIdx: readonly number[],
  scalePerFeature: boolean,
): PreparedBlock {
  const d = features.length / nRows;
  if (!Number.isInteger(d)) throw new Error(`ridge: ${features.length} feature values do not split into ${nRows} rows`);
  const n = trainIdx.length;
  const mean = new Float64Array(d);
  const sd = new Float64Array(d);
  for (const i of trainIdx) for (let j = 0; j < d; j++) mean[j]! += features[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  for (const i of trainIdx) for (let j = 0; j < d; j++) sd[j]! += (features[i * d + j]! - mean[j]!) ** 2;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]! / Math.max(1, n - 1)) || 1;
  // Sparse features (a rectified core's outputs, mostly zero) are only centred: scaling a column that is
  // almost always zero by its tiny standard deviation would blow up the rare images where it is not.
  if (!scalePerFeature) sd.fill(1);
  const xTrain = standardizeRows(features, d, mean, sd, trainIdx);
  // Transposed explicitly: the wasm backend's matMul with transposeB took 14× as long (35 s against 2.6 s for 960 ×
  // 3136).
  const xTrainT = tf.tidy(() => tf.transpose(tf.tensor2d(xTrain, [n, d]))) as tf.Tensor2D;
  const gramT = tf.tidy(() => tf.matMul(tf.tensor2d(xTrain, [n, d]), xTrainT));
  const gram = Float64Array.from(gramT.dataSync());
  gramT.dispose();
  let trace = 0;
  for (let i = 0; i < n; i++) trace += gram[i * n + i]!;
  const norm = trace > 0 ? n / trace : 1;
  for (let k = 0; k < gram.length; k++) gram[k]! *= norm;
  return { block: { d, mean, sd, xTrainT, norm }, gram };
}

export interface RidgeOptions {
  folds?: number;
  /** λ candidates as multiples of the combined Gram matrix's mean diagonal. */
  lambdaScales?: number[];
  /**
   * With several feature blocks: candidate weightings of the blocks (each block's Gram matrix is
   * scaled to unit mean diagonal first); chosen per unit together with λ. Default: equal weights.
   */
  blockWeights?: number[][];
  /** Per block: scale each feature to unit variance (default true) or only centre it. */
  scalePerFeature?: boolean[];
  seed?: number;
}

/**
 * Fits ridge regressions (one per unit, shared features) on rows `trainIdx` of features [N, d]
 * and targets [N, U] (NaN targets count as 0: use z-scored targets; excluded units are ignored by
 * the caller). Features are standardized with the training rows' statistics; intercept = mean.
 */
export function ridgeFit(
  features: Float32Array,
  nRows: number,
  targets: Float32Array,
  units: number,
  trainIdx: readonly number[],
  options: RidgeOptions = {},
): RidgeModel {
  return ridgeFitBlocks([features], nRows, targets, units, trainIdx, options);
}

/** Training targets [n, U] with NaN as 0, centred per unit (the intercept is the mean). */
function centredTargets(
  targets: Float32Array,
  units: number,
  trainIdx: readonly number[],
): { y: Float64Array; yMean: Float64Array } {
  const n = trainIdx.length;
  const y = new Float64Array(n * units);
  const yMean = new Float64Array(units);
  for (let r = 0; r < n; r++)
    for (let u = 0; u < units; u++) {
      const v = targets[trainIdx[r]! * units + u]!;
      y[r * units + u] = Number.isNaN(v) ? 0 : v;
      yMean[u]! += y[r * units + u]! / n;
    }
  for (let r = 0; r < n; r++) for (let u = 0; u < units; u++) y[r * units + u]! -= yMean[u]!;
  return { y, yMean };
}

/** Weighted sum of the blocks' (trace-normalized) Gram matrices. */
function weightedGram(grams: readonly Float64Array[], w: readonly number[], n: number): Float64Array {
  const g = new Float64Array(n * n);
  grams.forEach((gb, b) => {
    if (w[b] === 0) return;
    for (let k = 0; k < g.length; k++) g[k]! += w[b]! * gb[k]!;
  });
  return g;
}

/**
 * Squared errors [lambdas.length, U] of one block weighting's ridge fits, each λ, summed over the
 * k folds of `order` (fold f: positions i with i % folds = f) and their rows. Self-contained (it runs
 * in the ridge pool's workers too).
 */
export function weightingErrors(
  g: Float64Array,
  n: number,
  order: readonly number[],
  folds: number,
  lambdas: readonly number[],
  y: Float64Array,
  units: number,
): Float64Array {
  const sse = new Float64Array(lambdas.length * units);
  for (let f = 0; f < folds; f++) {
    const val = order.filter((_, i) => i % folds === f);
    const fit = order.filter((_, i) => i % folds !== f);
    const gv = new Float64Array(fit.length);
    const p = new Float64Array(units);
    for (let li = 0; li < lambdas.length; li++) {
      const alpha = solveFor(g, n, fit, lambdas[li]!, y, units);
      // Every unit's prediction at once (the same sums in the same order as one unit at a time).
      for (const v of val) {
        for (let k = 0; k < fit.length; k++) gv[k] = g[v * n + fit[k]!]!;
        p.fill(0);
        for (let k = 0; k < fit.length; k++) {
          const gk = gv[k]!;
          const row = k * units;
          for (let u = 0; u < units; u++) p[u]! += gk * alpha[row + u]!;
        }
        for (let u = 0; u < units; u++) sse[li * units + u]! += (p[u]! - y[v * units + u]!) ** 2;
      }
    }
  }
  return sse;
}

interface CandidateSetup {
  grams: Float64Array[];
  y: Float64Array;
  yMean: Float64Array;
  candidates: { wi: number; lambda: number }[];
  /** Per weighting, its λ candidates. */
  lambdas: number[][];
  order: number[];
  folds: number;
}

function setupCandidates(
  prepared: readonly { gram: Float64Array }[],
  targets: Float32Array,
  units: number,
  trainIdx: readonly number[],
  options: RidgeOptions,
): CandidateSetup {
  const n = trainIdx.length;
  const weightings = options.blockWeights ?? [prepared.map(() => 1)];
  for (const w of weightings)
    if (w.length !== prepared.length)
      throw new Error(`ridge: a block weighting has ${w.length} weights for ${prepared.length} blocks`);
  const grams = weightings.map((w) =>
    weightedGram(
      prepared.map((p) => p.gram),
      w,
      n,
    ),
  );
  const { y, yMean } = centredTargets(targets, units, trainIdx);
  const scales = options.lambdaScales ?? [1e-2, 1e-1, 1, 10, 100, 1000];
  const folds = options.folds ?? 3;
  const order = new SeededRandom(options.seed ?? 3).shuffle(Array.from({ length: n }, (_, i) => i));
  // Candidates: (weighting, λ); λ relative to the weighted Gram matrix's mean diagonal (Σ weights).
  const lambdas = weightings.map((w) => scales.map((sc) => sc * w.reduce((a, b) => a + b, 0)));
  const candidates = lambdas.flatMap((ls, wi) => ls.map((lambda) => ({ wi, lambda })));
  return { grams, y, yMean, candidates, lambdas, order, folds };
}

/** Per unit, the candidate with the least summed squared error (the first on a tie). */
function pickCandidates(setup: CandidateSetup, errors: readonly Float64Array[], units: number): number[] {
  const sse = setup.candidates.map((c, ci) => {
    const li = ci - setup.candidates.findIndex((d) => d.wi === c.wi);
    return errors[c.wi]!.subarray(li * units, (li + 1) * units);
  });
  return Array.from({ length: units }, (_, u) => {
    let best = 0;
    for (let ci = 1; ci < sse.length; ci++) if (sse[ci]![u]! < sse[best]![u]!) best = ci;
    return best;
  });
}

/**
 * The candidates (block weighting, λ) and, per unit, the one with the least k-fold cross-validated
 * squared error on the training rows.
 */
function chooseCandidates(
  prepared: readonly { gram: Float64Array }[],
  targets: Float32Array,
  units: number,
  trainIdx: readonly number[],
  options: RidgeOptions,
): CandidateSetup & { chosen: number[] } {
  const setup = setupCandidates(prepared, targets, units, trainIdx, options);
  const n = trainIdx.length;
  const errors = setup.grams.map((g, wi) =>
    weightingErrors(g, n, setup.order, setup.folds, setup.lambdas[wi]!, setup.y, units),
  );
  return { ...setup, chosen: pickCandidates(setup, errors, units) };
}

/**
 * Ridge on several blocks of features of the same rows at once (kernel form: the blocks' Gram
 * matrices, each scaled to unit mean diagonal, summed with weights), with the weighting and λ
 * chosen per unit by k-fold cross-validation on the training rows.
 */
export function ridgeFitBlocks(
  blockFeatures: readonly Float32Array[],
  nRows: number,
  targets: Float32Array,
  units: number,
  trainIdx: readonly number[],
  options: RidgeOptions = {},
): RidgeModel {
  const n = trainIdx.length;
  const prepared = blockFeatures.map((f, b) => prepareBlock(f, nRows, trainIdx, options.scalePerFeature?.[b] ?? true));
  const blocks = prepared.map((p) => p.block);
  const weightings = options.blockWeights ?? [blocks.map(() => 1)];
  const { grams, y, yMean, candidates, chosen } = chooseCandidates(prepared, targets, units, trainIdx, options);
  const all = Array.from({ length: n }, (_, i) => i);
  const alphas = new Map<number, Float64Array>();
  for (const ci of new Set(chosen))
    alphas.set(ci, solveFor(grams[candidates[ci]!.wi]!, n, all, candidates[ci]!.lambda, y, units));
  return {
    lambdas: chosen.map((ci) => candidates[ci]!.lambda),
    weights: chosen.map((ci) => weightings[candidates[ci]!.wi]!),
    dispose() {
      tf.dispose(blocks.map((b) => b.xTrainT));
    },
    predict(feats, idx) {
      const all = Array.isArray(feats) ? (feats as Float32Array[]) : [feats as Float32Array];
      if (all.length !== blocks.length)
        throw new Error(`ridge predict: ${all.length} feature blocks for a model of ${blocks.length}`);
      // Test-by-train kernel per block (scaled like its Gram matrix).
      const kBlocks = blocks.map((b, bi) => {
        const xTest = standardizeRows(all[bi]!, b.d, b.mean, b.sd, idx);
        const k = tf.tidy(() => tf.matMul(tf.tensor2d(xTest, [idx.length, b.d]), b.xTrainT));
        const out = k.dataSync() as Float32Array;
        k.dispose();
        return out;
      });
      const out = new Float32Array(idx.length * units);
      const kt = new Float64Array(n);
      for (let r = 0; r < idx.length; r++) {
        for (const ci of new Set(chosen)) {
          const w = weightings[candidates[ci]!.wi]!;
          kt.fill(0);
          kBlocks.forEach((kb, bi) => {
            const s = w[bi]! * blocks[bi]!.norm;
            if (s !== 0) for (let k = 0; k < n; k++) kt[k]! += s * kb[r * n + k]!;
          });
          const alpha = alphas.get(ci)!;
          for (let u = 0; u < units; u++) {
            if (chosen[u] !== ci) continue;
            let p = yMean[u]!;
            for (let k = 0; k < n; k++) p += kt[k]! * alpha[k * units + u]!;
            out[r * units + u] = p;
          }
        }
      }
      return out;
    },
  };
}

/** Per unit, the block weighting and λ of a ridge over several blocks. */
export interface RidgeChoice {
  weights: number[][];
  lambdas: number[];
}

/**
 * The per-unit choice of ridgeFitBlocks (weighting and λ by k-fold cross-validation), without the final
 * fit; each weighting's folds run on the runner (ridge-pool.ts: worker threads, or inline).
 */
export async function ridgeChooseBlocks(
  prepared: readonly { gram: Float64Array }[],
  targets: Float32Array,
  units: number,
  trainIdx: readonly number[],
  options: RidgeOptions,
  runner: Pick<RidgeRunner, "weightingErrors">,
): Promise<RidgeChoice> {
  const weightings = options.blockWeights ?? [prepared.map(() => 1)];
  const setup = setupCandidates(prepared, targets, units, trainIdx, options);
  const n = trainIdx.length;
  const errors = await Promise.all(
    setup.grams.map((g, wi) =>
      runner.weightingErrors(g, n, setup.order, setup.folds, setup.lambdas[wi]!, setup.y, units),
    ),
  );
  const chosen = pickCandidates(setup, errors, units);
  return {
    weights: chosen.map((ci) => weightings[setup.candidates[ci]!.wi]!),
    lambdas: chosen.map((ci) => setup.candidates[ci]!.lambda),
  };
}

/** A ridge's primal form on the raw (unstandardized) features: prediction = Σ_b x_b · weights[b] + bias. */
export interface RidgePrimal {
  /** Per block, weights [d_b, U] (row-major). */
  weights: Float32Array[];
  bias: Float32Array;
}

/**
 * Fits each unit's ridge with its given weighting and λ on all training rows (kernel form, as
 * ridgeFitBlocks) and converts the dual solution α to primal weights: for block b,
 * W_b = weight_b · norm_b · X_bᵀ α with X_b the block's standardized training rows, then the
 * standardization is folded in (rows of W_b divided by the feature's sd, the means moved into the bias).
 */
export async function ridgePrimalBlocks(
  prepared: readonly PreparedBlock[],
  targets: Float32Array,
  units: number,
  trainIdx: readonly number[],
  choice: RidgeChoice,
  runner: Pick<RidgeRunner, "solve">,
  /**
   * Calls that share their first `blocks` blocks and targets (e.g. ensemble members, whose front-end block is
   * the same) share `alphas`: a unit group weighting only those blocks reuses the dual solution solved first.
   */
  shared?: { blocks: number; alphas: Map<string, Promise<Float64Array>> },
): Promise<RidgePrimal> {
  const n = trainIdx.length;
  if (choice.weights.length !== units || choice.lambdas.length !== units)
    throw new Error(`ridge: a choice for ${choice.weights.length} units, the targets have ${units}`);
  const { y, yMean } = centredTargets(targets, units, trainIdx);
  const groups = new Map<string, number[]>();
  for (let u = 0; u < units; u++) {
    const w = choice.weights[u]!;
    if (w.length !== prepared.length)
      throw new Error(`ridge: unit ${u}'s weighting has ${w.length} weights for ${prepared.length} blocks`);
    const key = `${w.join(",")}|${choice.lambdas[u]!}`;
    groups.set(key, [...(groups.get(key) ?? []), u]);
  }
  // Every group's dual solution, solved side by side on the runner.
  const alphas = [...groups].map(([key, us]) => {
    const w = choice.weights[us[0]!]!;
    const reusable = shared !== undefined && w.every((v, b) => b < shared.blocks || v === 0);
    const known = reusable ? shared.alphas.get(key) : undefined;
    if (known !== undefined) return known;
    const k = us.length;
    const yg = new Float64Array(n * k);
    for (let r = 0; r < n; r++) us.forEach((u, c) => (yg[r * k + c] = y[r * units + u]!));
    const g = weightedGram(
      prepared.map((p) => p.gram),
      w,
      n,
    );
    const alpha = runner.solve(g, n, choice.lambdas[us[0]!]!, yg, k);
    if (reusable) shared.alphas.set(key, alpha);
    return alpha;
  });
  const solved = await Promise.all(alphas);
  const weights = prepared.map((p) => new Float32Array(p.block.d * units));
  [...groups.values()].forEach((us, gi) => {
    const w = choice.weights[us[0]!]!;
    const k = us.length;
    const alpha32 = tf.tensor2d(Float32Array.from(solved[gi]!), [n, k]);
    prepared.forEach(({ block }, b) => {
      if (w[b] === 0) return;
      const s = w[b]! * block.norm;
      const wb = tf.tidy(() => tf.matMul(block.xTrainT, alpha32));
      const values = wb.dataSync();
      wb.dispose();
      const out = weights[b]!;
      for (let j = 0; j < block.d; j++) {
        const f = s / block.sd[j]!;
        for (let c = 0; c < k; c++) out[j * units + us[c]!] = values[j * k + c]! * f;
      }
    });
    alpha32.dispose();
  });
  const bias = new Float32Array(units);
  for (let u = 0; u < units; u++) {
    let v = yMean[u]!;
    prepared.forEach(({ block }, b) => {
      const wb = weights[b]!;
      for (let j = 0; j < block.d; j++) v -= block.mean[j]! * wb[j * units + u]!;
    });
    bias[u] = v;
  }
  return { weights, bias };
}

/** Releases a prepared block's tensor. */
export function disposeBlock(p: PreparedBlock): void {
  p.block.xTrainT.dispose();
}
