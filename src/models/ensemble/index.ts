export { DeepEnsemble, type ReadoutKind } from "./ensemble.js";
export { type SkipMember, type SkipReadout } from "./skip.js";
export { fitSkipReadout, type SkipFit, type SkipFitOptions, type SkipSession } from "./skip-fit.js";
export {
  channelStats,
  coreForward,
  featureStandardization,
  createMemberCore,
  createReadout,
  defaultEnsembleConfig,
  readoutForward,
  type EnsembleConfig,
  type MemberCore,
  type Readout,
} from "./weights.js";
export { CheckpointError, loadEnsemble, saveEnsemble, type LoadedEnsemble } from "./checkpoint.js";
export {
  fitReadout,
  gatherBatch,
  refitReadouts,
  refitReadoutsWithReport,
  predictSession,
  scoreUnits,
  trainEnsemble,
  trainStep,
  validationText,
  type ReadoutFitOptions,
  type TrainingSession,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
} from "./train.js";
export { ridgeFit, ridgeFitBlocks, type RidgeModel, type RidgeOptions } from "./ridge.js";
export {
  fitReadoutsOnInputs,
  readoutLoss,
  type CachedReadoutFit,
  type CachedReadoutFitOptions,
} from "./readout-fit.js";
export { fitFactorizedReadout, type FactorizedModel } from "./factorized.js";
export {
  crossValidateSession,
  type CrossValidatedModel,
  type CrossValidation,
  type CrossValidationOptions,
  type HeldOutSession,
} from "./crossval.js";
