export { disagreement } from "./disagreement.js";
export { kCenterGreedy } from "./coreset.js";
export { selectByDisagreement, type Candidate, type SelectOptions, type Selected } from "./select.js";
export { powerSample } from "./power.js";
