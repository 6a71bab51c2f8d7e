// Worker-thread entry of a distillation job: opens its own connection to the lab database.
import { parentPort, workerData } from "node:worker_threads";
import { SessionStore } from "../store/index.js";
import type { DistillMessage } from "../compact/distill-run.js";
import { runDistillJob } from "./distill.js";

const { dbPath, jobId } = workerData as { dbPath: string; jobId: number };
const abort = new AbortController();
parentPort?.on("message", (m: { type?: string }) => {
  if (m.type === "cancel") abort.abort();
});
const store = SessionStore.open(dbPath);
try {
  await runDistillJob(store, jobId, { signal: abort.signal, emit: (m: DistillMessage) => parentPort?.postMessage(m) });
} finally {
  store.close();
  parentPort?.close();
}
