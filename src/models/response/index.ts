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
