// A new session's readout against a frozen lab model: seconds, not a retrain. The cores stay as
// they are; only the session's factorized readout is fitted (early stopping on a slice of its
// images), and the result is stored as a new model version whose parent is the frozen one, so a
// model of the day's neurons exists before the next session starts.
import { selectBackend } from "../../models/backend.js";
import { median } from "../../models/metrics/r2er.js";
import {
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
  readoutL2?: number;
  /** Most fitting steps; early stopping on 15% of the session's images usually ends sooner. */
  steps?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface NewSessionReadout {
  modelVersionId: number;
  sessionName: string;
  units: number;
  images: number;
  /** Median over units of the score on the images kept aside for early stopping (r²_ER with repeats, else raw R²). */
  validationMedian: number;
  metric: "r2er" | "r2raw";
  steps: number;
  seconds: { features: number; fit: number };
}

export async function fitNewSessionReadout(
  store: SessionStore,
  options: NewSessionReadoutOptions,
): Promise<NewSessionReadout> {
  const log = options.log ?? (() => {});
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
    const fit = await refitReadoutsWithReport(ensemble, s, {
      reset: true,
      validate: true,
      steps: options.steps ?? 2000,
      evaluateEvery: 25,
      patience: 6,
      readoutL2: options.readoutL2 ?? 1e-2,
      seed,
    });
    const fitSeconds = (performance.now() - t1) / 1000;
    const scored = scoreUnits(predictSession(ensemble, s, s.valIdx), s, s.valIdx);
    const validationMedian = median(scored.scores);
    const targetStats: TargetStatsRecord = {
      ...((version.config.targetStats as TargetStatsRecord | undefined) ?? {}),
      [s.key]: s.targetStats,
    };
    const id = store.putModelVersion({
      name: `${version.name} + readout of ${s.ds.name}`,
      kind: "deep-ensemble",
      parentId: options.modelVersionId,
      metrics: {
        ...version.metrics,
        newReadout: {
          session: s.ds.name,
          sessionId,
          metric: scored.metric,
          validationMedian,
          validationImages: s.valIdx.length,
          steps: fit.steps,
          fitSeconds,
        },
      },
      config: { ...version.config, targetStats },
      checkpoint: await saveEnsemble(ensemble, frontEnd, {
        ...meta,
        readoutOf: s.ds.name,
        parent: options.modelVersionId,
      }),
      sessionIds: [...new Set([...version.sessionIds, sessionId])],
    });
    log(
      `readout of ${s.ds.name}: ${s.units} units on ${s.trainIdx.length} images in ${fitSeconds.toFixed(1)} s (` +
        `${fit.steps} steps; features ${features.toFixed(1)} s); validation median ` +
        `${scored.metric === "r2er" ? "r²_ER" : "raw R²"} ${validationMedian.toFixed(3)} on ${s.valIdx.length} ` +
        `images`,
    );
    return {
      modelVersionId: id,
      sessionName: s.ds.name,
      units: s.units,
      images: s.ds.images.length,
      validationMedian,
      metric: scored.metric,
      steps: fit.steps,
      seconds: { features, fit: fitSeconds },
    };
  } finally {
    ensemble.dispose();
  }
}
