export { encodeNumericNpy, NpyFormatError, parseNumericNpy, type NumericArray } from "./npy-numeric.js";
export { meanResponses, repeatMatrix, type SessionDataset } from "./dataset.js";
export { SeededRandom, splitIndices } from "./random.js";
export { zscoreTargets, type ZScored } from "./targets.js";
