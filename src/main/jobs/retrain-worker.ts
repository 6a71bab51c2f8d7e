// Worker-thread entry of a retraining job.
import { runRetrainJob, type JobMessage } from "./retrain.js";
import { runJobInWorker } from "./worker-entry.js";

await runJobInWorker<JobMessage>(runRetrainJob);
