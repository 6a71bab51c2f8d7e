// Task-driven baseline: ridge regression from flattened front-end features to each unit,
// with λ chosen per unit by k-fold cross-validation (kernel form: n images ≪ d features).
import * as tf from "@tensorflow/tfjs";
import { SeededRandom } from "../data/random.js";

export interface RidgeModel {
  lambdas: number[];
  /** Predictions [idx.length, U] for rows idx of a feature matrix [N, d]. */
  predict(features: Float32Array, idx: readonly number[]): Float32Array;
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

function solveFor(gram: Float64Array, n: number, rows: readonly number[], lambda: number, y: Float64Array, m: number): Float64Array {
  const k = rows.length;
  const a = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) a[i * k + j] = gram[rows[i]! * n + rows[j]!]! + (i === j ? lambda : 0);
  cholesky(a, k);
  const b = new Float64Array(k * m);
  for (let i = 0; i < k; i++) for (let c = 0; c < m; c++) b[i * m + c] = y[rows[i]! * m + c]!;
  choleskySolve(a, k, b, m);
  return b;
}

/**
 * Fits ridge regressions (one per unit, shared features) on rows `trainIdx` of features [N, d]
 * and targets [N, U] (NaN targets count as 0: use z-scored targets; excluded units are ignored by
 * the caller). Features are standardized with the training rows' statistics; intercept = mean.
 */
export function ridgeFit(features: Float32Array, nRows: number, targets: Float32Array, units: number, trainIdx: readonly number[], options: { folds?: number; lambdaScales?: number[]; seed?: number } = {}): RidgeModel {
  const d = features.length / nRows;
  const n = trainIdx.length;
  const mean = new Float64Array(d);
  const sd = new Float64Array(d);
  for (const i of trainIdx) for (let j = 0; j < d; j++) mean[j]! += features[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  for (const i of trainIdx) for (let j = 0; j < d; j++) sd[j]! += (features[i * d + j]! - mean[j]!) ** 2;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]! / Math.max(1, n - 1)) || 1;
  const standardize = (src: Float32Array, idx: readonly number[]): Float32Array => {
    if (src.length % d !== 0) throw new Error(`ridge predict: features hold ${src.length} values, not a multiple of ${d} per image`);
    const out = new Float32Array(idx.length * d);
    idx.forEach((i, r) => {
      for (let j = 0; j < d; j++) out[r * d + j] = (src[i * d + j]! - mean[j]!) / sd[j]!;
    });
    return out;
  };
  const xTrain = standardize(features, trainIdx);
  // Transposed explicitly: the wasm backend's matMul with transposeB took 14× as long (35 s against 2.6 s for 960 × 3136).
  const xTrainT = tf.tidy(() => tf.transpose(tf.tensor2d(xTrain, [n, d])));
  const gram = tf.tidy(() => tf.matMul(tf.tensor2d(xTrain, [n, d]), xTrainT));
  const g = Float64Array.from(gram.dataSync());
  gram.dispose();
  const y = new Float64Array(n * units);
  const yMean = new Float64Array(units);
  for (let r = 0; r < n; r++) for (let u = 0; u < units; u++) {
    const v = targets[trainIdx[r]! * units + u]!;
    y[r * units + u] = Number.isNaN(v) ? 0 : v;
    yMean[u]! += y[r * units + u]! / n;
  }
  for (let r = 0; r < n; r++) for (let u = 0; u < units; u++) y[r * units + u]! -= yMean[u]!;
  let trace = 0;
  for (let i = 0; i < n; i++) trace += g[i * n + i]!;
  const scales = options.lambdaScales ?? [1e-2, 1e-1, 1, 10, 100, 1000];
  const lambdas = scales.map((s) => (s * trace) / n);
  const folds = options.folds ?? 3;
  const order = new SeededRandom(options.seed ?? 3).shuffle(Array.from({ length: n }, (_, i) => i));
  const sse = lambdas.map(() => new Float64Array(units));
  for (let f = 0; f < folds; f++) {
    const val = order.filter((_, i) => i % folds === f);
    const fit = order.filter((_, i) => i % folds !== f);
    for (let li = 0; li < lambdas.length; li++) {
      const alpha = solveFor(g, n, fit, lambdas[li]!, y, units);
      for (const v of val) for (let u = 0; u < units; u++) {
        let p = 0;
        for (let k = 0; k < fit.length; k++) p += g[v * n + fit[k]!]! * alpha[k * units + u]!;
        sse[li]![u]! += (p - y[v * units + u]!) ** 2;
      }
    }
  }
  const chosen = Array.from({ length: units }, (_, u) => {
    let best = 0;
    for (let li = 1; li < lambdas.length; li++) if (sse[li]![u]! < sse[best]![u]!) best = li;
    return best;
  });
  const all = Array.from({ length: n }, (_, i) => i);
  const alphas = new Map<number, Float64Array>();
  for (const li of new Set(chosen)) alphas.set(li, solveFor(g, n, all, lambdas[li]!, y, units));
  return {
    lambdas: chosen.map((li) => lambdas[li]!),
    dispose() {
      xTrainT.dispose();
    },
    predict(feats, idx) {
      const xTest = standardize(feats, idx);
      const kTest = tf.tidy(() => tf.matMul(tf.tensor2d(xTest, [idx.length, d]), xTrainT));
      const kt = kTest.dataSync();
      kTest.dispose();
      const out = new Float32Array(idx.length * units);
      for (let r = 0; r < idx.length; r++) for (let u = 0; u < units; u++) {
        const alpha = alphas.get(chosen[u]!)!;
        let p = yMean[u]!;
        for (let k = 0; k < n; k++) p += kt[r * n + k]! * alpha[k * units + u]!;
        out[r * units + u] = p;
      }
      return out;
    },
  };
}
