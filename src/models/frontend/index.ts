export { preprocess, type FrontEnd, type Preprocess } from "./types.js";
export { cutTopology, FrontEndLoadError, frontEndFromArtifacts, loadFrontEndFromDisk, readModelArtifacts } from "./layers-front-end.js";
export { findNsfwjsDir, loadNsfwjsMobileNetV2, NSFWJS_PACKAGE, packageRootOf } from "./nsfwjs-mobilenet.js";
export { gaborFrontEnd, gaborKernel } from "./gabor-front-end.js";
export { loadFrontEnd, type FrontEndSpec } from "./default-front-end.js";
export { extractFeatures } from "./extract.js";
