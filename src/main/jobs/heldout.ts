// Held-out-session evaluation, as Cowley et al. 2023 evaluate (Ext. Data Fig. 1c): the ensemble
// trains on other sessions with their own readouts and is frozen; the held-out session only gets a
// readout, fitted with k-fold cross-validation so every image is predicted once. Ridge and a
// factorized readout on the front end's features get the same folds.
import { selectBackend, isBackendName } from "../../models/backend.js";
import { kFolds, stableSeed } from "../../models/data/random.js";
import {
  crossValidateSession,
  DeepEnsemble,
  defaultEnsembleConfig,
  featureStandardization,
  saveEnsemble,
  trainEnsemble,
  validationText,
  type CrossValidatedModel,
} from "../../models/ensemble/index.js";
import type { FrontEndSpec } from "../../models/frontend/index.js";
import type { SessionStore } from "../store/index.js";
import { resolveSession } from "../import/dataset.js";
import { scoreHeldOut, type HeldOutScores } from "./heldout-scores.js";
import {
  ensureTrainableBackend,
  prepareSessions,
  sessionIdentity,
  targetStatsOf,
  type PreparedSession,
} from "./prepare.js";

/** Ensemble settings of the held-out evaluation (README: chosen on the leave-one-session-out table). */
export const heldOutDefaults = {
  folds: 5,
  members: 8,
  width: 32,
  blocks: 2,
  maxCycles: 60,
  batchSize: 64,
  learningRate: 3e-3,
  patience: 4,
  readoutL2: 1e-2,
} as const;

export class HeldOutError extends Error {
  readonly code = "heldout-input";
  constructor(message: string) {
    super(`${message} Nothing was trained or stored.`);
    this.name = "HeldOutError";
  }
}

export interface HeldOutOptions {
  /** The session the ensemble never trains on (name, id or uuid prefix). */
  heldout: string;
  /** Sessions to pretrain on (default: every other session in the store that has units and images). */
  pretrain?: string[];
  frontEnd: FrontEndSpec;
  folds?: number;
  members?: number;
  width?: number;
  blocks?: number;
  maxCycles?: number;
  learningRate?: number;
  patience?: number;
  readoutL2?: number;
  /** Most steps of each readout fit (early stopping usually ends it sooner; default 2000). */
  readoutSteps?: number;
  seed?: number;
  imageSize?: number;
  backend?: string;
  /** Which models to cross-validate (default all three). */
  models?: readonly CrossValidatedModel[];
  featureCache?: boolean;
  /** Store the pretrained ensemble (without the held-out session's readout) as a model version. */
  save?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface HeldOutReport extends HeldOutScores {
  heldout: { name: string; id: number; images: number; units: number };
  pretrain: { name: string; id: number; images: number; units: number }[];
  frontEnd: string;
  taskDriven: boolean;
  backend: string;
  trainingBackend: string;
  folds: number[][];
  seconds: { features: number; pretrain: number; total: number } & Partial<Record<CrossValidatedModel, number>>;
  training?: { cycles: number; bestCycle: number; validationLoss: number };
  /** The stored pretrained ensemble (with `save`). */
  modelVersionId?: number;
  /** Image keys (SHA-256 of the stimulus) of the held-out session, in the order of `folds`' indices. */
  imageKeys: string[];
  unitNames: string[];
  /** Out-of-fold predictions [image][unit] per model, in response units. */
  predictions: Partial<Record<CrossValidatedModel, Float32Array>>;
  /** Repeat-averaged responses [unit][image]. */
  responses: Float64Array;
}

/** Sessions a lab model can learn from: every session with units and at least 10 presented images. */
export function trainableSessions(store: SessionStore): { id: number; name: string }[] {
  return store
    .listSessions()
    .filter((s) => s.units > 0 && s.presentations >= 10)
    .map((s) => ({ id: s.id, name: s.name }));
}

/** Checks the held-out and pretraining sessions before anything is loaded. */
export function resolveHeldOutSessions(
  store: SessionStore,
  heldout: string,
  pretrain: readonly string[] | undefined,
): { heldoutId: number; pretrainIds: number[] } {
  let heldoutId: number;
  try {
    heldoutId = resolveSession(store, heldout);
  } catch (err) {
    throw new HeldOutError(`--heldout ${heldout}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let pretrainIds: number[];
  if (pretrain === undefined || pretrain.length === 0)
    pretrainIds = trainableSessions(store)
      .map((s) => s.id)
      .filter((id) => id !== heldoutId);
  else {
    pretrainIds = pretrain.map((ref) => {
      try {
        return resolveSession(store, ref);
      } catch (err) {
        throw new HeldOutError(`--pretrain ${ref}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    if (pretrainIds.includes(heldoutId))
      throw new HeldOutError(
        `Session "${heldout}" is both held out and in --pretrain; a held-out session must be one the ensemble ` +
          `never trains on. Leave it out of --pretrain.`,
      );
  }
  pretrainIds = [...new Set(pretrainIds)];
  if (pretrainIds.length === 0)
    throw new HeldOutError(
      `No session to pretrain on: the store holds no session besides "${heldout}" with units and at least 10 ` +
        `images. Import or record another session first.`,
    );
  return { heldoutId, pretrainIds };
}

export async function evaluateHeldOut(store: SessionStore, options: HeldOutOptions): Promise<HeldOutReport> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const seed = options.seed ?? 1;
  const nFolds = options.folds ?? heldOutDefaults.folds;
  if (!Number.isInteger(nFolds) || nFolds < 2)
    throw new HeldOutError(`--folds must be a whole number of at least 2, got ${nFolds}.`);
  const { heldoutId, pretrainIds } = resolveHeldOutSessions(store, options.heldout, options.pretrain);
  const info = await selectBackend({
    prefer: options.backend !== undefined && isBackendName(options.backend) ? options.backend : undefined,
    log,
  });
  const t0 = performance.now();
  const data = await prepareSessions(store, {
    sessions: [...pretrainIds, heldoutId].map(String),
    frontEnd: options.frontEnd,
    imageSize: options.imageSize,
    testFraction: 0,
    seed,
    log,
    featureCache: options.featureCache,
  });
  const featureSeconds = (performance.now() - t0) / 1000;
  const held = data.sessions.find((s) => s.ds.sessionId === heldoutId)!;
  const pretrain = data.sessions.filter((s) => s.ds.sessionId !== heldoutId);
  if (held.ds.images.length < 2 * nFolds) {
    throw new HeldOutError(
      `Held-out session "${held.ds.name}" has ${held.ds.images.length} images, too few for ${nFolds} folds (each ` +
        `fold needs at least 2). Use fewer --folds.`,
    );
  }
  const models = options.models ?? (["ensemble", "skip", "ridge", "factorized"] as const);
  const trainingBackend = await ensureTrainableBackend(log);
  let ensemble: DeepEnsemble | undefined;
  let training: HeldOutReport["training"];
  let pretrainSeconds = 0;
  let modelVersionId: number | undefined;
  try {
    if (models.includes("ensemble") || models.includes("skip")) {
      const t1 = performance.now();
      ensemble = new DeepEnsemble({
        ...defaultEnsembleConfig,
        members: options.members ?? heldOutDefaults.members,
        width: options.width ?? heldOutDefaults.width,
        blocks: options.blocks ?? heldOutDefaults.blocks,
        inputShape: data.featureShape,
        seed,
        ...featureStandardization(pretrain, data.featureShape),
      });
      log(
        `pretraining ${ensemble.config.members} members on ${pretrain.length} session(s): ` +
          `${pretrain.map((s) => `${s.ds.name} (${s.ds.images.length} images, ${s.units} units)`).join(", ")}`,
      );
      const result = await trainEnsemble(ensemble, pretrain, {
        maxCycles: options.maxCycles ?? heldOutDefaults.maxCycles,
        schedule: "interleaved",
        batchSize: heldOutDefaults.batchSize,
        learningRate: options.learningRate ?? heldOutDefaults.learningRate,
        patience: options.patience ?? heldOutDefaults.patience,
        readoutL2: options.readoutL2 ?? heldOutDefaults.readoutL2,
        stopOn: "loss",
        seed,
        signal: options.signal,
        onProgress: (p) => {
          if (p.validation !== undefined)
            log(`cycle ${p.cycle}/${p.maxCycles}: ${validationText(p.validationLoss, p.validation)}`);
        },
      });
      if (result.cancelled) throw new HeldOutError("Pretraining was cancelled.");
      pretrainSeconds = (performance.now() - t1) / 1000;
      training = { cycles: result.cycles, bestCycle: result.bestCycle, validationLoss: result.bestValidationLoss };
      log(
        `pretrained: ${result.cycles} cycle(s), best ${result.bestCycle} (` +
          `${validationText(result.bestValidationLoss, result.bestValidation)}) in ${pretrainSeconds.toFixed(1)} s ` +
          `on ${trainingBackend}`,
      );
      if (options.save) {
        modelVersionId = store.putModelVersion({
          name: `deep-ensemble pretrained on ${pretrain.map((s) => s.ds.name).join("+")} (held out: ${held.ds.name})`,
          kind: "deep-ensemble",
          metrics: {
            pretrainSeconds,
            cycles: result.cycles,
            bestCycle: result.bestCycle,
            validationLoss: result.bestValidationLoss,
          },
          config: {
            ...ensemble.config,
            frontEnd: data.frontEndName,
            frontEndSpec: { ...options.frontEnd, log: undefined },
            imageSize: options.imageSize ?? 112,
            taskDriven: data.taskDriven,
            seed,
            targetStats: targetStatsOf(pretrain),
          },
          checkpoint: await saveEnsemble(ensemble, data.frontEndName, { pretrainedFor: held.ds.name }),
          sessionIds: pretrain.map((s) => s.ds.sessionId),
        });
        log(`stored the pretrained ensemble as model version ${modelVersionId}`);
      }
    }
    // The folds depend on the held-out session's identity and the seed only.
    const folds = kFolds(held.ds.images.length, nFolds, stableSeed(sessionIdentity(held.ds), seed));
    const cv = await crossValidateSession(
      ensemble,
      {
        key: held.key,
        features: held.features,
        shape: data.featureShape,
        responses: held.raw,
        units: held.units,
        images: held.ds.images.length,
        usable: held.ds.usable,
      },
      folds,
      {
        models,
        readoutL2: options.readoutL2 ?? heldOutDefaults.readoutL2,
        readoutSteps: options.readoutSteps,
        seed,
        signal: options.signal,
        onFold: (f, n, d) =>
          log(
            `fold ${f}/${n}: ` +
              `${
                d.readoutSteps !== undefined
                  ? `readout ${d.readoutSteps} steps in ` + `${d.readoutSeconds!.toFixed(1)} s`
                  : ""
              }${d.factorizedSteps !== undefined ? `, factorized ` + `${d.factorizedSteps} steps` : ""}`,
          ),
      },
    );
    const scores = scoreHeldOut(held, cv.predictions);
    return {
      ...scores,
      heldout: describe(held),
      pretrain: pretrain.map(describe),
      frontEnd: data.frontEndName,
      taskDriven: data.taskDriven,
      backend: info.name,
      trainingBackend,
      folds,
      seconds: {
        features: featureSeconds,
        pretrain: pretrainSeconds,
        total: (performance.now() - started) / 1000,
        ...cv.seconds,
      },
      training,
      modelVersionId,
      imageKeys: held.ds.imageKeys,
      unitNames: held.ds.unitNames,
      predictions: cv.predictions,
      responses: held.raw,
    };
  } finally {
    ensemble?.dispose();
  }
}

function describe(s: PreparedSession): { name: string; id: number; images: number; units: number } {
  return { name: s.ds.name, id: s.ds.sessionId, images: s.ds.images.length, units: s.units };
}
