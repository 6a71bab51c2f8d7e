// Image synthesis on the wasm SIMD module: the input gradient of a first layer's convolution of
// 3-channel images ('same', stride 1; rgbInputGrad, the largest step of the backward pass), and the
// normalized ascent update (ascent).
import * as tf from "@tensorflow/tfjs";
import { memoryOffsetOf, type RgbShape, simdKernelsOf, type WasmBackendMemory } from "./simd_module.js";

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
  if (k < RGB_MIN_CHANNELS) throw new Error(`packRgbFilter: needs at least ${RGB_MIN_CHANNELS} output channels, got ${k}`);
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

function shapeOf(packed: PackedRgbFilter, batch: number, height: number, width: number): RgbShape {
  // 'same' at stride 1: kh - 1 rows of padding, the smaller half on top (as tfjs and TensorFlow).
  return { batch, height, width, channels: packed.channels, kh: packed.kh, kw: packed.kw, padTop: Math.floor((packed.kh - 1) / 2), padLeft: Math.floor((packed.kw - 1) / 2) };
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
  if (k !== packed.channels) throw new Error(`rgbConv2dInputGradient: g has ${k} channels, the filter ${packed.channels}`);
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
