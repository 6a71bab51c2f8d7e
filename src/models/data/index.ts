export { encodeNumericNpy, NpyFormatError, parseNumericNpy, type NumericArray } from "./npy-numeric.js";
export { meanResponses, repeatMatrix, type SessionDataset } from "./dataset.js";
export { kFolds, SeededRandom, splitIndices, stableSeed } from "./random.js";
export { zscoreTargets, type ZScored } from "./targets.js";
