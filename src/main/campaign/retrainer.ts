// Retraining: after each session, the deep ensemble on every session so far (readout first, then
// the full retrain), scored on the held-out test images and stored as a model version.
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs";
import {
  DeepEnsemble,
  featureStandardization,
  loadEnsemble,
  median,
  predictSession,
  r2Raw,
  saveEnsemble,
  scoreUnits,
  trainEnsemble,
  validationText,
  type EnsembleConfig,
} from "../../models/index.js";
import { sessionTrainingData, type SessionTrainingData } from "./dataset-from-session.js";
import type { CampaignImages } from "./images.js";
import { campaignTrainingDefaults } from "./defaults.js";
import { fitCampaignSkipReadout, readoutFirst, type ReadoutFirstPoint } from "./readout-first.js";
import { fmt, secondsSince as seconds } from "./report.js";
import type { ArmState, CampaignOptions, CurvePoint, TrainedModel, TrueRates } from "./types.js";

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

export class Retrainer {
  constructor(
    private readonly options: CampaignOptions,
    private readonly images: CampaignImages,
    private readonly log: (line: string) => void,
  ) {}

  /** The model version the study trained after this session before it was stopped, loaded again. */
  async retrainedBefore(arm: ArmState): Promise<TrainedModel | undefined> {
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

  /**
   * Retrains on every session so far, from the previous model version's weights (warm start) or from
   * random weights; scores held-out r²_ER; stores the model version.
   */
  async retrain(arm: ArmState, previous?: Uint8Array): Promise<TrainedModel> {
    const o = this.options;
    const t = o.training;
    const sets = await this.trainingSets(arm);
    const sessions = sets.map((s) => s.data.session);
    const warm = previous !== undefined && (t.warmStart ?? true);
    // Warm start keeps the previous feature standardization: the weights were learned on it.
    const ensemble = warm
      ? withoutSkipReadouts(loadEnsemble(previous, `${arm.label} previous model version`).ensemble)
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
          kind: t.readout ?? campaignTrainingDefaults.readout,
          readoutL2: t.readoutL2 ?? 0,
          seed: o.seed,
          sessionIds: arm.sessions.map((s) => s.sessionId),
          config: {
            ...config,
            frontEnd: o.frontEnd.name,
            frontEndSpec: o.frontEndSpec,
            imageSize: this.images.size,
            campaign: o.name,
            testHashes: this.images.testHashes,
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
      schedule: t.schedule ?? campaignTrainingDefaults.schedule,
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
    const skipSeconds =
      (t.readout ?? campaignTrainingDefaults.readout) === "skip"
        ? await this.skipReadouts(ensemble, sets, arm.label)
        : 0;
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
        testImages: this.images.testHashes.length,
        testRepeats: o.testRepeats * (pooled ? arm.sessions.length : 1),
        trainSeconds,
        readout: t.readout ?? campaignTrainingDefaults.readout,
        ...(skipSeconds > 0 ? { skipReadoutSeconds: skipSeconds } : {}),
        cycles: result.cycles,
        bestCycle: result.bestCycle,
        bestValidation: result.bestValidation,
      },
      config: {
        ...config,
        frontEnd: o.frontEnd.name,
        frontEndSpec: o.frontEndSpec,
        imageSize: this.images.size,
        training: t,
        warmStart: warm,
        selection: arm.selection,
        campaign: o.name,
        testHashes: this.images.testHashes,
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
      ? `${this.images.testHashes.length} test images × ${o.testRepeats} repeats × ${arm.sessions.length} session` +
        `${arm.sessions.length === 1 ? "" : "s"}, one readout pooled over the sessions`
      : `${this.images.testHashes.length} test images × ${o.testRepeats} repeats`;
    const units = newest.perUnit.filter((v) => !Number.isNaN(v)).length;
    this.log(
      `${arm.label}: after session ${after}: held-out r²_ER median ${fmt(newest.median)} (${how}, ${units} units` +
        `${pooled ? "" : `; per session ${perSession.map((p) => fmt(p.median)).join(", ")}`})` +
        `${
          truth === undefined
            ? ""
            : `; against the true rates of ${o.truth!.images.length} unseen pictures ` + `${fmt(truth.median)}`
        }, ${imagesShown} training images shown; trained ${result.cycles} cycles in ` +
        `${trainSeconds.toFixed(1)} s; model version ${modelVersionId}`,
    );
    await this.compactStep(arm, point, after);
    return { ensemble, point, seconds: trainSeconds, checkpoint };
  }

  /**
   * Every session's skip readout on the retrained cores (its training and validation images; the test images
   * stay out), each with the other sessions' predictions as its population block. Returns the seconds taken.
   */
  private async skipReadouts(
    ensemble: DeepEnsemble,
    sets: readonly { data: SessionTrainingData }[],
    label: string,
  ): Promise<number> {
    const t0 = performance.now();
    for (const { data } of sets)
      await fitCampaignSkipReadout(ensemble, data.session, { seed: this.options.seed, signal: this.options.signal });
    const took = seconds(t0);
    this.log(`${label}: skip readouts of ${sets.length} session(s) on the retrained cores in ${took.toFixed(1)} s`);
    return took;
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
      testHashes: this.images.testHashes,
      signal: o.signal,
    });
    if (compact !== undefined) {
      point.compact = compact;
      o.journal?.noteCompact(after, compact);
    }
  }

  /** The newest readout's predictions for the truth's pictures, scored against the true rates. */
  private async trueRateScore(
    ensemble: DeepEnsemble,
    data: SessionTrainingData,
  ): Promise<{ median: number; perUnit: number[] }> {
    const truth = this.options.truth!;
    const keys = truth.images.map((_, i) => `truth:${i}`);
    const features = await this.images.featuresFor(
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
      {
        key: "pooled",
        heldOut: new Set(this.images.testHashes),
        features: this.images.storedFeatures,
        seed: o.seed + 1,
      },
    );
    return [{ number: newest.number, sessionId: newest.sessionId, data }];
  }
}

/** Skip readouts read the cores as they were; a warm-started retrain moves the cores, so they go. */
function withoutSkipReadouts(ensemble: DeepEnsemble): DeepEnsemble {
  ensemble.dropSkipReadouts();
  return ensemble;
}
