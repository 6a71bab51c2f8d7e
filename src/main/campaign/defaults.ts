// The campaign's training settings, in one place for `cortexloop campaign` and the turnaround
// benchmark. No tfjs import: the command line reads these without loading the models.
export const campaignTrainingDefaults = {
  members: 4,
  width: 32,
  blocks: 2,
  maxCycles: 30,
  stepsPerVisit: 20,
  learningRate: 3e-3,
  patience: 6,
  stopOn: "loss",
  minCycles: 1,
  readoutL2: 1e-2,
  schedule: "interleaved",
  readout: "skip",
} as const;

/**
 * Steps of a campaign's first distillation's shared model (`--compact-steps`): campaign C's students still gained
 * at 600 (held-out R² with the teacher 0.40, 0.65, 0.75 at steps 200, 400, 600; docs/compact-models.md).
 */
export const campaignCompactSteps = 1200;

/** Parses a campaign's training schedule (`--schedule`). */
export function scheduleOption(value: string): "visits" | "interleaved" {
  if (value === "visits" || value === "interleaved") return value;
  throw new Error(`--schedule must be "interleaved" or "visits", got "${value}"; nothing was run.`);
}

/** Parses a campaign's readout kind (`--readout`). */
export function readoutOption(value: string): "skip" | "factorized" {
  if (value === "skip" || value === "factorized") return value;
  throw new Error(`--readout must be "skip" or "factorized", got "${value}"; nothing was run.`);
}

/** The `--stop-on` option's help, for every command that trains an ensemble. */
export const STOP_ON_HELP =
  "early stopping watches the validation loss (pooled over units and images) or the median over units";

/** Parses an early-stopping criterion from the command line (`--stop-on`). */
export function stopCriterion(value: string): "loss" | "median" {
  if (value === "loss" || value === "median") return value;
  throw new Error(`--stop-on must be "loss" or "median", got "${value}"`);
}
