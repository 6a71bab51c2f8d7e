// A new session's readout against a frozen lab model: seconds, not a retrain. The cores stay as
// they are; only the session's readout is fitted, and the result is stored as a new model version
// whose parent is the frozen one, so a model of the day's neurons exists before the next session
// starts. The default is the skip readout (a ridge over the front end's features, the cores' outputs
// and the other sessions' predicted responses, see src/models/ensemble/skip.ts), which beat the
// factorized readout on every held-out session tried; "factorized" fits the readout the cores were
// trained with (early stopping on a slice of the session's images).
import { selectBackend } from "../../models/backend.js";
import { median } from "../../models/metrics/r2er.js";
import {
  fitSkipReadout,
  loadEnsemble,
  predictSession,
  refitReadoutsWithReport,
  saveEnsemble,
  scoreUnits,
} from "../../models/ensemble/index.js";
import type { FrontEndSpec } from "../../models/frontend/index.js";
import type { SessionStore } from "../store/index.js";
import { resolveSession } from "../import/dataset.js";
import { ensureTrainableBackend, prepareSessions, type TargetStatsRecord } from "./prepare.js";

export class ReadoutError extends Error {
  readonly code = "readout-input";
  constructor(message: string) {
    super(`${message} Nothing was stored.`);
    this.name = "ReadoutError";
  }
}

export interface NewSessionReadoutOptions {
  modelVersionId: number;
  session: string;
  /** "skip" (default) or "factorized". */
  kind?: NewReadoutKind;
  /** Factorized: L2 penalty of the readout. */
  readoutL2?: number;
  /** Factorized: most fitting steps; early stopping on 15% of the session's images usually ends sooner. */
  steps?: number;
  seed?: number;
  log?: (line: string) => void;
}

export type NewReadoutKind = "skip" | "factorized";

export interface NewSessionReadout {
  modelVersionId: number;
  kind: NewReadoutKind;
  sessionName: string;
  units: number;
  images: number;
  /** Median over units of the score on the images kept aside for early stopping (r²_ER with repeats, else raw R²). */
  validationMedian: number;
  metric: "r2er" | "r2raw";
  /** Optimizer steps kept (factorized); 0 for a skip readout (a ridge, solved in closed form). */
  steps: number;
  /**
   * The version's predictions of the images kept aside ([validationIdx.length, units], z-scored as the
   * targets are), with those images' indices in the session (store order).
   */
  validation: { idx: number[]; predictions: Float32Array };
  seconds: { features: number; fit: number };
}

export async function fitNewSessionReadout(
  store: SessionStore,
  options: NewSessionReadoutOptions,
): Promise<NewSessionReadout> {
  const log = options.log ?? (() => {});
  const kind = options.kind ?? "skip";
  if (kind !== "skip" && kind !== "factorized")
    throw new ReadoutError(`Readout kind "${String(kind)}" is not one of skip, factorized.`);
  const version = store.getModelVersion(options.modelVersionId);
  if (version === undefined)
    throw new ReadoutError(
      `Model version ${options.modelVersionId} does not exist in ${store.file}; run \`cortexloop models\` to list ` +
        `them.`,
    );
  if (version.kind !== "deep-ensemble" || version.checkpoint === null)
    throw new ReadoutError(
      `Model version ${options.modelVersionId} is a ${version.kind}` +
        `${version.checkpoint === null ? " without weights" : ""}; a readout is fitted against a deep ensemble.`,
    );
  const spec = version.config.frontEndSpec as FrontEndSpec | undefined;
  if (spec === undefined)
    throw new ReadoutError(
      `Model version ${options.modelVersionId} does not record its front end (frontEndSpec); retrain it with this ` +
        `cortexloop.`,
    );
  let sessionId: number;
  try {
    sessionId = resolveSession(store, options.session);
  } catch (err) {
    throw new ReadoutError(err instanceof Error ? err.message : String(err));
  }
  const imageSize = typeof version.config.imageSize === "number" ? version.config.imageSize : 112;
  const seed = options.seed ?? 1;
  await selectBackend({ log });
  const t0 = performance.now();
  const data = await prepareSessions(store, {
    sessions: [String(sessionId)],
    frontEnd: spec,
    imageSize,
    testFraction: 0,
    seed,
    log,
  });
  const features = (performance.now() - t0) / 1000;
  await ensureTrainableBackend(log);
  const { ensemble, frontEnd, meta } = loadEnsemble(version.checkpoint, `model version ${options.modelVersionId}`);
  try {
    if (frontEnd !== data.frontEndName)
      throw new ReadoutError(
        `Model version ${options.modelVersionId} was trained on front end ${frontEnd} but ${data.frontEndName} ` +
          `loaded here.`,
      );
    const s = data.sessions[0]!;
    const t1 = performance.now();
    let steps = 0;
    if (kind === "skip") {
      const fit = await fitSkipReadout(ensemble, s, { seed });
      const sec = fit.seconds;
      log(
        `skip readout: ${ensemble.cores.length} members, population ${fit.readout.population.length} sessions ` +
          `(${fit.readout.population.reduce((n, p) => n + p.units, 0)} units); ${fit.candidates} weighting and λ ` +
          `pairs chosen; blocks ${sec.blocks.toFixed(1)} s, choice ${sec.choice.toFixed(1)} s, members ` +
          `${sec.members.toFixed(1)} s`,
      );
    } else {
      const fit = await refitReadoutsWithReport(ensemble, s, {
        reset: true,
        validate: true,
        steps: options.steps ?? 2000,
        evaluateEvery: 25,
        patience: 6,
        readoutL2: options.readoutL2 ?? 1e-2,
        seed,
      });
      steps = fit.steps;
    }
    const fitSeconds = (performance.now() - t1) / 1000;
    const validation = predictSession(ensemble, s, s.valIdx);
    const scored = scoreUnits(validation, s, s.valIdx);
    const validationMedian = median(scored.scores);
    const targetStats: TargetStatsRecord = {
      ...((version.config.targetStats as TargetStatsRecord | undefined) ?? {}),
      [s.key]: s.targetStats,
    };
    const id = store.putModelVersion({
      name: `${version.name} + ${kind} readout of ${s.ds.name}`,
      kind: "deep-ensemble",
      parentId: options.modelVersionId,
      metrics: {
        ...version.metrics,
        newReadout: {
          session: s.ds.name,
          sessionId,
          kind,
          metric: scored.metric,
          validationMedian,
          validationImages: s.valIdx.length,
          steps,
          fitSeconds,
        },
      },
      config: { ...version.config, targetStats },
      checkpoint: await saveEnsemble(ensemble, frontEnd, {
        ...meta,
        readoutOf: s.ds.name,
        readoutKind: kind,
        parent: options.modelVersionId,
      }),
      sessionIds: [...new Set([...version.sessionIds, sessionId])],
    });
    log(
      `${kind} readout of ${s.ds.name}: ${s.units} units on ${s.trainIdx.length} images in ` +
        `${fitSeconds.toFixed(1)} s (${kind === "skip" ? "ridge" : `${steps} steps`}; features ` +
        `${features.toFixed(1)} s); validation median ` +
        `${scored.metric === "r2er" ? "r²_ER" : "raw R²"} ${validationMedian.toFixed(3)} on ${s.valIdx.length} ` +
        `images`,
    );
    return {
      modelVersionId: id,
      kind,
      sessionName: s.ds.name,
      units: s.units,
      images: s.ds.images.length,
      validationMedian,
      metric: scored.metric,
      steps,
      validation: { idx: [...s.valIdx], predictions: validation },
      seconds: { features, fit: fitSeconds },
    };
  } finally {
    ensemble.dispose();
  }
}
