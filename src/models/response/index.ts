export {
  compactResponseModel,
  populationResponseModel,
  routedResponseModel,
  type PixelBox,
  type ResponseSource,
  type UnitResponseModel,
  type UnitRoute,
} from "./response-model.js";
