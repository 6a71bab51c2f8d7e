// The compact model (Cowley et al. 2023): one small CNN per neuron, in the published .npy layout,
// trained and run on the project's compute engine.
export { BATCHNORM_EPSILON, CHANNEL_MEANS, checkCompactArrays, COMPACT_ARRAY_NAMES, COMPACT_INPUT_SIZE, COMPACT_KERNEL_SIZE, COMPACT_STRIDES, CompactFormatError, compactModelArrays, compactModelFilters, compactModelFromArrays, compactModelWeightShapes, compactParameterCount, compactWeightShapes, createCompactModel, filtersFromArrays, loadCompactModelFromNpy, NPY_ARRAY_COUNT, SubtractChannelMeans } from "./model.js";
export type { CompactModelOptions } from "./model.js";
export { parseNpy, readNpy } from "./npy.js";
export type { NdArray, NpyValue } from "./npy.js";
export { npyBytes, npyObjectArrayBytes } from "./npy-write.js";
export * from "./inference.js";
export * from "./training.js";
