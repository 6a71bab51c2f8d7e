import type { SessionStore } from "../store/index.js";
import type { JobMessage, RetrainParams } from "./retrain.js";
import { startJobWorker, watchJobWorker } from "./worker-thread.js";

export interface RetrainHandle {
  jobId: number;
  /** Asks the worker to stop after its current step; it keeps the last checkpoint. */
  cancel(): void;
  /** The job's final message (done, cancelled or failed). */
  done: Promise<JobMessage>;
}

/**
 * Starts a retraining job in a worker thread (never blocking acquisition in this thread). Pass
 * `resumeJobId` to continue a cancelled or crashed job from its last checkpoint.
 */
export function startRetrainJob(
  store: SessionStore,
  params: RetrainParams | { resumeJobId: number },
  onMessage: (m: JobMessage) => void = () => {},
): RetrainHandle {
  let jobId: number;
  if ("resumeJobId" in params) {
    if (store.getJob(params.resumeJobId) === undefined)
      throw new Error(`No job ${params.resumeJobId} in ${store.file} to resume.`);
    jobId = params.resumeJobId;
  } else {
    jobId = store.createJob("retrain", params as unknown as Record<string, unknown>);
  }
  store.appendJobEvent(jobId, "queued");
  const worker = startJobWorker("./retrain-worker", { dbPath: store.file, jobId });
  const done = watchJobWorker<JobMessage>(worker, jobId, onMessage);
  return { jobId, cancel: () => worker.postMessage({ type: "cancel" }), done };
}
