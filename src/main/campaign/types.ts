// The campaign's types: its options, what it proposes, measures and returns, and one arm's state.
import type { DeepEnsemble, FrontEnd } from "../../models/index.js";
import type { RgbImage } from "../../stimulus/index.js";
import type { CountWindow, Timing } from "../protocol/schema.js";
import type { SessionStore } from "../store/index.js";
import type { DecisionVia, ProposalPredictions } from "../store/proposals.js";
import type { TrainingProgressEvent } from "../api/live-contract.js";
import type { ImageBank } from "./bank.js";
import type { MaximizeOptions } from "../../stimulus/synthesis/index.js";
import type { CompactPoint, RetrainedEnsemble } from "./compact-step.js";
import type { SessionTrainingData } from "./dataset-from-session.js";
import type { ReadoutFirstPoint } from "./readout-first.js";
import type { CampaignRig } from "./rig.js";
import type { StudyJournal } from "./study-journal.js";

export type Selection = "active" | "random";

export interface TrainingSettings {
  members: number;
  width: number;
  blocks: number;
  maxCycles: number;
  stepsPerVisit: number;
  batchSize: number;
  learningRate: number;
  patience: number;
  /** What early stopping watches: "loss" (default) or "median" (TrainOptions.stopOn). */
  stopOn?: "loss" | "median";
  /** Train at least this many cycles before early stopping may end training (default 1). */
  minCycles?: number;
  /** L2 penalty on the readout weights (default 0). */
  readoutL2?: number;
  /**
   * Continue from the previous model version (its cores, readouts and feature standardization)
   * instead of starting from random weights after every session. Default true.
   */
  warmStart?: boolean;
  /**
   * How a retrain walks the sessions (TrainOptions.schedule): "interleaved" (default, as `train` and
   * `evaluate` do: a cycle is one pass over every session's images, `stepsPerVisit` unused) or "visits".
   */
  schedule?: "visits" | "interleaved";
  /**
   * The readout a new session gets on the frozen model before the retrain, and every session after it:
   * "skip" (default, as `cortexloop readout`: a ridge over the front end's features, the cores' outputs and
   * the other sessions' predicted responses) or "factorized" (the readout the cores train with, alone).
   */
  readout?: "skip" | "factorized";
}

export interface CampaignOptions {
  store: SessionStore;
  rig: CampaignRig;
  bank: ImageBank;
  frontEnd: FrontEnd;
  /** How `frontEnd` was asked for; recorded with each model version so predict and select can load it again. */
  frontEndSpec?: { kind?: string; outputLayer?: string; inputSize?: number };
  outDir: string;
  /** Sessions in all (K); session 1 shows normal images only. */
  sessions: number;
  /** Distinct training images per session (the held-out test set comes on top). */
  imagesPerSession: number;
  testImages: number;
  testRepeats: number;
  /** Presentations of each training image per session (default 1); repeats average out spike-count noise. */
  trainRepeats?: number;
  /** Shares of a later session's training images: active learning (or random), gaudy, the rest normal. */
  activeFraction: number;
  gaudyFraction: number;
  /** Candidates scored for active learning each time (taken from the bank). */
  candidates: number;
  /** Greedy k-centre thinning over the top k × poolFactor candidates; undefined: plain top-k. */
  coresetPoolFactor?: number;
  /**
   * Power sampling instead of top-k: the k picks drawn without replacement with chance ∝
   * disagreement^power (seeded per session); undefined: plain top-k. Not with coresetPoolFactor.
   */
  samplingPower?: number;
  timing: Timing;
  countWindow: CountWindow;
  training: TrainingSettings;
  seed: number;
  /** Prefix of session, protocol and model-version names. */
  name: string;
  /**
   * "per-session" (default): each session gets its own readout, as the paper does for sessions that
   * record different neurons. "pooled": the sessions record the same units (the simulated rig does;
   * so does a chronic array whose units are matched across days), so one readout is fitted on every
   * session's images and the test images' repeats are pooled over sessions.
   */
  readouts?: "per-session" | "pooled";
  /** Also design (not run) the session after the last one. Default true. */
  proposeNext?: boolean;
  /**
   * Simulation only: pictures never shown, with the simulated neurons' noise-free rates. Each
   * retrain also scores the newest readout on them (squared correlation with the true rates, per
   * unit): what r²_ER estimates, without the spike-count noise and the few test images.
   */
  truth?: TrueRates;
  /**
   * Asked before each designed session runs, with its proposal: false stops the campaign there (the
   * proposal's protocol stays written and stored). Undefined: every proposal runs.
   */
  approve?: (proposal: Proposal) => Promise<boolean>;
  /**
   * Maximizing synthesized images per unit in each designed session (synthesized.ts), through each unit's compact
   * model, else the ensemble; 0 or undefined: none.
   */
  synthesizedPerUnit?: number;
  /** Programs and tests: the synthesis' settings (defaults: synthesized.ts). */
  synthesizedSettings?: Partial<MaximizeOptions>;
  /** Called after each retrain is stored: the compact-model step (compact-step.ts); its result joins the curve. */
  afterRetrain?: (e: RetrainedEnsemble) => Promise<CompactPoint | undefined>;
  /**
   * The study this campaign is (study-journal.ts): each step is written to the store as it is done, every
   * proposal is stored with its decision, and a study that was stopped goes on from its last step.
   */
  journal?: StudyJournal;
  /**
   * The caller notes the study finished (journal.noteFinished) once its own later steps are done (campaign
   * --causal: the causal test), so that a stop before then resumes to them. Default false: run() notes it.
   */
  finishLater?: boolean;
  /** Who answers `approve` (stored with each decision the hook does not store itself). Default "program". */
  approvalVia?: DecisionVia;
  /** The live view (campaign --serve): each retrain's validation checks, as they come; never awaited. */
  live?: (event: TrainingProgressEvent) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** A designed session waiting for the experimenter's approval. */
export interface Proposal {
  label: string;
  session: number;
  protocolFile: string;
  description: string;
  /** Images and repeats per block, and the presentations in all. */
  blocks: { name: string; images: number; repeats: number }[];
  presentations: number;
  /** The model version that designed it. */
  modelVersionId: number | undefined;
  /** The protocol as written (what runs once approved) and every stimulus it shows (SHA-256). */
  protocolText: string;
  stimuli: string[];
  /** The designing ensemble's predicted responses to its images (absent where no ensemble designed it). */
  predictions?: ProposalPredictions;
  /** The stored proposal (a study stores each one before asking); an approval hook decides this one. */
  proposalId?: number;
}

/** Noise-free rates of simulated neurons on held-out pictures. */
export interface TrueRates {
  images: RgbImage[];
  /** Unit names as the session data names them (electrode#sortedId), one per column of `rates`. */
  unitNames: string[];
  /** [images, units], C order, spikes/s. */
  rates: Float64Array;
}

export interface CurvePoint {
  session: number;
  /** Distinct training images shown so far (test images not counted). */
  imagesShown: number;
  /** Median over units of r²_ER on the held-out test images of the newest session. */
  r2er: number;
  /** The same, for every session's test images through that session's readout. */
  r2erPerSession: number[];
  /** Per unit, the scores whose median is `r2er` (NaN where a unit could not be scored). */
  r2erPerUnit: number[];
  /** With `truth`: median over units of the squared correlation between prediction and true rate. */
  trueR2?: number;
  /** Per unit (the order of `r2erPerUnit`); NaN for a unit the truth does not name. */
  trueR2PerUnit?: number[];
  modelVersionId: number;
  /** The compact models distilled from this model version, when the campaign distils them. */
  compact?: CompactPoint;
  /** Before this retrain: the newest session's readout fitted on the previous model with its cores frozen. */
  readoutFirst?: ReadoutFirstPoint;
}

export interface Turnaround {
  afterSession: number;
  retrainSeconds: number;
  scoreSelectSeconds: number;
  totalSeconds: number;
  candidatesScored: number;
}

export interface CampaignSessionRecord {
  number: number;
  sessionId: number;
  uuid: string;
  protocolFile: string;
  state: string;
  presented: number;
  data: SessionTrainingData;
}

export interface CampaignResult {
  selection: Selection;
  sessions: CampaignSessionRecord[];
  curve: CurvePoint[];
  turnarounds: Turnaround[];
  /** Stimulus hashes of the held-out test set. */
  testHashes: string[];
  /** The designed (not run) protocol of the session after the last, if asked for. */
  proposedProtocolFile?: string;
  modelVersionIds: number[];
}

/** One arm of a campaign as it goes: what it ran, picked, trained and measured. */
export interface ArmState {
  selection: Selection;
  outDir: string;
  label: string;
  sessions: CampaignSessionRecord[];
  used: Set<string>;
  curve: CurvePoint[];
  turnarounds: Turnaround[];
  modelVersionIds: number[];
}

export interface TrainedModel {
  /** Undefined when another arm already used and disposed it (random picks need none). */
  ensemble: DeepEnsemble | undefined;
  point: CurvePoint;
  seconds: number;
  /** The stored weights: the next retrain continues from them (warm start). */
  checkpoint: Uint8Array;
}
