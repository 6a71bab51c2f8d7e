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
  const init = (i: number): ReturnType<typeof tf.initializers.glorotUniform> =>
    tf.initializers.glorotUniform({ seed: seed + i });
  const input = tf.input({ shape: [size, size, 3], name: "pixels0to255" });
  let x = new SubtractChannelMeans({ name: "subtract_means" }).apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({
      filters: filters[0]!,
      kernelSize: COMPACT_KERNEL_SIZE,
      padding: "same",
      kernelInitializer: init(0),
      name: "layer0_conv",
    })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ epsilon: BATCHNORM_EPSILON, name: "layer0_bn" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: "layer0_relu" }).apply(x) as tf.SymbolicTensor;
  for (let layer = 1; layer < 5; layer++) {
    x = tf.layers
      .separableConv2d({
        filters: filters[layer]!,
        kernelSize: COMPACT_KERNEL_SIZE,
        strides: COMPACT_STRIDES[layer]!,
        padding: "same",
        depthMultiplier: 1,
        depthwiseInitializer: init(2 * layer),
        pointwiseInitializer: init(2 * layer + 1),
        name: `layer${layer}_sepconv`,
      })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .batchNormalization({ epsilon: BATCHNORM_EPSILON, name: `layer${layer}_bn` })
      .apply(x) as tf.SymbolicTensor;
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
  return [
    [k, k, 3, k0],
    [k0],
    ...bn(k0),
    ...sep(k0, k1),
    ...sep(k1, k2),
    ...sep(k2, k3),
    ...sep(k3, k4),
    [side * side * k4, 1],
    [1],
  ];
}

/** Filter counts [K0..K4] read off the published arrays (each layer's bias). */
export function filtersFromArrays(arrays: NdArray[]): number[] {
  return [1, 8, 15, 22, 29].map((i) => arrays[i]?.shape[0] ?? -1);
}

/** What each of the 36 published arrays is, for messages. */
export const COMPACT_ARRAY_NAMES: readonly string[] = [
  "layer 0 conv kernel",
  "layer 0 conv bias",
  "layer 0 batchnorm gamma",
  "layer 0 batchnorm beta",
  "layer 0 batchnorm moving mean",
  "layer 0 batchnorm moving variance",
  ...[1, 2, 3, 4].flatMap((l) => [
    `layer ${l} depthwise kernel`,
    `layer ${l} pointwise kernel`,
    `layer ${l} pointwise bias`,
    `layer ${l} batchnorm gamma`,
    `layer ${l} batchnorm beta`,
    `layer ${l} batchnorm moving mean`,
    `layer ${l} batchnorm moving variance`,
  ]),
  "readout kernel",
  "readout bias",
];

/** A published .npy model (or arrays meant to be one) that does not have the published layout. */
export class CompactFormatError extends Error {
  readonly code = "compact-format";
  constructor(source: string, what: string) {
    super(`Compact model ${source} is not in the published 36-array layout: ${what}. Nothing was loaded from it.`);
    this.name = "CompactFormatError";
  }
}

/**
 * Checks the 36 arrays of the published layout (count, every shape, numeric and finite) and
 * returns the filters [K0..K4]. Throws CompactFormatError naming the first array that is wrong.
 */
export function checkCompactArrays(
  value: NdArray | NdArray[],
  source: string,
  inputSize = COMPACT_INPUT_SIZE,
): number[] {
  if (!Array.isArray(value))
    throw new CompactFormatError(
      source,
      `it holds one array of shape (${value.shape.join(",")}), not an object array of ${NPY_ARRAY_COUNT}`,
    );
  if (value.length !== NPY_ARRAY_COUNT)
    throw new CompactFormatError(
      source,
      `it holds ${value.length} arrays, not ${NPY_ARRAY_COUNT}` +
        `${
          value.length < NPY_ARRAY_COUNT
            ? ` (the first missing is array ${value.length}, the ` + `${COMPACT_ARRAY_NAMES[value.length]})`
            : ""
        }`,
    );
  const filters = filtersFromArrays(value);
  const bad = filters.findIndex((k) => !Number.isInteger(k) || k < 1);
  if (bad >= 0)
    throw new CompactFormatError(
      source,
      `array ${[1, 8, 15, 22, 29][bad]} (${COMPACT_ARRAY_NAMES[[1, 8, 15, 22, 29][bad]!]}) gives layer ${bad} no ` +
        `filters`,
    );
  const expected = compactWeightShapes(filters, inputSize);
  value.forEach((a, i) => {
    const want = expected[i]!;
    if (a.shape.length !== want.length || a.shape.some((d, j) => d !== want[j])) {
      throw new CompactFormatError(
        source,
        `array ${i} (${COMPACT_ARRAY_NAMES[i]}) has shape (${a.shape.join(",")}), expected (${want.join(",")}) for ` +
          `filters [${filters.join(",")}]`,
      );
    }
    if (a.dtype !== "f4" && a.dtype !== "f8")
      throw new CompactFormatError(
        source,
        `array ${i} (${COMPACT_ARRAY_NAMES[i]}) has dtype ${a.dtype}, expected float32 or float64`,
      );
    for (let j = 0; j < a.data.length; j++) {
      if (!Number.isFinite(a.data[j]!))
        throw new CompactFormatError(
          source,
          `array ${i} (${COMPACT_ARRAY_NAMES[i]}) holds ${a.data[j]} at flat index ${j}`,
        );
    }
  });
  return filters;
}

/** A compact model from the 36 published arrays (checked first: a bad set builds nothing). */
export function compactModelFromArrays(
  arrays: NdArray | NdArray[],
  source: string,
  opts: CompactModelOptions = {},
): tf.LayersModel {
  const filters = checkCompactArrays(arrays, source, opts.inputSize);
  const list = arrays as NdArray[];
  const model = createCompactModel(filters, opts);
  const tensors = list.map((a) =>
    tf.tensor(a.data instanceof Float32Array ? a.data : Float32Array.from(a.data), a.shape, "float32"),
  );
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

/** Loads a published compact model (NumPy object array of 36 arrays) and checks every shape. */
export async function loadCompactModelFromNpy(path: string, opts: CompactModelOptions = {}): Promise<tf.LayersModel> {
  let value: NdArray | NdArray[];
  try {
    value = await readNpy(path);
  } catch (err) {
    // A file that cannot be read is not a format problem; say so as the system said it.
    if (typeof (err as { code?: unknown }).code === "string") throw err;
    throw new CompactFormatError(path, err instanceof Error ? err.message : String(err));
  }
  return compactModelFromArrays(value, path, opts);
}

/** The model's weights as the 36 published arrays (float32, Keras order per layer). */
export function compactModelArrays(model: tf.LayersModel): NdArray[] {
  return model.layers.flatMap((layer) =>
    layer.weights.map((w) => ({
      shape: [...w.shape] as number[],
      dtype: "f4",
      data: (w.read().dataSync() as Float32Array).slice(),
    })),
  );
}

/** Filters per layer [K0..K4] of a model built by createCompactModel. */
export function compactModelFilters(model: tf.LayersModel): number[] {
  return filtersFromArrays(compactModelArrays(model));
}

/** Weights of a compact model: every array but the batchnorm moving statistics (which are not learned by gradient). */
export function compactParameterCount(filters: number[], inputSize = COMPACT_INPUT_SIZE): number {
  const movingStats = new Set([4, 5, 11, 12, 18, 19, 25, 26, 32, 33]);
  return compactWeightShapes(filters, inputSize).reduce(
    (sum, shape, i) => (movingStats.has(i) ? sum : sum + shape.reduce((a, b) => a * b, 1)),
    0,
  );
}

/** Weight shapes in the published (Keras, per-layer) order. */
export function compactModelWeightShapes(model: tf.LayersModel): number[][] {
  return model.layers.flatMap((layer) => layer.weights.map((w) => [...w.shape] as number[]));
}
