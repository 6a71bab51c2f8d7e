// Stimulus synthesis driven by a model's predictions (src/models/response): maximizing synthesized
// and normal images, adversarial ± pairs, saliency maps, smooth− and its random-smoothing control.
export { blurTensor, imagesToTensor, SynthesisInputError, tensorToImages } from "./tensors.js";
export {
  chooseMaximizing,
  defaultMaximizeOptions,
  synthesizeMaximizing,
  type MaximizeOptions,
  type MaximizingImage,
} from "./maximize.js";
export { priorGradient, priorsProblem, type GradientPriors } from "./prior-gradient.js";
export { topBankImages, type BankRanking, type RankedImage, type TopImagesOptions } from "./normal.js";
export {
  adversarialPairs,
  defaultAdversarialOptions,
  pixelChange,
  type AdversarialImage,
  type AdversarialOptions,
  type AdversarialPair,
  type PixelBudget,
} from "./adversarial.js";
export {
  defaultPatchOptions,
  defaultSmoothMinusOptions,
  patchGrid,
  patchesOverlap,
  predictMany,
  randomSmoothing,
  saliencyMaps,
  smoothMinus,
  smoothPatches,
  type Patch,
  type PatchOptions,
  type SaliencyMap,
  type SmoothedImage,
  type SmoothMinusOptions,
} from "./smoothing.js";
