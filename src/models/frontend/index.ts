export { preprocess, type FrontEnd, type Preprocess } from "./types.js";
export {
  cutTopology,
  FrontEndLoadError,
  frontEndFromArtifacts,
  layerAncestors,
  loadFrontEndFromDisk,
  readModelArtifacts,
} from "./layers-front-end.js";
export {
  findNsfwjsDir,
  fineTunedAncestors,
  loadNsfwjsMobileNetV2,
  loadNsfwjsNetwork,
  NSFWJS_PACKAGE,
  nsfwjsNetworks,
  packageRootOf,
  type NsfwjsNetwork,
} from "./nsfwjs.js";
export { gaborFrontEnd, gaborKernel, gaborSmallOptions } from "./gabor-front-end.js";
export { defaultFrontEnd, loadFrontEnd, type FrontEndSpec } from "./default-front-end.js";
export { extractFeatures } from "./extract.js";
