// One compact layer's weights as tf variables, in the published (Keras) order, and its forward pass
// in training form (batch statistics, moving averages updated) and inference form (moving statistics).
import * as tf from "@tensorflow/tfjs";
import type { NdArray } from "./npy.js";
import { BATCHNORM_EPSILON, CHANNEL_MEANS, COMPACT_KERNEL_SIZE, COMPACT_STRIDES } from "./model.js";
import { batchNormReluTraining, convOfConstant } from "./training.js";

/** Layer 0 is a 5x5 conv (no depthwise); layers 1-4 are separable 5x5 convs. Then batchnorm and ReLU. */
export interface CompactLayerVars {
  index: number;
  /** [5, 5, cin, 1] for layers 1-4. */
  depthwise?: tf.Variable;
  /** [5, 5, 3, K] for layer 0; the pointwise [1, 1, cin, K] for layers 1-4. */
  kernel: tf.Variable;
  bias: tf.Variable;
  gamma: tf.Variable;
  beta: tf.Variable;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
}

export interface ReadoutVars {
  /** [side * side * K4, 1] */
  kernel: tf.Variable;
  /** [1] */
  bias: tf.Variable;
}

let nextId = 0;

function variable(value: tf.Tensor, trainable: boolean, name: string): tf.Variable {
  return tf.variable(value, trainable, `compact_${name}_${nextId++}`);
}

function fromArray(a: NdArray): tf.Tensor {
  return tf.tensor(a.data instanceof Float32Array ? a.data : Float32Array.from(a.data), a.shape, "float32");
}

/** Index of layer `layer`'s first array in the 36 published arrays. */
export function firstArrayOf(layer: number): number {
  return layer === 0 ? 0 : 6 + 7 * (layer - 1);
}

/** Variables for layer `layer` from its arrays (6 for layer 0, 7 for layers 1-4, published order). */
export function layerVarsFromArrays(layer: number, arrays: readonly NdArray[]): CompactLayerVars {
  return tf.tidy(() => {
    const t = arrays.map(fromArray);
    if (layer === 0) {
      const [kernel, bias, gamma, beta, mean, variance] = t as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      return {
        index: 0,
        kernel: variable(kernel, true, "l0_kernel"),
        bias: variable(bias, true, "l0_bias"),
        gamma: variable(gamma, true, "l0_gamma"),
        beta: variable(beta, true, "l0_beta"),
        movingMean: variable(mean, false, "l0_mean"),
        movingVariance: variable(variance, false, "l0_var"),
      };
    }
    const [dw, pw, bias, gamma, beta, mean, variance] = t as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const p = `l${layer}`;
    return {
      index: layer,
      depthwise: variable(dw, true, `${p}_dw`),
      kernel: variable(pw, true, `${p}_pw`),
      bias: variable(bias, true, `${p}_bias`),
      gamma: variable(gamma, true, `${p}_gamma`),
      beta: variable(beta, true, `${p}_beta`),
      movingMean: variable(mean, false, `${p}_mean`),
      movingVariance: variable(variance, false, `${p}_var`),
    };
  });
}

/** Fresh variables for layer `layer` (cin inputs, k filters): Glorot-uniform kernels, BN at identity. */
export function freshLayerVars(layer: number, cin: number, k: number, seed: number): CompactLayerVars {
  const s = COMPACT_KERNEL_SIZE;
  const glorot = (shape: number[], fanIn: number, fanOut: number, offset: number): NdArray => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const t = tf.tidy(() => tf.randomUniform(shape, -limit, limit, "float32", seed * 131 + offset));
    const data = t.dataSync() as Float32Array;
    t.dispose();
    return { shape, dtype: "f4", data };
  };
  const ones = (n: number): NdArray => ({ shape: [n], dtype: "f4", data: new Float32Array(n).fill(1) });
  const zeros = (n: number): NdArray => ({ shape: [n], dtype: "f4", data: new Float32Array(n) });
  const bn = [ones(k), zeros(k), zeros(k), ones(k)];
  if (layer === 0) return layerVarsFromArrays(0, [glorot([s, s, cin, k], s * s * cin, s * s * k, 0), zeros(k), ...bn]);
  // Keras's fans for a kernel [s, s, a, b]: s*s*a in, s*s*b out (so s*s*cin and s*s for the depthwise).
  return layerVarsFromArrays(layer, [
    glorot([s, s, cin, 1], s * s * cin, s * s, 1),
    glorot([1, 1, cin, k], cin, k, 2),
    zeros(k),
    ...bn,
  ]);
}

/**
 * A fresh readout: Glorot-uniform scaled by a tenth, so the untrained model's output starts near 0 (z-scored targets'
 * mean).
 */
export function freshReadoutVars(side: number, k4: number, seed: number): ReadoutVars {
  const n = side * side * k4;
  const limit = 0.1 * Math.sqrt(6 / (n + 1));
  return tf.tidy(() => ({
    kernel: variable(tf.randomUniform([n, 1], -limit, limit, "float32", seed * 131 + 7), true, "readout_kernel"),
    bias: variable(tf.zeros([1]), true, "readout_bias"),
  }));
}

export function readoutVarsFromArrays(kernel: NdArray, bias: NdArray): ReadoutVars {
  return tf.tidy(() => ({
    kernel: variable(fromArray(kernel), true, "readout_kernel"),
    bias: variable(fromArray(bias), true, "readout_bias"),
  }));
}

function toArray(v: tf.Variable): NdArray {
  return { shape: [...v.shape], dtype: "f4", data: (v.dataSync() as Float32Array).slice() };
}

/** The layer's arrays in the published order. */
export function layerArrays(l: CompactLayerVars): NdArray[] {
  const vars =
    l.depthwise === undefined
      ? [l.kernel, l.bias, l.gamma, l.beta, l.movingMean, l.movingVariance]
      : [l.depthwise, l.kernel, l.bias, l.gamma, l.beta, l.movingMean, l.movingVariance];
  return vars.map(toArray);
}

export function readoutArrays(r: ReadoutVars): NdArray[] {
  return [toArray(r.kernel), toArray(r.bias)];
}

export function layerVariables(l: CompactLayerVars): tf.Variable[] {
  return [
    ...(l.depthwise === undefined ? [] : [l.depthwise]),
    l.kernel,
    l.bias,
    l.gamma,
    l.beta,
    l.movingMean,
    l.movingVariance,
  ];
}

/** Learned by gradient: everything but the moving statistics. */
export function trainableOf(l: CompactLayerVars): tf.Variable[] {
  return [...(l.depthwise === undefined ? [] : [l.depthwise]), l.kernel, l.bias, l.gamma, l.beta];
}

const handle = (v: tf.Variable): { read(): tf.Tensor; write(t: tf.Tensor): void } => ({
  read: () => v,
  write: (t) => v.assign(t),
});

/** Raw pixels 0..255 minus the channel means (layer 0's input). */
export function centerPixels(pixels: tf.Tensor4D): tf.Tensor4D {
  return tf.sub(pixels, tf.tensor1d([...CHANNEL_MEANS])) as tf.Tensor4D;
}

/**
 * Training form: batch statistics, moving statistics updated (momentum 0.99). Layer 0 takes the
 * centered pixels as a constant (no pixel gradient is computed).
 */
export function layerTraining(l: CompactLayerVars, input: tf.Tensor4D, updateMoving = true): tf.Tensor4D {
  const moving = updateMoving ? { mean: handle(l.movingMean), variance: handle(l.movingVariance) } : undefined;
  if (l.depthwise === undefined)
    return batchNormReluTraining(
      convOfConstant(input, l.kernel as tf.Tensor4D),
      l.bias as tf.Tensor1D,
      l.gamma as tf.Tensor1D,
      l.beta as tf.Tensor1D,
      moving,
    );
  const d = tf.depthwiseConv2d(input, l.depthwise as tf.Tensor4D, COMPACT_STRIDES[l.index]!, "same");
  const z = tf.conv2d(d, l.kernel as tf.Tensor4D, 1, "valid");
  return batchNormReluTraining(z, l.bias as tf.Tensor1D, l.gamma as tf.Tensor1D, l.beta as tf.Tensor1D, moving);
}

/** Inference form: batchnorm with the moving statistics folded into a scale and shift. */
export function layerInference(l: CompactLayerVars, input: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const scale = tf.mul(l.gamma, tf.rsqrt(tf.add(l.movingVariance, BATCHNORM_EPSILON))) as tf.Tensor1D;
    const shift = tf.add(tf.mul(tf.sub(l.bias, l.movingMean), scale), l.beta) as tf.Tensor1D;
    if (l.depthwise === undefined)
      return tf.fused.conv2d({
        x: input,
        filter: tf.mul(l.kernel, scale) as tf.Tensor4D,
        strides: 1,
        pad: "same",
        bias: shift,
        activation: "relu",
      });
    const d = tf.depthwiseConv2d(input, l.depthwise as tf.Tensor4D, COMPACT_STRIDES[l.index]!, "same");
    return tf.fused.conv2d({
      x: d,
      filter: tf.mul(l.kernel, scale) as tf.Tensor4D,
      strides: 1,
      pad: "valid",
      bias: shift,
      activation: "relu",
    });
  });
}

export function readoutForward(r: ReadoutVars, a: tf.Tensor4D): tf.Tensor2D {
  return tf.add(
    tf.matMul(tf.reshape(a, [a.shape[0], -1]) as tf.Tensor2D, r.kernel as tf.Tensor2D),
    r.bias,
  ) as tf.Tensor2D;
}

/** 3x3 Laplacian. */
const LAPLACIAN = [0, 1, 0, 1, -4, 1, 0, 1, 0];

/**
 * The smoothness prior: sum of squares of the spatial Laplacian of each channel of `maps`
 * [1, h, w, c] (zero padding: weights at the border are pulled towards zero too).
 */
export function laplacianPenalty(maps: tf.Tensor4D): tf.Scalar {
  const c = maps.shape[3];
  const filter = tf.tile(tf.reshape(tf.tensor1d(LAPLACIAN), [3, 3, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
  return tf.sum(tf.square(tf.depthwiseConv2d(maps, filter, 1, "same"))) as tf.Scalar;
}

/** The depthwise kernel [5, 5, c, 1] as c maps [1, 5, 5, c]. */
export function depthwiseMaps(dw: tf.Tensor): tf.Tensor4D {
  const [h, w, c] = dw.shape as [number, number, number, number];
  return tf.reshape(dw, [1, h, w, c]) as tf.Tensor4D;
}

/** The readout kernel [side*side*K4, 1] as K4 maps [1, side, side, K4] (row-major HWC, as flatten). */
export function readoutMaps(kernel: tf.Tensor, side: number): tf.Tensor4D {
  return tf.reshape(kernel, [1, side, side, -1]) as tf.Tensor4D;
}

export function disposeLayer(l: CompactLayerVars): void {
  tf.dispose(layerVariables(l));
}

/**
 * Training-form forward without gradients or moving-average updates, returning the batch statistics
 * the layer normalized with (mean of conv output + bias, as the moving mean holds it; variance).
 */
export function layerBatchForward(
  l: CompactLayerVars,
  input: tf.Tensor4D,
): { out: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  return tf.tidy(() => {
    const z =
      l.depthwise === undefined
        ? tf.conv2d(input, l.kernel as tf.Tensor4D, 1, "same")
        : tf.conv2d(
            tf.depthwiseConv2d(input, l.depthwise as tf.Tensor4D, COMPACT_STRIDES[l.index]!, "same"),
            l.kernel as tf.Tensor4D,
            1,
            "valid",
          );
    const { mean, variance } = tf.moments(z, [0, 1, 2]);
    const out = tf.relu(
      tf.batchNorm(z, mean, variance, l.beta as tf.Tensor1D, l.gamma as tf.Tensor1D, BATCHNORM_EPSILON),
    ) as tf.Tensor4D;
    return { out, mean: tf.add(mean, l.bias) as tf.Tensor1D, variance: variance as tf.Tensor1D };
  });
}

/** Sets the moving statistics to the averages of batch statistics (exact population estimates, no momentum). */
export function setMovingStatistics(l: CompactLayerVars, means: tf.Tensor1D[], variances: tf.Tensor1D[]): void {
  tf.tidy(() => {
    l.movingMean.assign(tf.div(tf.addN(means), means.length));
    l.movingVariance.assign(tf.div(tf.addN(variances), variances.length));
  });
}

/**
 * A unit's readout while the population trains: dense (the published layout), or factorized into a
 * spatial map and channel weights (Klindt et al. 2017: 784 + K4 weights instead of 784·K4, learned
 * from far fewer images), whose outer product is the dense kernel of the unit's compact model.
 */
export type HeadReadout =
  | ({ kind: "dense" } & ReadoutVars)
  | { kind: "factorized"; spatial: tf.Variable; channels: tf.Variable; bias: tf.Variable };

let factorId = 0;

export function freshFactorized(side: number, k4: number, seed: number): HeadReadout {
  const limit = Math.sqrt(6 / (k4 + 1));
  const id = factorId++;
  return tf.tidy(() => ({
    kind: "factorized" as const,
    // Starts as an average over positions; the channel weights pick what is averaged.
    spatial: tf.variable(tf.fill([side * side, 1], 1 / (side * side)), true, `compact_readout_spatial_${id}`),
    channels: tf.variable(
      tf.randomUniform([k4, 1], -limit, limit, "float32", seed),
      true,
      `compact_readout_channels_${id}`,
    ),
    bias: tf.variable(tf.zeros([1]), true, `compact_readout_fbias_${id}`),
  }));
}

export function headReadoutVars(r: HeadReadout): tf.Variable[] {
  return r.kind === "dense" ? [r.kernel, r.bias] : [r.spatial, r.channels, r.bias];
}

export function headReadoutForward(r: HeadReadout, a: tf.Tensor4D): tf.Tensor2D {
  if (r.kind === "dense") return readoutForward(r, a);
  const [n, h, w, c] = a.shape;
  const mixed = tf.reshape(tf.matMul(tf.reshape(a, [n * h * w, c]) as tf.Tensor2D, r.channels as tf.Tensor2D), [
    n,
    h * w,
  ]) as tf.Tensor2D;
  return tf.add(tf.matMul(mixed, r.spatial as tf.Tensor2D), r.bias) as tf.Tensor2D;
}

/**
 * A factorized readout from a dense kernel [P·K4, 1]: its best rank-one approximation (power iteration; exact for a
 * kernel that was factorized).
 */
export function factorizedFromArrays(kernel: NdArray, bias: NdArray, k4: number): HeadReadout {
  const p = kernel.shape[0]! / k4;
  const w = kernel.data;
  let sp = Float64Array.from({ length: p }, (_, i) => {
    let m = 0;
    for (let c = 0; c < k4; c++) m += w[i * k4 + c]!;
    return m / k4 || 1e-6;
  });
  let ch = new Float64Array(k4);
  for (let it = 0; it < 50; it++) {
    const ss = sp.reduce((a, v) => a + v * v, 0) || 1;
    ch = Float64Array.from({ length: k4 }, (_, c) => {
      let t = 0;
      for (let i = 0; i < p; i++) t += w[i * k4 + c]! * sp[i]!;
      return t / ss;
    });
    const cc = ch.reduce((a, v) => a + v * v, 0) || 1;
    sp = Float64Array.from({ length: p }, (_, i) => {
      let t = 0;
      for (let c = 0; c < k4; c++) t += w[i * k4 + c]! * ch[c]!;
      return t / cc;
    });
  }
  const id = factorId++;
  return tf.tidy(() => ({
    kind: "factorized" as const,
    spatial: tf.variable(tf.tensor2d(Float32Array.from(sp), [p, 1]), true, `compact_readout_spatial_${id}`),
    channels: tf.variable(tf.tensor2d(Float32Array.from(ch), [k4, 1]), true, `compact_readout_channels_${id}`),
    bias: tf.variable(tf.tensor1d(Float32Array.from(bias.data)), true, `compact_readout_fbias_${id}`),
  }));
}

/** The readout in the published layout: [side·side·K4, 1] (row-major HWC) and [1]. */
export function headReadoutArrays(r: HeadReadout): NdArray[] {
  if (r.kind === "dense") return readoutArrays(r);
  const s = r.spatial.dataSync() as Float32Array;
  const c = r.channels.dataSync() as Float32Array;
  const kernel = new Float32Array(s.length * c.length);
  for (let p = 0; p < s.length; p++) for (let k = 0; k < c.length; k++) kernel[p * c.length + k] = s[p]! * c[k]!;
  return [
    { shape: [kernel.length, 1], dtype: "f4", data: kernel },
    { shape: [1], dtype: "f4", data: (r.bias.dataSync() as Float32Array).slice() },
  ];
}

export function headReadoutMaps(r: HeadReadout, side: number): tf.Tensor4D {
  return r.kind === "dense" ? readoutMaps(r.kernel, side) : (tf.reshape(r.spatial, [1, side, side, 1]) as tf.Tensor4D);
}
