// Image synthesis on the wasm SIMD module: the input gradient of a first layer's convolution of
// 3-channel images ('same', stride 1; rgbInputGrad, the largest step of the backward pass), and the
// normalized ascent update (ascent).
import * as tf from "@tensorflow/tfjs";
import { memoryOffsetOf, type RgbShape, simdKernelsOf, type WasmBackendMemory } from "./simd_module.js";
import { RGB_FORWARD_QUADS } from "./simd_rgb_forward_text.js";

/** A [KH, KW, 3, K] filter packed for the kernel (see simd_rgb_text.ts). */
export interface PackedRgbFilter {
  readonly kh: number;
  readonly kw: number;
  readonly channels: number;
  /**
   * [KH, KW, 3, 4 ceil(K / 4)]: channel quads, the last one holding channels K - 4 .. K - 1, zero
   * in the lanes whose channel a full quad already holds.
   */
  readonly gradient: tf.Tensor1D;
  dispose(): void;
}

/** The kernel needs a quad of channels; fewer go to the runtime's convolution. */
export const RGB_MIN_CHANNELS = 4;

/** Packs `filter` [KH, KW, 3, K] (K >= 4); `wrap` sees the new tensor (tf.keep, to pack inside a tf.tidy). */
export function packRgbFilter(filter: tf.Tensor4D, wrap: (t: tf.Tensor1D) => tf.Tensor1D = (t) => t): PackedRgbFilter {
  const [kh, kw, cin, k] = filter.shape;
  if (cin !== 3) throw new Error(`packRgbFilter: expected a filter over 3 image channels, got ${cin}`);
  if (k < RGB_MIN_CHANNELS)
    throw new Error(`packRgbFilter: needs at least ${RGB_MIN_CHANNELS} output channels, got ${k}`);
  const full = Math.floor(k / 4);
  const quads = Math.ceil(k / 4);
  const w = filter.dataSync();
  /** Packed lane l of quad j holds channel 4j + l in full quads, K - 4 + l in the last one. */
  const channelOf = (j: number, l: number): number => (j < full ? 4 * j + l : k - 4 + l);
  const rows = kh * kw * 3;
  const packed = new Float32Array(rows * quads * 4);
  for (let j = 0; j < quads; j++) {
    for (let l = 0; l < 4; l++) {
      const ch = channelOf(j, l);
      if (j === full && ch < 4 * full) continue;
      for (let r = 0; r < rows; r++) packed[(r * quads + j) * 4 + l] = w[r * k + ch]!;
    }
  }
  const gradient = wrap(tf.tensor1d(packed));
  return { kh, kw, channels: k, gradient, dispose: () => gradient.dispose() };
}

/** A filter and its bias packed in groups of channel quads for the forward kernels (see simd_rgb_forward_text.ts). */
export interface PackedQuadGroups {
  /** Output channels. */
  readonly channels: number;
  /** Weight rows: the 75 taps of a [5, 5, 3, K] filter. */
  readonly rows: number;
  readonly groups: number;
  readonly packed: tf.Tensor1D;
  dispose(): void;
}

/** A [5, 5, 3, K] filter and its bias, packed for rgbConv2dBiasRelu. */
export type PackedRgbForward = PackedQuadGroups;

/**
 * Packs a [rows, K] weight matrix (K >= 4) and its bias [K] (zeros when absent): G groups of Q
 * channel quads of weights [row][quad][lane], then the bias [G][Q][4], then each quad's byte offset
 * in an output pixel [G][Q] (int32 bits). Quads are 0, 4, ..., the last at K - 4 when K is not a
 * multiple of 4, repeated to fill the last group. `wrap` sees the new tensor (tf.keep inside a tf.tidy).
 */
function packQuadGroups(
  w: Float32Array,
  rows: number,
  k: number,
  b: Float32Array | undefined,
  what: string,
  wrap: (t: tf.Tensor1D) => tf.Tensor1D,
): PackedQuadGroups {
  if (k < RGB_MIN_CHANNELS) throw new Error(`${what}: needs at least ${RGB_MIN_CHANNELS} output channels, got ${k}`);
  if (b !== undefined && b.length !== k) throw new Error(`${what}: ${b.length} biases for ${k} channels`);
  const Q = RGB_FORWARD_QUADS;
  const full = Math.floor(k / 4);
  const quads = Math.ceil(k / 4);
  const groups = Math.ceil(quads / Q);
  /** First channel of slot i (quads repeated to fill the last group). */
  const firstOf = (i: number): number => {
    const j = Math.min(i, quads - 1);
    return j < full ? 4 * j : k - 4;
  };
  const weightFloats = groups * rows * Q * 4;
  const data = new Float32Array(weightFloats + groups * Q * 4 + groups * Q);
  const offsets = new Int32Array(data.buffer, (weightFloats + groups * Q * 4) * 4, groups * Q);
  for (let g = 0; g < groups; g++) {
    for (let q = 0; q < Q; q++) {
      const first = firstOf(g * Q + q);
      for (let r = 0; r < rows; r++)
        for (let l = 0; l < 4; l++) data[((g * rows + r) * Q + q) * 4 + l] = w[r * k + first + l]!;
      if (b !== undefined) for (let l = 0; l < 4; l++) data[weightFloats + (g * Q + q) * 4 + l] = b[first + l]!;
      offsets[g * Q + q] = first * 4;
    }
  }
  const packed = wrap(tf.tensor1d(data));
  return { channels: k, rows, groups, packed, dispose: () => packed.dispose() };
}

/** Packs `filter` [5, 5, 3, K] (K >= 4) and `bias` [K] for rgbConv2dBiasRelu. */
export function packRgbForward(
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  wrap: (t: tf.Tensor1D) => tf.Tensor1D = (t) => t,
): PackedRgbForward {
  const [kh, kw, cin, k] = filter.shape;
  if (kh !== 5 || kw !== 5 || cin !== 3)
    throw new Error(`packRgbForward: expected a [5, 5, 3, K] filter, got [${filter.shape}]`);
  return packQuadGroups(
    filter.dataSync() as Float32Array,
    75,
    k,
    bias.dataSync() as Float32Array,
    "packRgbForward",
    wrap,
  );
}

/**
 * relu(conv2d(x, filter, 1, 'same') + bias) for images x [N, H, W, 3] with the filter packed by
 * packRgbForward: [N, H, W, K]; undefined where the SIMD kernels are not running.
 */
export function rgbConv2dBiasRelu(x: tf.Tensor4D, packed: PackedRgbForward): tf.Tensor4D | undefined {
  const simd = simdKernelsOf(tf.backend());
  if (simd === undefined || x.dtype !== "float32") return undefined;
  const [n, h, w, c] = x.shape;
  if (c !== 3) throw new Error(`rgbConv2dBiasRelu: expected 3-channel images, got ${c} channels`);
  const out = output([n, h, w, packed.channels]);
  simd.rgbForward(
    out.at(out.info),
    out.at(x),
    out.at(packed.packed),
    { batch: n, height: h, width: w, channels: packed.channels, kh: 5, kw: 5, padTop: 2, padLeft: 2 },
    packed.groups,
  );
  return tf.engine().makeTensorFromTensorInfo(out.info, out.backend) as tf.Tensor4D;
}

function shapeOf(packed: PackedRgbFilter, batch: number, height: number, width: number): RgbShape {
  // 'same' at stride 1: kh - 1 rows of padding, the smaller half on top (as tfjs and TensorFlow).
  return {
    batch,
    height,
    width,
    channels: packed.channels,
    kh: packed.kh,
    kw: packed.kw,
    padTop: Math.floor((packed.kh - 1) / 2),
    padLeft: Math.floor((packed.kw - 1) / 2),
  };
}

function output(shape: number[]): { backend: tf.KernelBackend; info: tf.TensorInfo; at: (t: tf.TensorInfo) => number } {
  const backend = tf.backend();
  const info = (backend as unknown as WasmBackendMemory).makeOutput(shape, "float32");
  return { backend, info, at: (t) => memoryOffsetOf(backend, t) };
}

/**
 * The gradient with respect to x of sum(g * conv2d(x, filter, 1, 'same')), for g [N, H, W, K]:
 * [N, H, W, 3]; undefined where the SIMD kernels are not running (callers then use tf.conv2dTranspose).
 */
export function rgbConv2dInputGradient(g: tf.Tensor4D, packed: PackedRgbFilter): tf.Tensor4D | undefined {
  const simd = simdKernelsOf(tf.backend());
  if (simd === undefined || g.dtype !== "float32") return undefined;
  const [n, h, w, k] = g.shape;
  if (k !== packed.channels)
    throw new Error(`rgbConv2dInputGradient: g has ${k} channels, the filter ${packed.channels}`);
  const out = output([n, h, w, 3]);
  simd.rgbInputGrad(out.at(out.info), out.at(g), out.at(packed.gradient), shapeOf(packed, n, h, w));
  return tf.engine().makeTensorFromTensorInfo(out.info, out.backend) as tf.Tensor4D;
}

/**
 * x + g * step / (sqrt(mean(g^2)) + eps), one normalized gradient-ascent step on an image, in one
 * SIMD pass; undefined where the SIMD kernels are not running.
 */
export function ascentUpdate(x: tf.Tensor4D, g: tf.Tensor4D, step: number, eps: number): tf.Tensor4D | undefined {
  const simd = simdKernelsOf(tf.backend());
  if (simd === undefined || x.dtype !== "float32" || g.dtype !== "float32") return undefined;
  if (x.size !== g.size) throw new Error(`ascentUpdate: image ${x.shape} and gradient ${g.shape} differ`);
  const out = output([...x.shape]);
  simd.ascent(out.at(x), out.at(g), out.at(out.info), x.size, step, eps);
  return tf.engine().makeTensorFromTensorInfo(out.info, out.backend) as tf.Tensor4D;
}
