// Evaluation: train the deep ensemble across sessions, fit each session's readout on part of its
// images, and report accuracy on the rest, next to a ridge-regression baseline on the same features.
import { selectBackend } from "../../models/backend.js";
import { median } from "../../models/metrics/r2er.js";
import {
  DeepEnsemble,
  defaultEnsembleConfig,
  featureStandardization,
  fitReadout,
  predictSession,
  ridgeFit,
  saveEnsemble,
  scoreUnits,
  trainEnsemble,
  validationText,
} from "../../models/ensemble/index.js";
import type { FrontEndSpec } from "../../models/frontend/index.js";
import type { SessionStore } from "../store/index.js";
import { ensureTrainableBackend, prepareSessions, targetStatsOf } from "./prepare.js";
import { resolveSession } from "../import/dataset.js";

/** Settings that beat the ridge baseline on all four WE sessions (README); the command line shows them. */
export const evaluateDefaults = { members: 8, maxCycles: 30, patience: 4, stopOn: "loss", minCycles: 1 } as const;

export interface EvaluateOptions {
  sessions: string[];
  frontEnd: FrontEndSpec;
  members?: number;
  width?: number;
  blocks?: number;
  maxCycles?: number;
  readoutSteps?: number;
  learningRate?: number;
  /** Cycles without a better validation score before training stops (default evaluateDefaults.patience). */
  patience?: number;
  /** What early stopping watches on the validation images: "loss" (default) or "median" (TrainOptions.stopOn). */
  stopOn?: "loss" | "median";
  /** Train at least this many cycles before early stopping may end training. */
  minCycles?: number;
  /** Early stopping watches this session's validation images only (name or id; default: all). */
  validationSession?: string;
  testFraction?: number;
  seed?: number;
  /** Side the stored images are resized to before the front end (default 112, as recorded). */
  imageSize?: number;
  /** Store the trained ensemble as a model version. */
  save?: boolean;
  backend?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface SessionEvaluation {
  session: string;
  sessionId: number;
  units: number;
  usableUnits: number;
  trainImages: number;
  testImages: number;
  metric: "r2er" | "r2raw";
  ensembleMedian: number;
  ridgeMedian: number;
  ensembleScores: number[];
  ridgeScores: number[];
}

export interface EvaluationReport {
  backend: string;
  trainingBackend: string;
  frontEnd: string;
  taskDriven: boolean;
  sessions: SessionEvaluation[];
  modelVersionId?: number;
  seconds: number;
}

export async function evaluateSessions(store: SessionStore, options: EvaluateOptions): Promise<EvaluationReport> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const seed = options.seed ?? 1;
  const info = await selectBackend({
    prefer:
      options.backend === undefined ? undefined : (options.backend as "wasm" | "cpu" | "tfjs-node" | "tfjs-node-gpu"),
    log,
  });
  const { ids, sessions, featureShape, frontEndName, taskDriven } = await prepareSessions(store, {
    sessions: options.sessions,
    frontEnd: options.frontEnd,
    imageSize: options.imageSize,
    testFraction: options.testFraction,
    seed,
    log,
  });

  // Baseline first (plain JS + matMul): ridge on flattened features, λ per unit by 3-fold CV.
  const ridgeScores = new Map<string, { scores: number[]; metric: "r2er" | "r2raw" }>();
  for (const s of sessions) {
    const t0 = Date.now();
    const model = ridgeFit(s.features, s.ds.images.length, s.targets, s.units, s.fitIdx, { seed });
    ridgeScores.set(s.key, scoreUnits(model.predict(s.features, s.testIdx), s, s.testIdx));
    model.dispose();
    log(`ridge ${s.ds.name}: fitted on ${s.fitIdx.length} images in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  const trainingBackend = await ensureTrainableBackend(log);
  const ensemble = new DeepEnsemble({
    ...defaultEnsembleConfig,
    members: options.members ?? evaluateDefaults.members,
    width: options.width ?? defaultEnsembleConfig.width,
    blocks: options.blocks ?? defaultEnsembleConfig.blocks,
    inputShape: featureShape,
    seed,
    ...featureStandardization(sessions, featureShape),
  });
  try {
    const t0 = Date.now();
    const stopOn = options.stopOn ?? evaluateDefaults.stopOn;
    const result = await trainEnsemble(ensemble, sessions, {
      maxCycles: options.maxCycles ?? evaluateDefaults.maxCycles,
      schedule: "interleaved",
      batchSize: 64,
      learningRate: options.learningRate ?? 3e-3,
      patience: options.patience ?? evaluateDefaults.patience,
      stopOn,
      minCycles: options.minCycles ?? evaluateDefaults.minCycles,
      validationSession:
        options.validationSession === undefined ? undefined : String(resolveSession(store, options.validationSession)),
      seed,
      signal: options.signal,
      onProgress: (p) => {
        if (p.validation !== undefined)
          log(`cycle ${p.cycle}/${p.maxCycles}: ${validationText(p.validationLoss, p.validation)}`);
      },
    });
    log(
      `ensemble: ${result.cycles} cycle(s), best ${result.bestCycle} (` +
        `${validationText(result.bestValidationLoss, result.bestValidation)}; stopping on ${stopOn})` +
        `${result.cancelled ? ", cancelled" : ""} in ${((Date.now() - t0) / 1000).toFixed(1)} s on ` +
        `${trainingBackend}`,
    );
    const out: SessionEvaluation[] = [];
    for (const s of sessions) {
      // Evaluation readout: fresh, fitted with every core frozen on all of the session's training images.
      const fitSession = { ...s, trainIdx: s.fitIdx };
      await fitReadout(ensemble, fitSession, { steps: options.readoutSteps ?? 300, seed });
      const ens = scoreUnits(predictSession(ensemble, s, s.testIdx), s, s.testIdx);
      const ridge = ridgeScores.get(s.key)!;
      out.push({
        session: s.ds.name,
        sessionId: s.ds.sessionId,
        units: s.units,
        usableUnits: s.ds.usable.filter(Boolean).length,
        trainImages: s.fitIdx.length,
        testImages: s.testIdx.length,
        metric: ens.metric,
        ensembleMedian: median(ens.scores),
        ridgeMedian: median(ridge.scores),
        ensembleScores: ens.scores,
        ridgeScores: ridge.scores,
      });
    }
    let modelVersionId: number | undefined;
    if (options.save) {
      const checkpoint = await saveEnsemble(ensemble, frontEndName, { trainedOn: sessions.map((s) => s.ds.name) });
      modelVersionId = store.putModelVersion({
        name: `deep-ensemble ${sessions.map((s) => s.ds.name).join("+")}`,
        kind: "deep-ensemble",
        metrics: Object.fromEntries(
          out.map((o) => [
            o.session,
            { metric: o.metric, ensembleMedian: o.ensembleMedian, ridgeMedian: o.ridgeMedian },
          ]),
        ),
        config: {
          ...ensemble.config,
          frontEnd: frontEndName,
          frontEndSpec: { ...options.frontEnd, log: undefined },
          imageSize: options.imageSize ?? 112,
          taskDriven,
          seed,
          targetStats: targetStatsOf(sessions),
        },
        checkpoint,
        sessionIds: ids,
      });
    }
    return {
      backend: info.name,
      trainingBackend,
      frontEnd: frontEndName,
      taskDriven,
      sessions: out,
      modelVersionId,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    ensemble.dispose();
  }
}
