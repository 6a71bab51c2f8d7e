// The body of a job's worker thread: its own connection to the lab database, cancel on the parent's
// message, every progress message posted back.
import { parentPort, workerData } from "node:worker_threads";
import { SessionStore } from "../store/index.js";

export type JobRunner<M> = (
  store: SessionStore,
  jobId: number,
  options: { signal: AbortSignal; emit: (m: M) => void },
) => Promise<unknown>;

export async function runJobInWorker<M>(run: JobRunner<M>): Promise<void> {
  const { dbPath, jobId } = workerData as { dbPath: string; jobId: number };
  const abort = new AbortController();
  parentPort?.on("message", (m: { type?: string }) => {
    if (m.type === "cancel") abort.abort();
  });
  const store = SessionStore.open(dbPath);
  try {
    await run(store, jobId, { signal: abort.signal, emit: (m: M) => parentPort?.postMessage(m) });
  } finally {
    store.close();
    parentPort?.close();
  }
}
