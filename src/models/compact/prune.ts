// Pruning a compact model (Cowley et al. 2023, Extended Data Fig. 2h): filters whose ablation changes
// the output least are removed, deepest layer first, while a stated fraction of the output variance
// on held-out images is kept. Works on the 36 published arrays; removing a filter is exactly the
// same function as zeroing its output (the next layer's weights for it go too).
import * as tf from "@tensorflow/tfjs";
import type { NdArray } from "./npy.js";
import { BATCHNORM_EPSILON, checkCompactArrays, COMPACT_STRIDES } from "./model.js";
import {
  centerPixels,
  disposeLayer,
  firstArrayOf,
  layerInference,
  layerVarsFromArrays,
  type CompactLayerVars,
} from "./layers.js";

/** Input side of a model in the published layout, from its readout (side/4 squared rows per layer-4 filter). */
export function inputSizeOf(arrays: readonly NdArray[]): number {
  const k4 = arrays[29]?.shape[0] ?? 0;
  const rows = arrays[34]?.shape[0] ?? 0;
  const side = Math.round(Math.sqrt(k4 > 0 ? rows / k4 : 0));
  return side * 4;
}

/** Values of `a` at positions `idx` along `axis` (C order). */
export function takeAxis(a: NdArray, axis: number, idx: readonly number[]): NdArray {
  const shape = [...a.shape];
  const outer = shape.slice(0, axis).reduce((x, y) => x * y, 1);
  const inner = shape.slice(axis + 1).reduce((x, y) => x * y, 1);
  const n = shape[axis]!;
  for (const i of idx)
    if (!Number.isInteger(i) || i < 0 || i >= n)
      throw new Error(`takeAxis: index ${i} out of range 0..${n - 1} on axis ${axis}`);
  const data = new Float32Array(outer * idx.length * inner);
  for (let o = 0; o < outer; o++) {
    idx.forEach((i, k) =>
      data.set(a.data.subarray((o * n + i) * inner, (o * n + i + 1) * inner), (o * idx.length + k) * inner),
    );
  }
  shape[axis] = idx.length;
  return { shape, dtype: "f4", data };
}

/**
 * The arrays of a model with only the filters `kept[l]` of each layer l (sorted indices into its
 * current filters): the filters, their batchnorm entries, the next layer's weights on them, and for
 * layer 4 the readout's weights on them.
 */
export function pruneArrays(arrays: readonly NdArray[], kept: readonly (readonly number[])[]): NdArray[] {
  const filters = checkCompactArrays([...arrays], "pruneArrays input", inputSizeOf(arrays));
  if (kept.length !== 5) throw new Error(`pruneArrays: kept must list 5 layers, got ${kept.length}`);
  kept.forEach((k, l) => {
    if (k.length < 1) throw new Error(`pruneArrays: layer ${l} would keep no filter`);
    if (new Set(k).size !== k.length) throw new Error(`pruneArrays: layer ${l} lists a filter twice`);
  });
  const out = arrays.map((a) => ({ shape: [...a.shape], dtype: a.dtype, data: a.data }) as NdArray);
  for (let l = 0; l < 5; l++) {
    const k = kept[l]!;
    const at = firstArrayOf(l);
    if (l === 0) {
      out[0] = takeAxis(out[0]!, 3, k);
      for (let i = 1; i < 6; i++) out[i] = takeAxis(out[i]!, 0, k);
    } else {
      out[at + 1] = takeAxis(out[at + 1]!, 3, k);
      for (let i = 2; i < 7; i++) out[at + i] = takeAxis(out[at + i]!, 0, k);
    }
    if (l < 4) {
      const next = firstArrayOf(l + 1);
      out[next] = takeAxis(out[next]!, 2, k);
      out[next + 1] = takeAxis(out[next + 1]!, 2, k);
    } else {
      const readout = out[34]!;
      const side2 = readout.shape[0]! / filters[4]!;
      const rows: number[] = [];
      for (let p = 0; p < side2; p++) for (const c of k) rows.push(p * filters[4]! + c);
      out[34] = takeAxis(readout, 0, rows);
    }
  }
  return out;
}

export interface PruneOptions {
  /** Fraction of the output variance (on the pruning images) the pruned model keeps; e.g. 0.9. */
  keepVariance: number;
  /** Never fewer filters than this in a layer (the published models keep at least 3). */
  minFilters: number;
  /** Channels ablated together in one batched pass (memory against speed). */
  group?: number;
}

export interface PruneResult {
  arrays: NdArray[];
  /** Per layer, the original indices of the filters kept. */
  kept: number[][];
  /** Filters per layer before and after. */
  before: number[];
  after: number[];
  /** Fraction of the unpruned output's variance the pruned model keeps on the pruning images. */
  varianceKept: number;
}

interface Net {
  layers: CompactLayerVars[];
  readoutKernel: tf.Tensor2D;
  readoutBias: tf.Tensor1D;
  dispose(): void;
}

function netOf(arrays: readonly NdArray[]): Net {
  const layers = [0, 1, 2, 3, 4].map((l) =>
    layerVarsFromArrays(l, arrays.slice(firstArrayOf(l), firstArrayOf(l) + (l === 0 ? 6 : 7))),
  );
  const [rk, rb] = [arrays[34]!, arrays[35]!];
  const readoutKernel = tf.tensor2d(Float32Array.from(rk.data), rk.shape as [number, number]);
  const readoutBias = tf.tensor1d(Float32Array.from(rb.data));
  return {
    layers,
    readoutKernel,
    readoutBias,
    dispose: () => {
      layers.forEach(disposeLayer);
      tf.dispose([readoutKernel, readoutBias]);
    },
  };
}

function readout(net: Net, a: tf.Tensor4D): tf.Tensor1D {
  return tf.reshape(
    tf.add(tf.matMul(tf.reshape(a, [a.shape[0], -1]) as tf.Tensor2D, net.readoutKernel), net.readoutBias),
    [-1],
  ) as tf.Tensor1D;
}

/** Output [N] from layer `from`'s input activation (layers from..4, then the readout). */
function forwardFrom(net: Net, from: number, a: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    let x = a;
    for (let l = from; l < 5; l++) x = layerInference(net.layers[l]!, x);
    return readout(net, x);
  });
}

/** The values of a tensor computed by `fn`, the tensor disposed. */
function valuesOf(fn: () => tf.Tensor): Float32Array {
  const t = tf.tidy(fn);
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

/** Activations after each layer, for pixels 0..255. */
function activations(net: Net, pixels: tf.Tensor4D): tf.Tensor4D[] {
  return tf.tidy(() => {
    const acts: tf.Tensor4D[] = [];
    let x = centerPixels(pixels);
    for (const l of net.layers) acts.push((x = layerInference(l, x)));
    return acts;
  });
}

/** 1 − Σ(out − ref)² / Σ(ref − mean ref)²: the fraction of ref's variance that out keeps. */
export function varianceKept(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < ref.length; i++) mean += ref[i]!;
  mean /= ref.length;
  let sse = 0;
  let sst = 0;
  for (let i = 0; i < ref.length; i++) {
    sse += (out[i]! - ref[i]!) ** 2;
    sst += (ref[i]! - mean) ** 2;
  }
  return sst > 0 ? 1 - sse / sst : Number.NaN;
}

/**
 * Output change from ablating each filter of layer `layer` alone: mean squared difference from the
 * current output. Exact and batched: a filter of layer l < 4 reaches the output only through layer
 * l+1's pre-activation, which it changes by a rank-one term (its depthwise output times its row of
 * the pointwise kernel); a filter of layer 4 through its share of the readout.
 */
function ablationEffects(
  net: Net,
  acts: tf.Tensor4D[],
  layer: number,
  current: Float32Array,
  group: number,
): Float64Array {
  const k = acts[layer]!.shape[3];
  const n = acts[layer]!.shape[0];
  const effects = new Float64Array(k);
  if (layer === 4) {
    const contrib = tf.tidy(() => {
      const a = acts[4]!;
      const [, h, w, c] = a.shape;
      const weights = tf.reshape(net.readoutKernel, [1, h, w, c]);
      return tf.sum(tf.mul(a, weights), [1, 2]);
    });
    const v = contrib.dataSync() as Float32Array;
    contrib.dispose();
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += v[i * k + j]! ** 2;
      effects[j] = s / n;
    }
    return effects;
  }
  const next = net.layers[layer + 1]!;
  const [d, z, scale, shift] = tf.tidy(() => {
    const dd = tf.depthwiseConv2d(acts[layer]!, next.depthwise as tf.Tensor4D, COMPACT_STRIDES[layer + 1]!, "same");
    const zz = tf.conv2d(dd, next.kernel as tf.Tensor4D, 1, "valid");
    const sc = tf.mul(next.gamma, tf.rsqrt(tf.add(next.movingVariance, BATCHNORM_EPSILON)));
    const sh = tf.add(tf.mul(tf.sub(next.bias, next.movingMean), sc), next.beta);
    return [dd, zz, sc, sh];
  }) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
  const [, h, w, kNext] = z.shape;
  const pw = tf.reshape(next.kernel, [k, kNext]) as tf.Tensor2D;
  for (let start = 0; start < k; start += group) {
    const idx = Array.from({ length: Math.min(group, k - start) }, (_, i) => start + i);
    const out = tf.tidy(() => {
      const j = tf.tensor1d(idx, "int32");
      // [g, N, h, w, 1] × [g, 1, 1, 1, kNext]
      const dj = tf.expandDims(tf.transpose(tf.gather(d, j, 3), [3, 0, 1, 2]), 4);
      const pj = tf.reshape(tf.gather(pw, j, 0), [idx.length, 1, 1, 1, kNext]);
      const zj = tf.reshape(tf.sub(tf.expandDims(z, 0), tf.mul(dj, pj)), [idx.length * n, h, w, kNext]) as tf.Tensor4D;
      const a = tf.relu(tf.add(tf.mul(zj, scale), shift)) as tf.Tensor4D;
      return forwardFrom(net, layer + 2, a);
    });
    const v = out.dataSync() as Float32Array;
    out.dispose();
    idx.forEach((c, g) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (v[g * n + i]! - current[i]!) ** 2;
      effects[c] = s / n;
    });
  }
  tf.dispose([d, z, scale, shift, pw]);
  return effects;
}

/** Per filter of `layer`, the mean squared change of the output on `pixels` when that filter alone is removed. */
export function filterAblationEffects(arrays: readonly NdArray[], pixels: tf.Tensor4D, layer: number): Float64Array {
  const net = netOf(arrays);
  const acts = activations(net, pixels);
  try {
    const now = valuesOf(() => readout(net, acts[4]!));
    return ablationEffects(net, acts, layer, now, 4);
  } finally {
    tf.dispose(acts);
    net.dispose();
  }
}

/** Output with filters `removed` of layer `layer` zeroed (exactly the output once they are pruned). */
function outputWithout(net: Net, acts: tf.Tensor4D[], layer: number, removed: readonly number[]): Float32Array {
  const out = tf.tidy(() => {
    const a = acts[layer]!;
    const k = a.shape[3];
    const mask = new Float32Array(k).fill(1);
    for (const r of removed) mask[r] = 0;
    return forwardFrom(net, layer + 1, tf.mul(a, tf.tensor1d(mask)) as tf.Tensor4D);
  });
  const v = out.dataSync() as Float32Array;
  out.dispose();
  return v;
}

/**
 * Prunes deepest layer first. Layer l's filters are ranked by the output change their ablation
 * alone causes; then as many of the lowest-ranked as possible are removed such that, counting
 * every layer pruned so far, the output keeps at least 1 − (1 − keepVariance)·(i/5) of the unpruned
 * output's variance (i = layers pruned so far, so the budget is spread evenly over the 5 layers)
 * and the layer keeps at least minFilters.
 */
export function pruneCompactModel(arrays: readonly NdArray[], pixels: tf.Tensor4D, options: PruneOptions): PruneResult {
  const before = checkCompactArrays([...arrays], "pruneCompactModel input", inputSizeOf(arrays));
  if (!(options.keepVariance > 0 && options.keepVariance <= 1))
    throw new Error(`pruneCompactModel: keepVariance must be in (0, 1], got ${options.keepVariance}`);
  if (!Number.isInteger(options.minFilters) || options.minFilters < 1)
    throw new Error(`pruneCompactModel: minFilters must be a positive integer, got ${options.minFilters}`);
  const group = options.group ?? 4;
  let current = [...arrays];
  const original = before.map((k) => Array.from({ length: k }, (_, i) => i));
  const reference = (() => {
    const net = netOf(current);
    try {
      return valuesOf(() => forwardFrom(net, 0, centerPixels(pixels)));
    } finally {
      net.dispose();
    }
  })();
  let kept = reference;
  for (let layer = 4; layer >= 0; layer--) {
    const step = 5 - layer;
    const threshold = 1 - (1 - options.keepVariance) * (step / 5);
    const net = netOf(current);
    const acts = activations(net, pixels);
    try {
      const k = acts[layer]!.shape[3];
      const now = valuesOf(() => readout(net, acts[4]!));
      const effects = ablationEffects(net, acts, layer, now, group);
      const order = Array.from(effects, (e, j) => ({ e, j }))
        .sort((a, b) => a.e - b.e || a.j - b.j)
        .map((x) => x.j);
      const most = Math.max(0, k - options.minFilters);
      // Largest m whose removal keeps the threshold (binary search, then a check that it holds).
      const ok = (m: number): { pass: boolean; out: Float32Array } => {
        const out = m === 0 ? now : outputWithout(net, acts, layer, order.slice(0, m));
        return { pass: m === 0 || varianceKept(out, reference) >= threshold, out };
      };
      let lo = 0;
      let hi = most;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (ok(mid).pass) lo = mid;
        else hi = mid - 1;
      }
      const chosen = ok(lo);
      kept = chosen.out;
      const removed = new Set(order.slice(0, lo));
      const keepIdx = Array.from({ length: k }, (_, j) => j).filter((j) => !removed.has(j));
      const keepAll = before.map((_, l) =>
        l === layer ? keepIdx : Array.from({ length: acts[l]!.shape[3] }, (_, j) => j),
      );
      current = pruneArrays(current, keepAll);
      original[layer] = keepIdx.map((j) => original[layer]![j]!);
    } finally {
      tf.dispose(acts);
      net.dispose();
    }
  }
  return {
    arrays: current,
    kept: original,
    before,
    after: original.map((k) => k.length),
    varianceKept: varianceKept(kept, reference),
  };
}
