import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { SessionStore } from "../store/index.js";
import type { JobMessage, RetrainParams } from "./retrain.js";

/** tsx's ESM register API (the package's "import" export of tsx/esm/api). */
function tsxEsmApi(): string {
  const pkg = createRequire(import.meta.url).resolve("tsx/package.json");
  return pathToFileURL(path.join(path.dirname(pkg), "dist", "esm", "api", "index.mjs")).href;
}

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
export function startRetrainJob(store: SessionStore, params: RetrainParams | { resumeJobId: number }, onMessage: (m: JobMessage) => void = () => {}): RetrainHandle {
  let jobId: number;
  if ("resumeJobId" in params) {
    if (store.getJob(params.resumeJobId) === undefined) throw new Error(`No job ${params.resumeJobId} in ${store.file} to resume.`);
    jobId = params.resumeJobId;
  } else {
    jobId = store.createJob("retrain", params as unknown as Record<string, unknown>);
  }
  store.appendJobEvent(jobId, "queued");
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(fromSource ? "./retrain-worker.ts" : "./retrain-worker.js", import.meta.url);
  const workerData = { dbPath: store.file, jobId };
  // Running from TypeScript sources (tsx, vitest): register tsx's loader inside the worker first.
  const worker = fromSource
    ? new Worker(
        `import(${JSON.stringify(tsxEsmApi())}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`,
        { eval: true, workerData },
      )
    : new Worker(entry, { workerData });
  let final: JobMessage | undefined;
  const done = new Promise<JobMessage>((resolve) => {
    worker.on("message", (m: JobMessage) => {
      onMessage(m);
      if (m.type === "done" || m.type === "cancelled" || m.type === "failed") final = m;
    });
    worker.on("error", (err) => {
      final = { type: "failed", message: `worker crashed: ${err.message}` };
      onMessage(final);
    });
    worker.on("exit", (code) => resolve(final ?? { type: "failed", message: `worker exited with code ${code} before finishing; resume job ${jobId} from its last checkpoint` }));
  });
  return { jobId, cancel: () => worker.postMessage({ type: "cancel" }), done };
}
