import type { SessionStore } from "../store/index.js";
import type { DistillMessage } from "../compact/distill-run.js";
import type { DistillParams } from "./distill.js";
import { startJobWorker, watchJobWorker } from "./worker-thread.js";

export interface DistillHandle {
  jobId: number;
  /** Asks the worker to stop after its current step; it keeps its last checkpoint and the units it stored. */
  cancel(): void;
  done: Promise<DistillMessage>;
}

/**
 * Starts a distillation job in a worker thread. Pass `resumeJobId` to continue a cancelled or
 * crashed one from its last checkpoint.
 */
export function startDistillJob(
  store: SessionStore,
  params: DistillParams | { resumeJobId: number },
  onMessage: (m: DistillMessage) => void = () => {},
): DistillHandle {
  let jobId: number;
  if ("resumeJobId" in params) {
    const job = store.getJob(params.resumeJobId);
    if (job === undefined || job.kind !== "distill")
      throw new Error(`No distill job ${params.resumeJobId} in ${store.file} to resume; nothing was started.`);
    if (store.jobEvents(job.id).some((e) => e.state === "done"))
      throw new Error(`Distill job ${params.resumeJobId} already finished; nothing was started.`);
    jobId = params.resumeJobId;
  } else {
    jobId = store.createJob("distill", params as unknown as Record<string, unknown>);
  }
  store.appendJobEvent(jobId, "queued");
  const worker = startJobWorker("./distill-worker", { dbPath: store.file, jobId });
  return {
    jobId,
    cancel: () => worker.postMessage({ type: "cancel" }),
    done: watchJobWorker<DistillMessage>(worker, jobId, onMessage),
  };
}
