export { CausalInputError } from "./errors.js";
export { loadDesignModel, type DesignModel, type DesignUnit } from "./model-units.js";
export { scaledResponseModel, type UnitScale } from "./scaled-model.js";
export { streamBank } from "./bank.js";
export {
  CAUSAL_KINDS,
  defaultCausalDesignOptions,
  designCausal,
  isQuantileBand,
  type CausalDesign,
  type CausalDesignOptions,
  type CausalImage,
  type CausalKind,
} from "./design.js";
export { storeCausalDesign, type StoreDesignOptions, type StoredDesign } from "./store-design.js";
export {
  analyzeCausal,
  causalTable,
  COMPARISONS,
  writeCausalCsv,
  type CausalAnalysis,
  type KindSummary,
  type UnitKindResult,
} from "./analyze.js";
export { meanSe, permutationTest, signFlipTest } from "./stats.js";
