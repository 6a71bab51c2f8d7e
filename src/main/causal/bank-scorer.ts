// Scoring a candidate bank with compact models on worker threads, each running a share of the units'
// models on one wasm thread, while the main thread decodes the next images. Why: in the synthesis bench
// (16 units, 160,000 evaluations, alone on 2 cores) the backend's own 2 threads took 823 CPU s over 494 s
// wall, 5.1 ms of CPU an evaluation, where one thread needs 3.7 to 4.1 ms (measured on a shared machine):
// presumably the pool's threads spinning while they wait on each other between ops, which one thread a
// worker does not do. Alone on 2 cores, two workers scored that bank in 320.5 s, 612 CPU s (synthesis
// bench; `--bank-workers 0` is the in-process path).
import { cpus } from "node:os";
import type { BackendName } from "../../models/backend.js";
import type { NpyValue } from "../../models/compact/index.js";
import type { RgbImage } from "../../stimulus/index.js";
import type { UnitScale } from "./scaled-model.js";
import { startWorkerSet, type WorkerReply } from "./worker-set.js";

export interface ScoreWorkerData {
  /** The worker's models' arrays (as compactModelFromArrays takes them), in unit order. */
  models: NpyValue[];
  inputSize: number;
  backend?: BackendName;
  /** Optional: the models' predictions mapped onto responses, unit by unit (scaled-model.ts). */
  scale?: UnitScale;
}

export interface ScoreRequest {
  id: number;
  count: number;
  /** `count` images, size × size × 3 bytes each, one after another. */
  pixels: Uint8Array;
}

export type ScoreReply = { id: number; scores: Float32Array } | WorkerReply;

/** Scores images for every unit: [N × unitCount] row-major, the same values as the models' predictAll. */
export interface BankScorer {
  readonly unitCount: number;
  readonly workers: number;
  score(images: readonly RgbImage[]): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Contiguous shares of `n` units over `k` workers, as even as can be. */
function shares(n: number, k: number): [number, number][] {
  return Array.from({ length: k }, (_, w) => [Math.floor((w * n) / k), Math.floor(((w + 1) * n) / k)]);
}

/**
 * Starts `workers` worker threads (default: the cores, at most the units) over the compact models
 * `models` (one unit each, as compactModelFromArrays takes their arrays) and resolves once each has
 * built its models.
 */
export async function startBankScorer(
  models: readonly NpyValue[],
  inputSize: number,
  options: { workers?: number; backend?: BackendName; scale?: UnitScale } = {},
): Promise<BankScorer> {
  if (models.length === 0) throw new Error("startBankScorer: no models");
  const k = Math.max(1, Math.min(options.workers ?? cpus().length, models.length));
  const parts = shares(models.length, k);
  const set = await startWorkerSet<ScoreReply>(
    "../causal/bank-score-worker",
    parts.map(([a, b]): ScoreWorkerData => ({
      models: models.slice(a, b),
      inputSize,
      backend: options.backend,
      ...(options.scale === undefined
        ? {}
        : { scale: { mean: options.scale.mean.slice(a, b), std: options.scale.std.slice(a, b) } }),
    })),
    "bank scorer",
  );
  const ask = async (w: number, count: number, pixels: Uint8Array): Promise<Float32Array> => {
    const reply = await set.ask(w, { count, pixels } satisfies Omit<ScoreRequest, "id">);
    if (!("scores" in reply)) throw new Error("bank scorer worker: no scores");
    return reply.scores;
  };
  return {
    unitCount: models.length,
    workers: k,
    async score(images) {
      const n = images.length;
      const per = inputSize * inputSize * 3;
      const pixels = new Uint8Array(n * per);
      images.forEach((im, i) => {
        if (im.width !== inputSize || im.height !== inputSize || im.pixels0to255.length !== per)
          throw new Error(`bank scorer: image ${i} is ${im.width}×${im.height}; the models take ${inputSize} px`);
        pixels.set(im.pixels0to255, i * per);
      });
      const parts_ = await Promise.all(parts.map((_, w) => ask(w, n, pixels)));
      const out = new Float32Array(n * models.length);
      parts.forEach(([a, b], w) => {
        const width = b - a;
        const s = parts_[w]!;
        for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) out[i * models.length + a + j] = s[i * width + j]!;
      });
      return out;
    },
    close: () => set.close(),
  };
}
