// The first thing after a session: the new session's readout against the frozen model of the
// session before (cores unchanged, seconds), so a model of the day's neurons exists before the
// full retrain; the same path as `cortexloop readout` (a skip readout by default, or a factorized one).
import {
  fitSkipReadout,
  loadEnsemble,
  predictSession,
  refitReadoutsWithReport,
  saveEnsemble,
  scoreUnits,
  type DeepEnsemble,
  type TrainingSession,
} from "../../models/ensemble/index.js";
import { median } from "../../models/metrics/r2er.js";
import type { SessionStore } from "../store/index.js";
import type { SessionTrainingData } from "./dataset-from-session.js";

export interface ReadoutFirstPoint {
  /** Median over units on the newest session's test images (r²_ER with repeats), cores frozen. */
  r2er: number;
  seconds: number;
  steps: number;
  modelVersionId: number;
}

/**
 * A campaign session's skip readout on the ensemble's cores as they are, fitted on its training and
 * validation images (the ridge chooses λ by inner cross-validation, so it needs no images kept aside); the
 * test images stay out.
 */
export async function fitCampaignSkipReadout(
  ensemble: DeepEnsemble,
  s: TrainingSession,
  options: { seed: number; signal?: AbortSignal },
): Promise<void> {
  await fitSkipReadout(ensemble, { ...s, trainIdx: [...s.trainIdx, ...s.valIdx] }, options);
}

export async function readoutFirst(
  store: SessionStore,
  previous: { checkpoint: Uint8Array; modelVersionId: number | null },
  newest: SessionTrainingData,
  info: {
    label: string;
    afterSession: number;
    /** "skip" (a ridge, as `cortexloop readout` fits by default) or "factorized". */
    kind: "skip" | "factorized";
    readoutL2: number;
    seed: number;
    sessionIds: number[];
    config: Record<string, unknown>;
  },
): Promise<ReadoutFirstPoint> {
  const t0 = performance.now();
  const { ensemble, frontEnd, meta } = loadEnsemble(
    previous.checkpoint,
    `${info.label} model before session ${info.afterSession}`,
  );
  try {
    const s = newest.session;
    let steps = 0;
    if (info.kind === "skip") {
      await fitCampaignSkipReadout(ensemble, s, { seed: info.seed });
    } else {
      // A factorized readout is wanted; a skip readout of the session would shadow the new one.
      ensemble.dropSkipReadout(s.key);
      // A session already known (a pooled readout) starts from its readout; a new one from scratch.
      const fit = await refitReadoutsWithReport(ensemble, s, {
        reset: !ensemble.readouts.has(s.key),
        validate: true,
        steps: 2000,
        evaluateEvery: 25,
        patience: 6,
        readoutL2: info.readoutL2,
        seed: info.seed,
      });
      steps = fit.steps;
    }
    const seconds = (performance.now() - t0) / 1000;
    const scored = scoreUnits(predictSession(ensemble, s, newest.testIdx), s, newest.testIdx);
    const r2er = median(scored.scores);
    const modelVersionId = store.putModelVersion({
      name: `${info.label} readout of session ${info.afterSession} on the frozen model`,
      kind: "deep-ensemble",
      parentId: previous.modelVersionId,
      metrics: {
        r2er,
        r2erMetric: scored.metric,
        r2erPerUnit: scored.scores,
        readoutFirst: true,
        readout: info.kind,
        steps,
        fitSeconds: seconds,
      },
      config: { ...info.config, readoutFirst: true },
      checkpoint: await saveEnsemble(ensemble, frontEnd, { ...meta, readoutOfSession: info.afterSession }),
      sessionIds: info.sessionIds,
    });
    return { r2er, seconds, steps, modelVersionId };
  } finally {
    ensemble.dispose();
  }
}
