export { consensusResponseModel, type ConsensusOptions, type UnitScale } from "./consensus.js";
export {
  compactResponseModel,
  populationResponseModel,
  routedResponseModel,
  type PixelBox,
  type ResponseSource,
  type UnitResponseModel,
  type UnitRoute,
  usedBases,
} from "./response-model.js";
