import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs";
import {
  DeepEnsemble,
  disagreement,
  featureStandardization,
  loadEnsemble,
  extractFeatures,
  kCenterGreedy,
  median,
  powerSample,
  predictSession,
  r2Raw,
  saveEnsemble,
  scoreUnits,
  SeededRandom,
  trainEnsemble,
  validationText,
  type EnsembleConfig,
  type FrontEnd,
} from "../../models/index.js";
import { encodePng, gaudy, type RgbImage } from "../../stimulus/index.js";
import { parseProtocolText, type LoadedProtocol } from "../protocol/load.js";
import type { CountWindow, ProtocolInput, Timing } from "../protocol/schema.js";
import type { SessionStore } from "../store/index.js";
import type { BankImage, ImageBank } from "./bank.js";
import { sessionTrainingData, type SessionTrainingData } from "./dataset-from-session.js";
import { pairedDifference } from "./paired.js";
import type { CampaignRig } from "./rig.js";
import type { TrainingProgressEvent } from "../api/live-contract.js";
import type { CompactPoint, RetrainedEnsemble } from "./compact-step.js";
import { readoutFirst, type ReadoutFirstPoint } from "./readout-first.js";
import { decideProposal, getProposal, type DecisionVia } from "../store/proposals.js";
import type { DesignedStep, StudyJournal } from "./study-journal.js";

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
  /** Called after each retrain is stored: the compact-model step (compact-step.ts); its result joins the curve. */
  afterRetrain?: (e: RetrainedEnsemble) => Promise<CompactPoint | undefined>;
  /**
   * The study this campaign is (study-journal.ts): each step is written to the store as it is done, every
   * proposal is stored with its decision, and a study that was stopped goes on from its last step.
   */
  journal?: StudyJournal;
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

/**
 * Per unit of `unitNames`, the squared correlation across the truth's pictures between the
 * predictions ([images, units] in `unitNames` order) and the true rates; NaN where the truth has no
 * such unit.
 */
export function trueRateScores(
  predictions: Float32Array,
  unitNames: readonly string[],
  truth: Pick<TrueRates, "unitNames" | "rates">,
): number[] {
  const n = truth.rates.length / truth.unitNames.length;
  const column = new Map(truth.unitNames.map((name, k) => [name, k]));
  return unitNames.map((name, j) => {
    const k = column.get(name);
    if (k === undefined) return Number.NaN;
    const x = Float64Array.from({ length: n }, (_, i) => predictions[i * unitNames.length + j]!);
    const y = Float64Array.from({ length: n }, (_, i) => truth.rates[i * truth.unitNames.length + k]!);
    return r2Raw(x, y);
  });
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

/** How the bank is divided, fixed by the seed: both arms of a comparison share all but the selected images. */
interface Plan {
  test: BankImage[];
  first: BankImage[];
  /** Per later session (index 0 = session 2): its normal images and the images its gaudy block is made from. */
  normal: BankImage[][];
  gaudyBase: BankImage[][];
  candidates: BankImage[];
  nActive: number;
}

interface ArmState {
  selection: Selection;
  outDir: string;
  label: string;
  sessions: CampaignSessionRecord[];
  used: Set<string>;
  curve: CurvePoint[];
  turnarounds: Turnaround[];
  modelVersionIds: number[];
}

interface TrainedModel {
  /** Undefined when another arm already used and disposed it (random picks need none). */
  ensemble: DeepEnsemble | undefined;
  point: CurvePoint;
  seconds: number;
  /** The stored weights: the next retrain continues from them (warm start). */
  checkpoint: Uint8Array;
}

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : "NaN";
}

/**
 * The closed loop over K sessions: run session 1 (normal images); after each session retrain the
 * deep ensemble on every session so far, score it on the held-out test images (r²_ER), and design
 * the next session (active learning or random picks, gaudy and normal images) as a protocol file
 * that is written, validated, stored and run.
 */
export class Campaign {
  private readonly log: (line: string) => void;
  private readonly plan: Plan;
  private readonly imageBySha = new Map<string, RgbImage>();
  private readonly features = new Map<string, Float32Array>();
  private testHashes: string[] = [];
  private readonly size: number;

  constructor(private readonly options: CampaignOptions) {
    this.log = options.log ?? (() => {});
    this.size = options.bank.images[0]?.image.width ?? 0;
    this.plan = this.makePlan();
  }

  /** How the active arm picks: "top-k", "coreset F" or "power P" (campaign.json's activeRule). */
  get activeRule(): string {
    const o = this.options;
    return o.samplingPower !== undefined
      ? `power ${o.samplingPower}`
      : o.coresetPoolFactor !== undefined
        ? `coreset ${o.coresetPoolFactor}`
        : "top-k";
  }

  private makePlan(): Plan {
    const o = this.options;
    if (o.sessions < 1) throw new Error(`A campaign needs at least 1 session, got ${o.sessions}; nothing was run.`);
    if (o.samplingPower !== undefined && o.coresetPoolFactor !== undefined)
      throw new Error("Choose k-centre thinning (--coreset) or power sampling (--power), not both; nothing was run.");
    const n = o.imagesPerSession;
    const nActive = Math.round(n * o.activeFraction);
    const nGaudy = Math.round(n * o.gaudyFraction);
    const nNormal = n - nActive - nGaudy;
    if (nNormal < 0)
      throw new Error(
        `--active-fraction ${o.activeFraction} and --gaudy-fraction ${o.gaudyFraction} add up to more than 1; ` +
          `nothing was run.`,
      );
    const later = o.sessions - 1;
    // One more later session's worth, for the proposed next protocol.
    const designed = later + ((o.proposeNext ?? true) ? 1 : 0);
    const fixed = o.testImages + n + designed * (nNormal + nGaudy);
    const bank = new SeededRandom(o.seed).shuffle([...o.bank.images]);
    const needCandidates = designed * nActive;
    if (bank.length < fixed + needCandidates) {
      throw new Error(
        `The image bank holds ${bank.length} images; this campaign needs ${fixed} for test, normal and gaudy ` +
          `images plus at least ${needCandidates} candidates. Nothing was run; use fewer sessions or images per ` +
          `session, or a larger bank (--bank-size).`,
      );
    }
    let at = 0;
    const take = (k: number): BankImage[] => bank.slice(at, (at += k));
    const test = take(o.testImages);
    const first = take(n);
    const normal: BankImage[][] = [];
    const gaudyBase: BankImage[][] = [];
    for (let s = 0; s < designed; s++) {
      normal.push(take(nNormal));
      gaudyBase.push(take(nGaudy));
    }
    const candidates = bank.slice(at, at + Math.max(needCandidates, o.candidates));
    return { test, first, normal, gaudyBase, candidates, nActive };
  }

  /** Stores a picture once (PNG by SHA-256) and remembers its pixels. */
  private async register(image: RgbImage, origin: string): Promise<string> {
    const sha = this.options.store.putStimulus(await encodePng(image), {
      width: image.width,
      height: image.height,
      channels: 3,
      origin,
    });
    this.imageBySha.set(sha, image);
    return sha;
  }

  /** Front-end features by key; missing ones are computed in batches from the pixels given. */
  private async featuresFor(
    keys: readonly string[],
    pixels: (key: string) => Uint8Array,
    label: string,
  ): Promise<Float32Array> {
    const missing = [...new Set(keys.filter((k) => !this.features.has(k)))];
    if (missing.length > 0) {
      const per = this.options.frontEnd.outputShape.reduce((a, b) => a * b, 1);
      let lastTenth = -1;
      const all = await extractFeatures(this.options.frontEnd, missing.map(pixels), this.size, {
        batchSize: 32,
        onProgress: (done, total) => {
          const tenth = Math.floor((done / total) * 4);
          if (total >= 200 && tenth !== lastTenth) {
            lastTenth = tenth;
            this.log(`front end (${label}): ${done}/${total} images`);
          }
        },
      });
      missing.forEach((k, i) => this.features.set(k, all.slice(i * per, (i + 1) * per)));
    }
    const per = this.features.get(keys[0]!)?.length ?? 0;
    const out = new Float32Array(keys.length * per);
    keys.forEach((k, i) => out.set(this.features.get(k)!, i * per));
    return out;
  }

  private storedFeatures = async (shas: readonly string[]): Promise<Float32Array> =>
    this.featuresFor(
      shas,
      (sha) => {
        const image = this.imageBySha.get(sha);
        if (image === undefined) throw new Error(`Campaign: stimulus ${sha} was not registered by this campaign`);
        return image.pixels0to255;
      },
      "session images",
    );

  private protocolFor(
    arm: ArmState,
    number: number,
    blocks: { name: string; hashes: string[]; repeats: number }[],
    description: string,
    expected?: string,
  ): { file: string; loaded: LoadedProtocol } {
    const o = this.options;
    const name = `${arm.label} session ${number}`;
    const protocol: ProtocolInput = {
      name,
      description,
      rig: "rig.json",
      seed: o.seed * 100 + number,
      timing: o.timing,
      countWindow: o.countWindow,
      sources: Object.fromEntries(blocks.map((b) => [b.name, { kind: "stored" as const, hashes: b.hashes }])),
      blocks: blocks.map((b) => ({
        name: b.name,
        source: b.name,
        repeats: b.repeats,
        order: b.repeats > 1 ? ("shuffle-each-repeat" as const) : ("shuffle" as const),
      })),
    };
    mkdirSync(arm.outDir, { recursive: true });
    if (resolve(arm.outDir) !== resolve(o.outDir)) writeFileSync(join(arm.outDir, "rig.json"), o.rig.text);
    const file = join(arm.outDir, `session-${number}.json`);
    const text = `${JSON.stringify(protocol, null, 2)}\n`;
    // The file must be one the experimenter could run as it is: validate before writing it.
    const loaded = parseProtocolText(file, text);
    if (expected !== undefined && text !== expected)
      throw new Error(
        `Study ${o.journal?.name}: session ${number}'s protocol, built again from the image bank and the study's ` +
          `settings, differs from the one designed before the stop (stored in ${o.store.file}); nothing more was ` +
          `run and ${file} was not changed. Resume with the image bank and front end the study started with.`,
      );
    writeFileSync(file, text);
    return { file, loaded };
  }

  private async runProtocol(
    arm: ArmState,
    number: number,
    file: string,
    loaded: LoadedProtocol,
  ): Promise<CampaignSessionRecord> {
    const o = this.options;
    const total = loaded.protocol.blocks.reduce(
      (s, b) => s + b.repeats * (loaded.protocol.sources[b.source] as { hashes: string[] }).hashes.length,
      0,
    );
    const minutes = (total * (o.timing.stimulusMs + o.timing.interStimulusMs)) / 60_000;
    this.log(
      `${arm.label}: running session ${number} (${file}): ${total} presentations, about ${minutes.toFixed(1)} min`,
    );
    const shas = new Set(
      loaded.protocol.blocks.flatMap((b) => (loaded.protocol.sources[b.source] as { hashes: string[] }).hashes),
    );
    await o.rig.prepare([...shas].flatMap((sha) => this.imageBySha.get(sha) ?? []));
    let lastQuarter = -1;
    const t0 = performance.now();
    o.journal?.noteRecording(number, o.store.putProtocol(loaded.protocol.name, loaded.text), file);
    const result = await o.rig.run(
      o.store,
      loaded,
      loaded.protocol.name,
      (shown, all) => {
        const q = Math.floor((shown / all) * 4);
        if (q !== lastQuarter && q > 0) {
          lastQuarter = q;
          this.log(`${arm.label}: session ${number}: ${shown}/${all} presented`);
        }
      },
      o.signal,
    );
    if (result.state !== "completed") {
      o.journal?.noteInterrupted(number, result.sessionId, { state: result.state, presented: result.presented });
      throw new Error(
        `Session ${number} (${result.uuid}) ended ${result.state} after ${result.presented}/${result.scheduled} ` +
          `presentations; it is kept in ${o.store.file}. The campaign stopped; look at \`cortexloop show ` +
          `${result.sessionId}\` and ` +
          `${
            o.journal === undefined
              ? "rerun."
              : `resume the study (\`cortexloop campaign --resume ${o.journal.study.id} --db ${o.store.file}\`).`
          }`,
      );
    }
    o.journal?.noteRecorded(number, result.sessionId, file);
    const data = await this.trainingData(result.sessionId, number);
    this.log(
      `${arm.label}: session ${number} done in ${seconds(t0).toFixed(0)} s: ${result.presented} presented, ` +
        `${data.usedPresentations} with complete counts, ${result.faults} faults, ${data.unitNames.length} units`,
    );
    return {
      number,
      sessionId: result.sessionId,
      uuid: result.uuid,
      protocolFile: file,
      state: result.state,
      presented: result.presented,
      data,
    };
  }

  private trainingData(sessionId: number, number: number): Promise<SessionTrainingData> {
    return sessionTrainingData(this.options.store, sessionId, {
      key: `session-${sessionId}`,
      heldOut: new Set(this.testHashes),
      features: this.storedFeatures,
      seed: this.options.seed + number,
    });
  }

  /** A session the study recorded before it was stopped: read back from the store, not recorded again. */
  private async recordedBefore(
    arm: ArmState,
    number: number,
    file: string,
    sessionId: number,
  ): Promise<CampaignSessionRecord> {
    const o = this.options;
    const row = o.store.findSession(sessionId)!;
    const data = await this.trainingData(sessionId, number);
    const presented = o.store.presentations(sessionId).length;
    this.log(
      `${arm.label}: session ${number} was recorded before the stop (session ${sessionId}, ${presented} presented, ` +
        `${data.usedPresentations} with complete counts); not recorded again`,
    );
    return {
      number,
      sessionId,
      uuid: row.uuid,
      protocolFile: file,
      state: o.store.sessionState(sessionId),
      presented,
      data,
    };
  }

  /** Records session `number`, or reads it back if the study recorded it before it was stopped. */
  private async record(
    arm: ArmState,
    number: number,
    file: string,
    loaded: LoadedProtocol,
  ): Promise<CampaignSessionRecord> {
    const done = this.options.journal?.recorded(number);
    return done !== undefined
      ? this.recordedBefore(arm, number, file, done.sessionId)
      : this.runProtocol(arm, number, file, loaded);
  }

  /** The model version the study trained after this session before it was stopped, loaded again. */
  private async retrainedBefore(arm: ArmState): Promise<TrainedModel | undefined> {
    const o = this.options;
    const after = arm.sessions[arm.sessions.length - 1]!.number;
    const done = o.journal?.retrained(after);
    if (done === undefined) return undefined;
    const checkpoint = o.store.modelCheckpoint(done.modelVersionId);
    if (checkpoint === undefined)
      throw new Error(
        `Study ${o.journal!.name}: model version ${done.modelVersionId} (after session ${after}) has no stored ` +
          `weights; nothing more was run.`,
      );
    const bytes = new Uint8Array(checkpoint);
    arm.modelVersionIds.push(done.modelVersionId);
    const point = done.point;
    arm.curve.push(point);
    this.log(
      `${arm.label}: the model after session ${after} was trained before the stop (model version ` +
        `${done.modelVersionId}, held-out r²_ER median ${fmt(point.r2er)}); not trained again`,
    );
    await this.compactStep(arm, point, after);
    const ensemble = loadEnsemble(bytes, `${arm.label} model version ${done.modelVersionId}`).ensemble;
    return { ensemble, point, seconds: done.seconds, checkpoint: bytes };
  }

  /** The compact models of this retrain (once: a study that did them before a stop reads them back). */
  private async compactStep(arm: ArmState, point: CurvePoint, after: number): Promise<void> {
    const o = this.options;
    const before = o.journal?.compact(after);
    if (before !== undefined) {
      point.compact = before;
      return;
    }
    const compact = await o.afterRetrain?.({
      label: arm.label,
      afterSession: after,
      modelVersionId: point.modelVersionId,
      testHashes: this.testHashes,
      signal: o.signal,
    });
    if (compact !== undefined) {
      point.compact = compact;
      o.journal?.noteCompact(after, compact);
    }
  }

  /**
   * Retrains on every session so far, from the previous model version's weights (warm start) or from
   * random weights; scores held-out r²_ER; stores the model version.
   */
  private async retrain(arm: ArmState, previous?: Uint8Array): Promise<TrainedModel> {
    const o = this.options;
    const t = o.training;
    const sets = await this.trainingSets(arm);
    const sessions = sets.map((s) => s.data.session);
    const warm = previous !== undefined && (t.warmStart ?? true);
    // Warm start keeps the previous feature standardization: the weights were learned on it.
    const ensemble = warm
      ? loadEnsemble(previous, `${arm.label} previous model version`).ensemble
      : new DeepEnsemble({
          inputShape: [...o.frontEnd.outputShape],
          members: t.members,
          width: t.width,
          blocks: t.blocks,
          kernelSize: 3,
          seed: o.seed,
          ...featureStandardization(sessions, o.frontEnd.outputShape),
        });
    const config: EnsembleConfig = ensemble.config;
    const after = arm.sessions[arm.sessions.length - 1]!.number;
    let quick: ReadoutFirstPoint | undefined;
    // Pooled readouts have no new session's readout to fit: the one readout covers every session.
    if (previous !== undefined && o.readouts !== "pooled") {
      quick = await readoutFirst(
        o.store,
        { checkpoint: previous, modelVersionId: arm.modelVersionIds[arm.modelVersionIds.length - 1] ?? null },
        sets[sets.length - 1]!.data,
        {
          label: arm.label,
          afterSession: after,
          readoutL2: t.readoutL2 ?? 0,
          seed: o.seed,
          sessionIds: arm.sessions.map((s) => s.sessionId),
          config: {
            ...config,
            frontEnd: o.frontEnd.name,
            frontEndSpec: o.frontEndSpec,
            imageSize: this.size,
            campaign: o.name,
            testHashes: this.testHashes,
          },
        },
      );
      this.log(
        `${arm.label}: after session ${after}: readout on the frozen model first: held-out r²_ER median ` +
          `${fmt(quick.r2er)} in ${quick.seconds.toFixed(1)} s (model version ${quick.modelVersionId}); now the ` +
          `full retrain`,
      );
    }
    const t0 = performance.now();
    const result = await trainEnsemble(ensemble, sessions, {
      maxCycles: t.maxCycles,
      stepsPerVisit: t.stepsPerVisit,
      batchSize: t.batchSize,
      learningRate: t.learningRate,
      patience: t.patience,
      stopOn: t.stopOn,
      minCycles: t.minCycles,
      readoutL2: t.readoutL2,
      seed: o.seed,
      signal: o.signal,
      onProgress: (p) => {
        if (p.validation !== undefined)
          o.live?.({
            kind: "training",
            label: arm.label,
            afterSession: after,
            cycle: p.cycle,
            maxCycles: p.maxCycles,
            loss: p.loss,
            validationLoss: p.validationLoss ?? null,
            validation: p.validation,
          });
        if (p.validation !== undefined)
          this.log(
            `${arm.label}: training after session ${after}${warm ? " (continuing from the previous model)" : ""}: ` +
              `cycle ${p.cycle}/${p.maxCycles}, loss ${fmt(p.loss)}, ` +
              `${validationText(p.validationLoss, p.validation)}`,
          );
      },
    });
    const trainSeconds = seconds(t0);
    const perSession = sets.map((s) => {
      const pred = predictSession(ensemble, s.data.session, s.data.testIdx);
      const scored = scoreUnits(pred, s.data.session, s.data.testIdx);
      return {
        session: s.number,
        sessionId: s.sessionId,
        metric: scored.metric,
        median: median(scored.scores),
        perUnit: scored.scores,
      };
    });
    const newest = perSession[perSession.length - 1]!;
    const truth = o.truth === undefined ? undefined : await this.trueRateScore(ensemble, sets[sets.length - 1]!.data);
    const imagesShown = sets.reduce((sum, s) => sum + s.data.session.trainIdx.length + s.data.session.valIdx.length, 0);
    const pooled = o.readouts === "pooled";
    const checkpoint = await saveEnsemble(ensemble, o.frontEnd.name, { campaign: o.name, afterSession: after });
    const modelVersionId = o.store.putModelVersion({
      name: `${arm.label} ensemble after session ${after}`,
      kind: "deep-ensemble",
      parentId: arm.modelVersionIds[arm.modelVersionIds.length - 1] ?? null,
      metrics: {
        r2er: newest.median,
        r2erMetric: newest.metric,
        r2erPerUnit: newest.perUnit,
        ...(truth === undefined
          ? {}
          : { trueR2: truth.median, trueR2PerUnit: truth.perUnit, trueImages: o.truth!.images.length }),
        r2erPerSession: perSession.map(({ session, sessionId, median: m, metric }) => ({
          session,
          sessionId,
          median: m,
          metric,
        })),
        readouts: pooled ? "pooled" : "per-session",
        imagesShown,
        testImages: this.testHashes.length,
        testRepeats: o.testRepeats * (pooled ? arm.sessions.length : 1),
        trainSeconds,
        cycles: result.cycles,
        bestCycle: result.bestCycle,
        bestValidation: result.bestValidation,
      },
      config: {
        ...config,
        frontEnd: o.frontEnd.name,
        frontEndSpec: o.frontEndSpec,
        imageSize: this.size,
        training: t,
        warmStart: warm,
        selection: arm.selection,
        campaign: o.name,
        testHashes: this.testHashes,
      },
      checkpoint,
      sessionIds: arm.sessions.map((s) => s.sessionId),
    });
    arm.modelVersionIds.push(modelVersionId);
    // Pooled: one readout over every session, so there is no per-session readout to report.
    const point: CurvePoint = {
      session: after,
      imagesShown,
      r2er: newest.median,
      r2erPerSession: pooled ? [] : perSession.map((p) => p.median),
      r2erPerUnit: newest.perUnit,
      ...(truth === undefined ? {} : { trueR2: truth.median, trueR2PerUnit: truth.perUnit }),
      modelVersionId,
      ...(quick === undefined ? {} : { readoutFirst: quick }),
    };
    arm.curve.push(point);
    o.journal?.noteRetrained({ afterSession: after, modelVersionId, point, seconds: trainSeconds });
    const how = pooled
      ? `${this.testHashes.length} test images × ${o.testRepeats} repeats × ${arm.sessions.length} session` +
        `${arm.sessions.length === 1 ? "" : "s"}, one readout pooled over the sessions`
      : `${this.testHashes.length} test images × ${o.testRepeats} repeats`;
    const units = newest.perUnit.filter((v) => !Number.isNaN(v)).length;
    this.log(
      `${arm.label}: after session ${after}: held-out r²_ER median ${fmt(newest.median)} (${how}, ${units} units` +
        `${pooled ? "" : `; per session ${perSession.map((p) => fmt(p.median)).join(", ")}`})` +
        `${
          truth === undefined
            ? ""
            : `; against the true rates of ${o.truth!.images.length} unseen pictures ` + `${fmt(truth.median)}`
        }, ${imagesShown} training images shown; trained ${result.cycles} cycles in
          ${trainSeconds.toFixed(1)} s; model version ${modelVersionId}`,
    );
    await this.compactStep(arm, point, after);
    return { ensemble, point, seconds: trainSeconds, checkpoint };
  }

  /** The newest readout's predictions for the truth's pictures, scored against the true rates. */
  private async trueRateScore(
    ensemble: DeepEnsemble,
    data: SessionTrainingData,
  ): Promise<{ median: number; perUnit: number[] }> {
    const truth = this.options.truth!;
    const keys = truth.images.map((_, i) => `truth:${i}`);
    const features = await this.featuresFor(
      keys,
      (key) => truth.images[Number(key.slice(6))]!.pixels0to255,
      "true-rate pictures",
    );
    const [h, w, c] = this.options.frontEnd.outputShape;
    const per = h * w * c;
    const units = data.unitNames.length;
    const predictions = new Float32Array(keys.length * units);
    for (let start = 0; start < keys.length; start += 128) {
      const n = Math.min(128, keys.length - start);
      const p = tf.tidy(() =>
        ensemble.predict(
          data.session.key,
          tf.tensor4d(features.subarray(start * per, (start + n) * per), [n, h, w, c]),
        ),
      );
      predictions.set(await p.data(), start * units);
      p.dispose();
    }
    const perUnit = trueRateScores(predictions, data.unitNames, truth);
    return { median: median(perUnit), perUnit };
  }

  /**
   * What the ensemble trains on: every session with its own readout, or (pooled readouts) one data
   * set of every session's images, labelled with the newest session.
   */
  private async trainingSets(
    arm: ArmState,
  ): Promise<{ number: number; sessionId: number; data: SessionTrainingData }[]> {
    const o = this.options;
    if (o.readouts !== "pooled")
      return arm.sessions.map((s) => ({ number: s.number, sessionId: s.sessionId, data: s.data }));
    const newest = arm.sessions[arm.sessions.length - 1]!;
    // Seed + 1 + position = each session's own seed in runProtocol: the same training/validation split.
    const data = await sessionTrainingData(
      o.store,
      arm.sessions.map((s) => s.sessionId),
      { key: "pooled", heldOut: new Set(this.testHashes), features: this.storedFeatures, seed: o.seed + 1 },
    );
    return [{ number: newest.number, sessionId: newest.sessionId, data }];
  }

  /** Picks `k` unused candidates: highest ensemble disagreement (optionally k-centre thinned), or at random. */
  private async select(
    arm: ArmState,
    ensemble: DeepEnsemble | undefined,
    k: number,
    number: number,
  ): Promise<{ picked: BankImage[]; scored: number }> {
    const o = this.options;
    const pool = this.plan.candidates.filter((c) => !arm.used.has(c.id));
    if (pool.length < k)
      throw new Error(
        `Only ${pool.length} unused candidates are left for ${k} picks; nothing more was run. Use a larger ` +
          `--candidates.`,
      );
    if (arm.selection === "random")
      return { picked: new SeededRandom(o.seed * 7 + number).shuffle([...pool]).slice(0, k), scored: 0 };
    if (ensemble === undefined)
      throw new Error("Campaign: active-learning selection needs the trained ensemble, which was already disposed");
    const keys = pool.map((c) => `bank:${c.id}`);
    const byKey = new Map(pool.map((c) => [`bank:${c.id}`, c]));
    const sessions = [...ensemble.readouts.keys()];
    const [h, w, c] = o.frontEnd.outputShape;
    const scores = new Float64Array(pool.length);
    const batch = 128;
    let lastQuarter = -1;
    for (let start = 0; start < pool.length; start += batch) {
      const chunk = keys.slice(start, start + batch);
      const feats = await this.featuresFor(chunk, (key) => byKey.get(key)!.image.pixels0to255, "candidates");
      const members = tf.tidy(() => {
        const x = tf.tensor4d(feats, [chunk.length, h, w, c]);
        const all = sessions.map((s) => ensemble.predictMembers(s, x));
        return all.length === 1 ? all[0]! : tf.concat(all, 2);
      });
      const [m, n, u] = members.shape;
      scores.set(disagreement((await members.data()) as Float32Array, m, n, u), start);
      members.dispose();
      const q = Math.floor(((start + chunk.length) / pool.length) * 4);
      if (q !== lastQuarter) {
        lastQuarter = q;
        this.log(`${arm.label}: scoring candidates by ensemble disagreement: ${start + chunk.length}/${pool.length}`);
      }
      await new Promise((r) => setImmediate(r));
    }
    if (o.samplingPower !== undefined)
      return {
        picked: powerSample(scores, k, o.samplingPower, new SeededRandom(o.seed * 13 + number)).map((i) => pool[i]!),
        scored: pool.length,
      };
    const order = Array.from(scores, (s, i) => ({ s, i })).sort((a, b) => b.s - a.s);
    let chosen: number[];
    if (o.coresetPoolFactor === undefined) chosen = order.slice(0, k).map((x) => x.i);
    else {
      const top = order.slice(0, Math.max(k, Math.ceil(k * o.coresetPoolFactor))).map((x) => x.i);
      // Embedding: front-end features averaged over space (as selectByDisagreement does).
      const points = new Float32Array(top.length * c);
      top.forEach((i, r) => {
        const f = this.features.get(keys[i]!)!;
        for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) points[r * c + ch]! += f[p * c + ch]! / (h * w);
      });
      chosen = kCenterGreedy(points, top.length, c, k, 0).map((r) => top[r]!);
    }
    return { picked: chosen.map((i) => pool[i]!), scored: pool.length };
  }

  /** The candidates a study picked for a session before it was stopped, from the bank again. */
  private pickedBefore(before: DesignedStep): BankImage[] {
    const byId = new Map(this.plan.candidates.map((c) => [c.id, c]));
    return before.picked.map((id) => {
      const c = byId.get(id);
      if (c === undefined)
        throw new Error(
          `Study ${this.options.journal?.name}: session ${before.number} showed candidate ${id}, which this image ` +
            `bank does not hold; nothing more was run. Resume with the image bank the study started with ` +
            `(--images-dir).`,
        );
      return c;
    });
  }

  /**
   * Designs session `number` (≥ 2) for an arm: stores its images, writes and validates its protocol. With
   * `before` (a study designed it before it was stopped) the same images are taken again, not selected anew.
   */
  private async design(
    arm: ArmState,
    ensemble: DeepEnsemble | undefined,
    number: number,
    before?: DesignedStep,
  ): Promise<{ file: string; loaded: LoadedProtocol; scored: number; selectSeconds: number; picked: string[] }> {
    const o = this.options;
    const t0 = performance.now();
    const { picked, scored } =
      before === undefined
        ? await this.select(arm, ensemble, this.plan.nActive, number)
        : { picked: this.pickedBefore(before), scored: before.scored };
    const selectSeconds = before?.selectSeconds ?? seconds(t0);
    for (const p of picked) arm.used.add(p.id);
    const later = number - 2;
    const normal = this.plan.normal[later]!;
    const gaudyBase = this.plan.gaudyBase[later]!;
    const pickedShas: string[] = [];
    for (const p of picked) {
      const sha = await this.register(
        p.image,
        `campaign:${arm.selection === "active" ? "active-learning" : "random"}:${p.origin}`,
      );
      const f = this.features.get(`bank:${p.id}`);
      if (f !== undefined) this.features.set(sha, f);
      pickedShas.push(sha);
    }
    const normalShas: string[] = [];
    for (const b of normal) normalShas.push(await this.register(b.image, `campaign:normal:${b.origin}`));
    const gaudyShas: string[] = [];
    for (const b of gaudyBase) gaudyShas.push(await this.register(gaudy(b.image), `campaign:gaudy-of:${b.origin}`));
    const selectedName = arm.selection === "active" ? "active-learning" : "random";
    const blocks = [
      { name: "test", hashes: this.testHashes, repeats: o.testRepeats },
      ...(pickedShas.length > 0 ? [{ name: selectedName, hashes: pickedShas, repeats: o.trainRepeats ?? 1 }] : []),
      ...(gaudyShas.length > 0 ? [{ name: "gaudy", hashes: gaudyShas, repeats: o.trainRepeats ?? 1 }] : []),
      ...(normalShas.length > 0 ? [{ name: "normal", hashes: normalShas, repeats: o.trainRepeats ?? 1 }] : []),
    ];
    const how =
      arm.selection === "active"
        ? o.samplingPower !== undefined
          ? `${pickedShas.length} images drawn from ${scored} candidates with chance ∝ ensemble disagreement^` +
            `${o.samplingPower}`
          : `${pickedShas.length} images of highest ensemble disagreement among ${scored} candidates` +
            `${
              o.coresetPoolFactor !== undefined
                ? ` (k-centre thinned from the top ` + `${Math.ceil(pickedShas.length * o.coresetPoolFactor)})`
                : ""
            }`
        : `${pickedShas.length} candidates picked at random`;
    const description =
      `Designed by the campaign after session ${number - 1} with model version ` +
      `${arm.modelVersionIds[arm.modelVersionIds.length - 1]}: held-out test (${this.testHashes.length} images × ` +
      `${o.testRepeats}), ${how}, ${gaudyShas.length} gaudy versions of natural images, ${normalShas.length} ` +
      `natural images.`;
    const { file, loaded } = this.protocolFor(arm, number, blocks, description, before?.protocolText);
    this.log(
      `${arm.label}: ${before === undefined ? "wrote" : "designed before the stop, written again:"} ${file}: ` +
        description,
    );
    return { file, loaded, scored, selectSeconds, picked: picked.map((p) => p.id) };
  }

  private newArm(selection: Selection, outDir: string, label: string): ArmState {
    return { selection, outDir, label, sessions: [], used: new Set(), curve: [], turnarounds: [], modelVersionIds: [] };
  }

  private fork(base: ArmState, selection: Selection, outDir: string, label: string): ArmState {
    return {
      selection,
      outDir,
      label,
      sessions: [...base.sessions],
      used: new Set(base.used),
      curve: [...base.curve],
      turnarounds: [...base.turnarounds],
      modelVersionIds: [...base.modelVersionIds],
    };
  }

  /** Registers the held-out test images and runs session 1 (test + normal images), then retrains once. */
  private async firstSession(arm: ArmState): Promise<TrainedModel> {
    const o = this.options;
    this.testHashes = [];
    for (const b of this.plan.test) this.testHashes.push(await this.register(b.image, `campaign:test:${b.origin}`));
    const firstShas: string[] = [];
    for (const b of this.plan.first) firstShas.push(await this.register(b.image, `campaign:normal:${b.origin}`));
    const description =
      `Session 1 of campaign ${o.name}: held-out test (${this.testHashes.length} images × ` +
      `${o.testRepeats}) and ${firstShas.length} natural images from ${o.bank.description}.`;
    const { file, loaded } = this.protocolFor(
      arm,
      1,
      [
        { name: "test", hashes: this.testHashes, repeats: o.testRepeats },
        { name: "normal", hashes: firstShas, repeats: o.trainRepeats ?? 1 },
      ],
      description,
    );
    arm.sessions.push(await this.record(arm, 1, file, loaded));
    return (await this.retrainedBefore(arm)) ?? this.retrain(arm);
  }

  /** Sessions 2..K of an arm, starting from the model trained on what the arm has run so far. */
  private async continueArm(arm: ArmState, model: TrainedModel): Promise<CampaignResult> {
    const o = this.options;
    let current = model;
    let proposedProtocolFile: string | undefined;
    for (let number = arm.sessions.length + 1; number <= o.sessions + ((o.proposeNext ?? true) ? 1 : 0); number++) {
      if (o.signal?.aborted) break;
      const before = o.journal?.designed(number);
      const designed = await this.design(arm, current.ensemble, number, before);
      current.ensemble?.dispose();
      const turnaround: Turnaround = before?.turnaround ?? {
        afterSession: number - 1,
        retrainSeconds: current.seconds,
        scoreSelectSeconds: designed.selectSeconds,
        totalSeconds: current.seconds + designed.selectSeconds,
        candidatesScored: designed.scored,
      };
      arm.turnarounds.push(turnaround);
      if (before === undefined) {
        this.log(
          `${arm.label}: turnaround after session ${number - 1}: retrain ${turnaround.retrainSeconds.toFixed(1)} s + ` +
            `score ${designed.scored} candidates and select ${turnaround.scoreSelectSeconds.toFixed(1)} s = ` +
            `${turnaround.totalSeconds.toFixed(1)} s`,
        );
        o.journal?.noteDesigned({
          number,
          file: designed.file,
          protocolText: designed.loaded.text,
          picked: designed.picked,
          scored: designed.scored,
          selectSeconds: designed.selectSeconds,
          turnaround,
        });
      }
      if (number > o.sessions) {
        o.store.putProtocol(`${designed.loaded.protocol.name} (proposed)`, designed.loaded.text);
        proposedProtocolFile = designed.file;
        o.journal?.noteFinished({ sessions: arm.sessions.length, proposedProtocolFile });
        this.log(
          `${arm.label}: proposed the next session, not run: ${designed.file} (run it with \`cortexloop run ` +
            `${designed.file} --db ${o.store.file}\` against \`cortexloop sim-rig --rig ` +
            `${join(arm.outDir, "rig.json")}\`)`,
        );
        return this.result(arm, proposedProtocolFile);
      }
      const approval = await this.approved(arm, number, designed.file, designed.loaded);
      if (!approval.approved) {
        o.store.putProtocol(`${designed.loaded.protocol.name} (proposed)`, designed.loaded.text);
        o.journal?.noteStopped(number, approval.proposalId);
        this.log(
          `${arm.label}: session ${number} was not approved; the campaign stops here. Its protocol is kept: ` +
            `${designed.file}`,
        );
        return this.result(arm, designed.file);
      }
      arm.sessions.push(await this.record(arm, number, designed.file, designed.loaded));
      current = (await this.retrainedBefore(arm)) ?? (await this.retrain(arm, current.checkpoint));
    }
    current.ensemble?.dispose();
    if (!o.signal?.aborted) o.journal?.noteFinished({ sessions: arm.sessions.length });
    return this.result(arm, proposedProtocolFile);
  }

  /**
   * Asks `approve` about session `number` (every session runs when there is none). A study stores the
   * proposal first and its decision after; one decided before a stop is not asked again.
   */
  private async approved(
    arm: ArmState,
    number: number,
    file: string,
    loaded: LoadedProtocol,
  ): Promise<{ approved: boolean; proposalId?: number }> {
    const o = this.options;
    if (o.approve === undefined) return { approved: true };
    const proposal = this.proposal(arm, number, file, loaded);
    if (o.journal === undefined) return { approved: await o.approve(proposal) };
    const stored = o.journal.proposal(proposal);
    if (stored.decision !== null) {
      this.log(
        `${arm.label}: proposal ${stored.id} (session ${number}) was ${stored.decision.decision} before the stop ` +
          `(${stored.decision.via}, ${stored.decision.decidedAt})`,
      );
      return { approved: stored.decision.decision === "approved", proposalId: stored.id };
    }
    const approved = await o.approve({ ...proposal, proposalId: stored.id });
    // A hook that does not store its answer (the terminal, a program): the study stores it.
    if (getProposal(o.store.db, stored.id)?.decision === null)
      decideProposal(o.store.db, stored.id, approved ? "approved" : "declined", o.approvalVia ?? "program");
    return { approved, proposalId: stored.id };
  }

  private proposal(arm: ArmState, number: number, file: string, loaded: LoadedProtocol): Proposal {
    const p = loaded.protocol;
    const blocks = p.blocks.map((b) => ({
      name: b.name,
      images: (p.sources[b.source] as { hashes: string[] }).hashes.length,
      repeats: b.repeats,
    }));
    return {
      label: arm.label,
      session: number,
      protocolFile: file,
      description: p.description ?? "",
      blocks,
      presentations: blocks.reduce((sum, b) => sum + b.images * b.repeats, 0),
      modelVersionId: arm.modelVersionIds[arm.modelVersionIds.length - 1],
      protocolText: loaded.text,
      stimuli: [...new Set(p.blocks.flatMap((b) => (p.sources[b.source] as { hashes: string[] }).hashes))],
    };
  }

  private result(arm: ArmState, proposedProtocolFile?: string): CampaignResult {
    return {
      selection: arm.selection,
      sessions: arm.sessions,
      curve: arm.curve,
      turnarounds: arm.turnarounds,
      testHashes: this.testHashes,
      proposedProtocolFile,
      modelVersionIds: arm.modelVersionIds,
    };
  }

  /** Runs the whole campaign with one selection rule. */
  async run(selection: Selection): Promise<CampaignResult> {
    const o = this.options;
    mkdirSync(o.outDir, { recursive: true });
    const arm = this.newArm(selection, o.outDir, o.name);
    const model = await this.firstSession(arm);
    return this.continueArm(arm, model);
  }

  /**
   * The comparison: session 1 and its model are shared; then the campaign goes on twice, once picking
   * by ensemble disagreement and once at random (same seed, same test, gaudy and normal images).
   */
  async compare(): Promise<{ active: CampaignResult; random: CampaignResult }> {
    const o = this.options;
    mkdirSync(o.outDir, { recursive: true });
    const base = this.newArm("active", o.outDir, `${o.name}`);
    const model = await this.firstSession(base);
    const active = this.fork(base, "active", join(o.outDir, "active"), `${o.name} active`);
    const random = this.fork(base, "random", join(o.outDir, "random"), `${o.name} random`);
    // Both arms start from session 1's model (one model version); random picks need no ensemble.
    const activeResult = await this.continueArm(active, model);
    const randomResult = await this.continueArm(random, { ...model, ensemble: undefined });
    return { active: activeResult, random: randomResult };
  }
}

/** Both curves side by side: median held-out r²_ER against training images shown. */
export function formatCurves(active: CurvePoint[], random: CurvePoint[]): string {
  // s1(...): session 1's test images through session 1's readout. Session 1 is the same data in both
  // arms, so this column moves only with the cores that each arm's later images trained.
  const lines = ["session  images(active)  r2er(active)  s1(active)  images(random)  r2er(random)  s1(random)"];
  const n = Math.max(active.length, random.length);
  const cell = (p: CurvePoint | undefined, v: (p: CurvePoint) => number | undefined, width: number): string => {
    const value = p === undefined ? undefined : v(p);
    // "-": no per-session readout (pooled readouts).
    return (p === undefined ? "" : value === undefined ? "-" : fmt(value)).padStart(width);
  };
  for (let i = 0; i < n; i++) {
    const a = active[i];
    const r = random[i];
    lines.push(
      `${String(a?.session ?? r?.session ?? i + 1).padStart(7)}  ${String(a?.imagesShown ?? "").padStart(14)}  ` +
        `${cell(a, (p) => p.r2er, 12)}  ${cell(a, (p) => p.r2erPerSession[0], 10)}  ` +
        `${String(r?.imagesShown ?? "").padStart(14)}  ${cell(r, (p) => p.r2er, 12)}  ` +
        `${cell(r, (p) => p.r2erPerSession[0], 10)}`,
    );
  }
  // The arms record the same units, so unit-by-unit differences are paired: their mean and standard
  // error say more than the difference of two medians over a handful of units.
  const paired = active.slice(1).flatMap((a, i) => {
    const r = random[i + 1];
    if (r === undefined || r.session !== a.session) return [];
    const d = pairedDifference(a.r2erPerUnit, r.r2erPerUnit);
    if (d.n === 0) return [];
    const sign = (x: number): string => `${x >= 0 ? "+" : ""}${fmt(x)}`;
    return [
      `session ${a.session}: mean ${sign(d.mean)} ± ${d.n > 1 ? fmt(d.se) : "-"} (standard error over ${d.n} ` +
        `units), active better for ${d.above} of ${d.n}`,
    ];
  });
  if (paired.length > 0) lines.push("", "active − random, unit by unit (the same units in both arms):", ...paired);
  return lines.join("\n");
}
