// The compact model (Cowley et al. 2023): one small CNN per neuron, in the published .npy layout,
// trained and run on the project's compute engine.
export {
  BATCHNORM_EPSILON,
  CHANNEL_MEANS,
  checkCompactArrays,
  COMPACT_ARRAY_NAMES,
  COMPACT_INPUT_SIZE,
  COMPACT_KERNEL_SIZE,
  COMPACT_STRIDES,
  CompactFormatError,
  compactModelArrays,
  compactModelFilters,
  compactModelFromArrays,
  compactModelWeightShapes,
  compactParameterCount,
  compactWeightShapes,
  createCompactModel,
  filtersFromArrays,
  loadCompactModelFromNpy,
  NPY_ARRAY_COUNT,
  SubtractChannelMeans,
} from "./model.js";
export type { CompactModelOptions } from "./model.js";
export { parseNpy, readNpy } from "./npy.js";
export type { NdArray, NpyValue } from "./npy.js";
export { npyObjectArrayBytes } from "./npy-write.js";
export * from "./inference.js";
export { usedBases, type PixelBox } from "./local-window.js";
export * from "./training.js";
export { PopulationCompactModel, type PopulationConfig, type SmoothnessPrior } from "./population.js";
export {
  pruneArrays,
  pruneCompactModel,
  takeAxis,
  varianceKept,
  type PruneOptions,
  type PruneResult,
} from "./prune.js";
export {
  BatchSampler,
  defaultDistillSettings,
  DistillCancelled,
  distillUnit,
  learningRateAt,
  predictArrays,
  predictPopulation,
  recalibratePopulation,
  retrainPruned,
  scaleOutput,
  streamBatch,
  targetScaling,
  trainPopulation,
  zscore,
  type DistillSettings,
  type DistillSettingsInput,
  type ImageStream,
  type PruneAttempt,
  type UnitDistillOptions,
  type UnitResult,
} from "./distill.js";
export {
  frontEndFeatures,
  TeacherCancelled,
  teacherTargets,
  zscoreFeatures,
  type TeacherOptions,
  type TeacherTargets,
} from "./teacher.js";
