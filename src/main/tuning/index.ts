export { TuningInputError } from "./errors.js";
export {
  designTuning,
  sweepCurves,
  sweepImages,
  type ConditionPrediction,
  type SweepCurves,
  type TuningDesign,
  type TuningFamily,
  type TuningSpec,
} from "./design.js";
export { tuningCsv, tuningTable } from "./report.js";
export { storeTuningDesign, type StoredTuning, type StoreTuningOptions } from "./store-tuning.js";
