// Worker-thread entry of a SynthesisPool (synthesis-pool.ts): one-thread wasm, every unit's compact
// model, and each job it is sent run through them (synthesis-jobs.ts).
import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../models/backend.js";
import { compactModelFromArrays, FastCompactModel } from "../../models/compact/index.js";
import { compactResponseModel, routedResponseModel } from "../../models/response/index.js";
import { SynthesisInputError } from "../../stimulus/synthesis/index.js";
import type { ScoreWorkerData } from "./bank-scorer.js";
import { scaledResponseModel } from "./scaled-model.js";
import type { PoolReply, PoolRequest } from "./synthesis-pool.js";
import { runSynthesisJob } from "./synthesis-jobs.js";

const port = parentPort!;
const data = workerData as ScoreWorkerData;
try {
  await selectBackend({ log: () => {}, threads: 1, prefer: data.backend });
  const fast = data.models.map((arrays, i) => {
    const layers = compactModelFromArrays(arrays, `synthesis worker model ${i}`);
    const f = FastCompactModel.fromModel(layers);
    layers.dispose();
    return f;
  });
  const routed = routedResponseModel(fast.map((f) => ({ model: compactResponseModel(f), unit: 0 })));
  const model = data.scale === undefined ? routed : scaledResponseModel(routed, data.scale).model;
  const wall = (): number => performance.now() / 1000;
  port.on("message", (m: PoolRequest) => {
    runSynthesisJob(model, m.job, wall).then(
      (result) => port.postMessage({ id: m.id, result } satisfies PoolReply),
      (err: unknown) =>
        port.postMessage({
          id: m.id,
          error: err instanceof Error ? err.message : String(err),
          ...(err instanceof SynthesisInputError ? { code: err.code } : {}),
        } satisfies PoolReply),
    );
  });
  port.postMessage({ id: -1, ready: tf.getBackend() } satisfies PoolReply);
} catch (err) {
  port.postMessage({ id: -1, error: err instanceof Error ? err.message : String(err) } satisfies PoolReply);
}
