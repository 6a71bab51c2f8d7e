// Retraining job: trains the deep ensemble across sessions, checkpointing each cycle as a model
// version and a job event, so a cancelled or crashed job resumes from its last checkpoint.
import {
  DeepEnsemble,
  defaultEnsembleConfig,
  featureStandardization,
  loadEnsemble,
  saveEnsemble,
  trainEnsemble,
} from "../../models/ensemble/index.js";
import { selectBackend, isBackendName } from "../../models/backend.js";
import type { FrontEndSpec } from "../../models/frontend/index.js";
import type { SessionStore } from "../store/index.js";
import { ensureTrainableBackend, prepareSessions, targetStatsOf } from "./prepare.js";

/** Everything a retraining job needs; JSON, stored as the job's params. */
export interface RetrainParams {
  sessions: string[];
  frontEnd: Omit<FrontEndSpec, "log">;
  members?: number;
  width?: number;
  blocks?: number;
  maxCycles?: number;
  patience?: number;
  seed?: number;
  imageSize?: number;
  backend?: string;
  /**
   * Continue from this model version's weights (e.g. the lab model with a new session's readout) instead of random
   * ones.
   */
  warmStartFrom?: number;
}

export type JobMessage =
  | { type: "log"; line: string }
  | {
      type: "progress";
      cycle: number;
      maxCycles: number;
      session: string;
      loss: number;
      validation?: number;
      validationLoss?: number;
    }
  | { type: "checkpoint"; cycle: number; modelVersionId: number }
  | { type: "done"; modelVersionId: number; cycles: number; bestValidation: number }
  | { type: "cancelled"; lastCheckpoint?: number }
  | { type: "failed"; message: string };

interface CheckpointDetail {
  modelVersionId: number;
  cycle: number;
}

/** The last checkpoint a job recorded, if any. */
export function lastCheckpoint(store: SessionStore, jobId: number): CheckpointDetail | undefined {
  const events = store.jobEvents(jobId).filter((e) => e.state === "checkpoint" && e.detail !== null);
  const last = events[events.length - 1];
  return last === undefined ? undefined : (JSON.parse(last.detail!) as CheckpointDetail);
}

/**
 * Runs (or resumes) job `jobId` in this thread. Its params are read from the jobs table; if it
 * has a checkpoint, training continues from it at the next cycle.
 */
export async function runRetrainJob(
  store: SessionStore,
  jobId: number,
  io: { signal?: AbortSignal; emit: (m: JobMessage) => void },
): Promise<JobMessage> {
  const job = store.getJob(jobId);
  if (job === undefined) throw new Error(`runRetrainJob: no job ${jobId} in ${store.file}`);
  const params = job.params as unknown as RetrainParams;
  const log = (line: string): void => io.emit({ type: "log", line });
  try {
    store.appendJobEvent(jobId, "running", 0);
    const seed = params.seed ?? 1;
    await selectBackend({
      prefer: params.backend !== undefined && isBackendName(params.backend) ? params.backend : undefined,
      log,
    });
    const data = await prepareSessions(store, {
      sessions: params.sessions,
      frontEnd: params.frontEnd,
      imageSize: params.imageSize,
      seed,
      log,
    });
    const trainingBackend = await ensureTrainableBackend(log);
    const resume = lastCheckpoint(store, jobId);
    let ensemble: DeepEnsemble;
    let parentId: number | null = null;
    if (resume !== undefined) {
      const bytes = store.modelCheckpoint(resume.modelVersionId);
      if (bytes === undefined)
        throw new Error(`job ${jobId}: checkpoint model version ${resume.modelVersionId} has no weights`);
      const loaded = loadEnsemble(bytes, `model version ${resume.modelVersionId}`);
      if (loaded.frontEnd !== data.frontEndName)
        throw new Error(
          `job ${jobId}: checkpoint was trained on front end ${loaded.frontEnd}, this run has ${data.frontEndName}`,
        );
      ensemble = loaded.ensemble;
      parentId = resume.modelVersionId;
      log(`resuming job ${jobId} from model version ${resume.modelVersionId} after cycle ${resume.cycle}`);
    } else if (params.warmStartFrom !== undefined) {
      const bytes = store.modelCheckpoint(params.warmStartFrom);
      if (bytes === undefined)
        throw new Error(`job ${jobId}: model version ${params.warmStartFrom} to start from has no weights`);
      const loaded = loadEnsemble(bytes, `model version ${params.warmStartFrom}`);
      if (loaded.frontEnd !== data.frontEndName)
        throw new Error(
          `job ${jobId}: model version ${params.warmStartFrom} was trained on front end ${loaded.frontEnd}, this ` +
            `run has ${data.frontEndName}`,
        );
      ensemble = loaded.ensemble;
      parentId = params.warmStartFrom;
      log(`starting from model version ${params.warmStartFrom}'s weights`);
      // Skip readouts read the cores as they were; training moves the cores, so they go (refit them after).
      const skips = [...ensemble.skipReadouts.keys()];
      if (skips.length > 0) {
        ensemble.dropSkipReadouts();
        log(`the skip readouts of ${skips.join(", ")} are dropped (the cores will move); fit them again after`);
      }
    } else {
      ensemble = new DeepEnsemble({
        ...defaultEnsembleConfig,
        members: params.members ?? 4,
        width: params.width ?? 32,
        blocks: params.blocks ?? 2,
        inputShape: data.featureShape,
        seed,
        ...featureStandardization(data.sessions, data.featureShape),
      });
    }
    const maxCycles = params.maxCycles ?? 8;
    try {
      const result = await trainEnsemble(ensemble, data.sessions, {
        maxCycles,
        startCycle: (resume?.cycle ?? 0) + 1,
        schedule: "interleaved",
        batchSize: 64,
        patience: params.patience ?? 3,
        learningRate: 3e-3,
        seed: seed + (resume?.cycle ?? 0),
        signal: io.signal,
        onProgress: (p) => {
          io.emit({ type: "progress", ...p });
          store.appendJobEvent(jobId, "progress", p.cycle / maxCycles, JSON.stringify(p));
        },
        onCycleEnd: async (cycle, validation) => {
          const checkpoint = await saveEnsemble(ensemble, data.frontEndName, { jobId, cycle });
          parentId = store.putModelVersion({
            name: `retrain job ${jobId} cycle ${cycle}`,
            kind: "deep-ensemble-checkpoint",
            parentId,
            metrics: { cycle, validation },
            config: {
              ...ensemble.config,
              frontEnd: data.frontEndName,
              frontEndSpec: params.frontEnd,
              imageSize: params.imageSize ?? 112,
              trainingBackend,
              targetStats: targetStatsOf(data.sessions),
            },
            checkpoint,
            sessionIds: data.ids,
          });
          store.appendJobEvent(
            jobId,
            "checkpoint",
            cycle / maxCycles,
            JSON.stringify({ modelVersionId: parentId, cycle } satisfies CheckpointDetail),
          );
          io.emit({ type: "checkpoint", cycle, modelVersionId: parentId });
        },
      });
      if (result.cancelled) {
        store.appendJobEvent(
          jobId,
          "cancelled",
          undefined,
          `cancelled in cycle ${result.cycles + (resume?.cycle ?? 0) + 1}; resume from the last checkpoint`,
        );
        const m: JobMessage = { type: "cancelled", lastCheckpoint: parentId ?? undefined };
        io.emit(m);
        return m;
      }
      const final = store.putModelVersion({
        name: `deep-ensemble (job ${jobId})`,
        kind: "deep-ensemble",
        parentId,
        metrics: { bestValidation: result.bestValidation, bestCycle: result.bestCycle },
        config: {
          ...ensemble.config,
          frontEnd: data.frontEndName,
          frontEndSpec: params.frontEnd,
          imageSize: params.imageSize ?? 112,
          trainingBackend,
          targetStats: targetStatsOf(data.sessions),
        },
        checkpoint: await saveEnsemble(ensemble, data.frontEndName, { jobId, bestCycle: result.bestCycle }),
        sessionIds: data.ids,
      });
      store.appendJobEvent(jobId, "done", 1, JSON.stringify({ modelVersionId: final }));
      const m: JobMessage = {
        type: "done",
        modelVersionId: final,
        cycles: result.cycles,
        bestValidation: result.bestValidation,
      };
      io.emit(m);
      return m;
    } finally {
      ensemble.dispose();
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    store.appendJobEvent(jobId, "failed", undefined, message);
    const m: JobMessage = { type: "failed", message };
    io.emit(m);
    return m;
  }
}
