// Worker-thread entry of a distillation job.
import type { DistillMessage } from "../compact/distill-run.js";
import { runDistillJob } from "./distill.js";
import { runJobInWorker } from "./worker-entry.js";

await runJobInWorker<DistillMessage>(runDistillJob);
