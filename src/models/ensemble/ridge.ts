// Task-driven baseline: ridge regression from flattened front-end features to each unit,
// with λ chosen per unit by k-fold cross-validation (kernel form: n images ≪ d features).
import * as tf from "@tensorflow/tfjs";
import { SeededRandom } from "../data/random.js";

export interface RidgeModel {
  lambdas: number[];
  /** Per unit, the block weighting chosen (one weight with a single block). */
  weights: number[][];
  /** Predictions [idx.length, U] for rows idx of a feature matrix [N, d] (or of each block, in order). */
  predict(features: Float32Array | readonly Float32Array[], idx: readonly number[]): Float32Array;
  /** Releases the training features kept for prediction (one tensor). */
  dispose(): void;
}

/** In-place Cholesky of a symmetric positive definite n×n matrix (lower triangle). */
export function cholesky(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= a[j * n + k]! ** 2;
    if (!(d > 0)) throw new Error(`cholesky: matrix is not positive definite at pivot ${j} (${d})`);
    const l = Math.sqrt(d);
    a[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      const ri = i * n;
      const rj = j * n;
      for (let k = 0; k < j; k++) s -= a[ri + k]! * a[rj + k]!;
      a[i * n + j] = s / l;
    }
  }
}

/** Solves L Lᵀ X = B for B [n, m] (overwritten with X). */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array, m: number): void {
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const f = l[i * n + k]!;
      if (f !== 0) for (let c = 0; c < m; c++) b[i * m + c]! -= f * b[k * m + c]!;
    }
    const d = l[i * n + i]!;
    for (let c = 0; c < m; c++) b[i * m + c]! /= d;
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const f = l[k * n + i]!;
      if (f !== 0) for (let c = 0; c < m; c++) b[i * m + c]! -= f * b[k * m + c]!;
    }
    const d = l[i * n + i]!;
    for (let c = 0; c < m; c++) b[i * m + c]! /= d;
  }
}

function solveFor(
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
interface Block {
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

function prepareBlock(
  features: Float32Array,
  nRows: number,
  trainIdx: readonly number[],
  scalePerFeature: boolean,
): { block: Block; gram: Float64Array } {
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
  for (const w of weightings)
    if (w.length !== blocks.length)
      throw new Error(`ridge: a block weighting has ${w.length} weights for ${blocks.length} blocks`);
  const grams = weightings.map((w) => {
    const g = new Float64Array(n * n);
    prepared.forEach((p, b) => {
      if (w[b] === 0) return;
      for (let k = 0; k < g.length; k++) g[k]! += w[b]! * p.gram[k]!;
    });
    return g;
  });
  const y = new Float64Array(n * units);
  const yMean = new Float64Array(units);
  for (let r = 0; r < n; r++)
    for (let u = 0; u < units; u++) {
      const v = targets[trainIdx[r]! * units + u]!;
      y[r * units + u] = Number.isNaN(v) ? 0 : v;
      yMean[u]! += y[r * units + u]! / n;
    }
  for (let r = 0; r < n; r++) for (let u = 0; u < units; u++) y[r * units + u]! -= yMean[u]!;
  const scales = options.lambdaScales ?? [1e-2, 1e-1, 1, 10, 100, 1000];
  const folds = options.folds ?? 3;
  const order = new SeededRandom(options.seed ?? 3).shuffle(Array.from({ length: n }, (_, i) => i));
  // Candidates: (weighting, λ); λ relative to the weighted Gram matrix's mean diagonal (Σ weights).
  const candidates = weightings.flatMap((w, wi) =>
    scales.map((sc) => ({ wi, lambda: sc * w.reduce((a, b) => a + b, 0) })),
  );
  const sse = candidates.map(() => new Float64Array(units));
  for (let f = 0; f < folds; f++) {
    const val = order.filter((_, i) => i % folds === f);
    const fit = order.filter((_, i) => i % folds !== f);
    candidates.forEach((c, ci) => {
      const g = grams[c.wi]!;
      const alpha = solveFor(g, n, fit, c.lambda, y, units);
      for (const v of val)
        for (let u = 0; u < units; u++) {
          let p = 0;
          for (let k = 0; k < fit.length; k++) p += g[v * n + fit[k]!]! * alpha[k * units + u]!;
          sse[ci]![u]! += (p - y[v * units + u]!) ** 2;
        }
    });
  }
  const chosen = Array.from({ length: units }, (_, u) => {
    let best = 0;
    for (let ci = 1; ci < candidates.length; ci++) if (sse[ci]![u]! < sse[best]![u]!) best = ci;
    return best;
  });
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
