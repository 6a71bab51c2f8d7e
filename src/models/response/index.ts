export {
  compactResponseModel,
  populationResponseModel,
  routedResponseModel,
  type ResponseSource,
  type UnitResponseModel,
  type UnitRoute,
} from "./response-model.js";
