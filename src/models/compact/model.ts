// The compact V4 model of Cowley et al. 2023 in TensorFlow.js layers, and a loader for the published weights.
import * as tf from "@tensorflow/tfjs";
import { type NdArray, readNpy } from "./npy.js";

export const CHANNEL_MEANS: readonly [number, number, number] = [116.222, 109.27, 100.381];
export const COMPACT_INPUT_SIZE = 112;
export const COMPACT_KERNEL_SIZE = 5;
export const BATCHNORM_EPSILON = 1e-3;
/** Layers 1 and 2 have stride 2 (112 -> 56 -> 28); the readout sees 28 x 28. */
export const COMPACT_STRIDES: readonly number[] = [1, 2, 2, 1, 1];
export const NPY_ARRAY_COUNT = 36;

/** Subtracts the channel means from raw 0..255 pixels, inside the model so callers pass pixels0to255. */
export class SubtractChannelMeans extends tf.layers.Layer {
  static readonly className = "SubtractChannelMeans";
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      return tf.sub(x, tf.tensor1d([...CHANNEL_MEANS]));
    });
  }
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
}
tf.serialization.registerClass(SubtractChannelMeans);

export interface CompactModelOptions {
  /** Input height and width; the published models use 112. */
  inputSize?: number;
  /** Seed for the initial weights, so two runs start from the same model. */
  seed?: number;
  name?: string;
}

/** Builds a compact model with filters [K0..K4]: conv5x5-BN-ReLU, 4 x separable5x5-BN-ReLU, dense -> 1. */
export function createCompactModel(filters: number[], opts: CompactModelOptions = {}): tf.LayersModel {
  if (filters.length !== 5 || filters.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new Error(`createCompactModel: filters must be 5 positive integers, got [${filters.join(", ")}]`);
  }
  const size = opts.inputSize ?? COMPACT_INPUT_SIZE;
  const seed = opts.seed ?? 0;
  const init = (i: number): ReturnType<typeof tf.initializers.glorotUniform> => tf.initializers.glorotUniform({ seed: seed + i });
  const input = tf.input({ shape: [size, size, 3], name: "pixels0to255" });
  let x = new SubtractChannelMeans({ name: "subtract_means" }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: filters[0]!, kernelSize: COMPACT_KERNEL_SIZE, padding: "same", kernelInitializer: init(0), name: "layer0_conv" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ epsilon: BATCHNORM_EPSILON, name: "layer0_bn" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: "layer0_relu" }).apply(x) as tf.SymbolicTensor;
  for (let layer = 1; layer < 5; layer++) {
    x = tf.layers.separableConv2d({
      filters: filters[layer]!, kernelSize: COMPACT_KERNEL_SIZE, strides: COMPACT_STRIDES[layer]!, padding: "same", depthMultiplier: 1,
      depthwiseInitializer: init(2 * layer), pointwiseInitializer: init(2 * layer + 1), name: `layer${layer}_sepconv`,
    }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ epsilon: BATCHNORM_EPSILON, name: `layer${layer}_bn` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `layer${layer}_relu` }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 1, kernelInitializer: init(20), name: "readout" }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: opts.name ?? "compact_model" });
}

/** Expected shapes of the 36 published arrays for filters [K0..K4] (README table). */
export function compactWeightShapes(filters: number[], inputSize = COMPACT_INPUT_SIZE): number[][] {
  const [k0, k1, k2, k3, k4] = filters as [number, number, number, number, number];
  const k = COMPACT_KERNEL_SIZE;
  const bn = (c: number): number[][] => [[c], [c], [c], [c]];
  const sep = (cin: number, cout: number): number[][] => [[k, k, cin, 1], [1, 1, cin, cout], [cout], ...bn(cout)];
  const side = inputSize / 4;
  return [[k, k, 3, k0], [k0], ...bn(k0), ...sep(k0, k1), ...sep(k1, k2), ...sep(k2, k3), ...sep(k3, k4), [side * side * k4, 1], [1]];
}

/** Filter counts [K0..K4] read off the published arrays. */
export function filtersFromArrays(arrays: NdArray[]): number[] {
  return [0, 7, 14, 21, 28].map((i) => arrays[i]?.shape[3] ?? -1);
}

/** Loads a published compact model (NumPy object array of 36 arrays) and checks every shape. */
export async function loadCompactModelFromNpy(path: string, opts: CompactModelOptions = {}): Promise<tf.LayersModel> {
  const value = await readNpy(path);
  if (!Array.isArray(value) || value.length !== NPY_ARRAY_COUNT) {
    const got = Array.isArray(value) ? `${value.length} arrays` : `one array of shape (${value.shape.join(",")})`;
    throw new Error(`loadCompactModelFromNpy: ${path} should hold ${NPY_ARRAY_COUNT} arrays, got ${got}`);
  }
  const filters = filtersFromArrays(value);
  const expected = compactWeightShapes(filters, opts.inputSize);
  value.forEach((a, i) => {
    const want = expected[i]!;
    if (a.shape.length !== want.length || a.shape.some((d, j) => d !== want[j])) {
      throw new Error(`loadCompactModelFromNpy: ${path} array ${i} has shape (${a.shape.join(",")}), expected (${want.join(",")}) for filters [${filters.join(",")}]`);
    }
  });
  const model = createCompactModel(filters, opts);
  const tensors = value.map((a) => tf.tensor(Float32Array.from(a.data), a.shape, "float32"));
  try {
    // Per layer: model.setWeights orders trainable before non-trainable (BN moving stats), the file does not.
    let next = 0;
    for (const layer of model.layers) {
      const n = layer.weights.length;
      if (n > 0) layer.setWeights(tensors.slice(next, next + n));
      next += n;
    }
  } finally {
    tf.dispose(tensors);
  }
  return model;
}

/** Weight shapes in the published (Keras, per-layer) order. */
export function compactModelWeightShapes(model: tf.LayersModel): number[][] {
  return model.layers.flatMap((layer) => layer.weights.map((w) => [...w.shape] as number[]));
}
