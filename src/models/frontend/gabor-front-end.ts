// Fallback front end, NOT task-driven: a fixed bank of Gabor filters (V1-like) + half-wave
// rectification + average pooling. Used only when no pretrained network is available.
import * as tf from "@tensorflow/tfjs";
import type { FrontEnd } from "./types.js";

export interface GaborOptions {
  inputSize?: number;
  orientations?: number;
  wavelengthsPx?: readonly number[];
  kernelSize?: number;
  /** Output side; inputSize must be a multiple of it. */
  outputSize?: number;
}

/** Kernel [k, k, 3, C]: even and odd Gabors on luminance, plus R−G and B−Y Gaussian blobs. */
export function gaborKernel(options: Required<Pick<GaborOptions, "orientations" | "wavelengthsPx" | "kernelSize">>): {
  values: Float32Array;
  channels: number;
} {
  const k = options.kernelSize;
  const lum = [0.299, 0.587, 0.114];
  const filters: ((x: number, y: number) => number[])[] = [];
  for (const lambda of options.wavelengthsPx) {
    const sigma = 0.56 * lambda;
    for (let o = 0; o < options.orientations; o++) {
      const th = (Math.PI * o) / options.orientations;
      for (const phase of [0, Math.PI / 2]) {
        filters.push((x, y) => {
          const u = x * Math.cos(th) + y * Math.sin(th);
          const g = Math.exp(-(x * x + y * y) / (2 * sigma * sigma)) * Math.cos((2 * Math.PI * u) / lambda + phase);
          return lum.map((w) => w * g);
        });
      }
    }
  }
  for (const sigma of [2, 4]) {
    const blob = (x: number, y: number): number => Math.exp(-(x * x + y * y) / (2 * sigma * sigma));
    filters.push((x, y) => [blob(x, y), -blob(x, y), 0]);
    filters.push((x, y) => [-blob(x, y) / 2, -blob(x, y) / 2, blob(x, y)]);
  }
  const c = filters.length;
  const values = new Float32Array(k * k * 3 * c);
  const h = (k - 1) / 2;
  filters.forEach((f, fi) => {
    const w: number[][] = [];
    let mean = [0, 0, 0];
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) w.push(f(j - h, i - h));
    // Zero-mean per input channel for the Gabors (no response to uniform fields), unit L2 norm.
    if (fi < c - 4) {
      mean = [0, 1, 2].map((ch) => w.reduce((s, v) => s + v[ch]!, 0) / w.length);
      for (const v of w) for (let ch = 0; ch < 3; ch++) v[ch]! -= mean[ch]!;
    }
    const norm = Math.sqrt(w.reduce((s, v) => s + v.reduce((a, b) => a + b * b, 0), 0)) || 1;
    w.forEach((v, p) => v.forEach((val, ch) => (values[(p * 3 + ch) * c + fi] = val / norm)));
  });
  return { values, channels: c };
}

/** "gabor-small": the bank on 56-pixel images, the cheapest front end (tests and quick campaigns). */
export const gaborSmallOptions: GaborOptions = {
  inputSize: 56,
  outputSize: 14,
  kernelSize: 11,
  wavelengthsPx: [3, 6, 10],
};

export function gaborFrontEnd(options: GaborOptions = {}): FrontEnd {
  const inputSize = options.inputSize ?? 112;
  const outputSize = options.outputSize ?? 14;
  const kernelSize = options.kernelSize ?? 15;
  if (inputSize % outputSize !== 0)
    throw new Error(`gaborFrontEnd: inputSize ${inputSize} is not a multiple of outputSize ${outputSize}`);
  const { values, channels } = gaborKernel({
    orientations: options.orientations ?? 4,
    wavelengthsPx: options.wavelengthsPx ?? [4, 8, 16],
    kernelSize,
  });
  const kernel = tf.tensor4d(values, [kernelSize, kernelSize, 3, channels]);
  const pool = inputSize / outputSize;
  return {
    name: `gabor-bank(${channels * 2}ch, not task-driven)`,
    taskDriven: false,
    description:
      `FALLBACK, not task-driven: ${channels} fixed Gabor/colour filters (${kernelSize}px), ± half-wave ` +
      `rectified, average-pooled ${pool}x${pool} to ${outputSize}x${outputSize}`,
    inputSize,
    outputShape: [outputSize, outputSize, channels * 2],
    apply(images) {
      return tf.tidy(() => {
        const sized =
          images.shape[1] === inputSize && images.shape[2] === inputSize
            ? images
            : tf.image.resizeBilinear(images, [inputSize, inputSize]);
        const x = tf.sub(tf.div(tf.cast(sized, "float32"), 255), 0.5) as tf.Tensor4D;
        const y = tf.conv2d(x, kernel, 1, "same");
        const rect = tf.concat([tf.relu(y), tf.relu(tf.neg(y))], -1) as tf.Tensor4D;
        return tf.mul(tf.avgPool(rect, pool, pool, "valid"), 4) as tf.Tensor4D;
      });
    },
    dispose: () => kernel.dispose(),
  };
}
