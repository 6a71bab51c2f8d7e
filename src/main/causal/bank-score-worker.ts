// Worker-thread entry of a BankScorer (bank-scorer.ts): one-thread wasm, its share of the units'
// compact models, and each batch of bank images scored by every one of them.
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../models/backend.js";
import { compactModelFromArrays, FastCompactModel, type NpyValue } from "../../models/compact/index.js";
import type { ScoreReply, ScoreRequest, ScoreWorkerData } from "./bank-scorer.js";

const port = parentPort!;
const data = workerData as ScoreWorkerData;
try {
  await selectBackend({ log: () => {}, threads: 1, prefer: data.backend });
  const fast = data.models.map((arrays: NpyValue, i) => {
    const layers = compactModelFromArrays(arrays, `bank scorer model ${i}`);
    const f = FastCompactModel.fromModel(layers);
    layers.dispose();
    return f;
  });
  port.on("message", (m: ScoreRequest) => {
    try {
      const size = data.inputSize;
      const x = tf.tensor4d(Float32Array.from(m.pixels), [m.count, size, size, 3]);
      const scores = new Float32Array(m.count * fast.length);
      fast.forEach((f, j) => {
        const p = f.predict(x);
        const v = p.dataSync();
        p.dispose();
        const [a, b] = [data.scale?.mean[j] ?? 0, data.scale?.std[j] ?? 1];
        for (let i = 0; i < m.count; i++) scores[i * fast.length + j] = a + b * v[i]!;
      });
      x.dispose();
      port.postMessage({ id: m.id, scores } satisfies ScoreReply, [scores.buffer]);
    } catch (err) {
      port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) } satisfies ScoreReply);
    }
  });
  port.postMessage({ id: -1, ready: tf.getBackend() } satisfies ScoreReply);
} catch (err) {
  port.postMessage({ id: -1, error: err instanceof Error ? err.message : String(err) } satisfies ScoreReply);
}
