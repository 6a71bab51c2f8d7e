// Synthesis jobs (synthesis-jobs.ts) on worker threads, one wasm thread each and every unit's compact
// model in each: the design's maximizing, adversarial and smooth− work runs at once instead of one
// after another, each job on the first worker free. Why: the in-process backend's two threads spend
// about a quarter more CPU on the same gradient steps than one thread does (bank-scorer.ts), and leave
// the second core half idle between ops.
import { cpus } from "node:os";
import type { BackendName } from "../../models/backend.js";
import type { NpyValue } from "../../models/compact/index.js";
import { SynthesisInputError } from "../../stimulus/synthesis/index.js";
import type { ScoreWorkerData } from "./bank-scorer.js";
import type { UnitScale } from "./scaled-model.js";
import type { JobOf, JobResult, SynthesisJob } from "./synthesis-jobs.js";
import { startWorkerSet, WorkerError, type WorkerReply } from "./worker-set.js";

export interface PoolRequest {
  id: number;
  job: SynthesisJob;
}

export type PoolReply = { id: number; result: JobResult<SynthesisJob["kind"]> } | WorkerReply;

export interface SynthesisPool {
  readonly workers: number;
  run<K extends SynthesisJob["kind"]>(job: JobOf<K>): Promise<JobResult<K>>;
  close(): Promise<void>;
}

const SYNTHESIS_CODES = ["no-units", "bad-unit", "bad-image", "empty-bank", "bad-budget", "bad-option"] as const;

/** Starts `workers` (default: the cores) worker threads, each with all of `models` (one unit each). */
export async function startSynthesisPool(
  models: readonly NpyValue[],
  inputSize: number,
  options: { workers?: number; backend?: BackendName; scale?: UnitScale } = {},
): Promise<SynthesisPool> {
  if (models.length === 0) throw new Error("startSynthesisPool: no models");
  const k = Math.max(1, options.workers ?? cpus().length);
  const data: ScoreWorkerData = {
    models: [...models],
    inputSize,
    backend: options.backend,
    ...(options.scale === undefined ? {} : { scale: options.scale }),
  };
  const set = await startWorkerSet<PoolReply>(
    "../causal/synthesis-worker",
    Array.from({ length: k }, () => data),
    "synthesis",
  );
  const idle = Array.from({ length: k }, (_, w) => w);
  const waiting: ((w: number) => void)[] = [];
  const take = (): Promise<number> =>
    idle.length > 0 ? Promise.resolve(idle.shift()!) : new Promise((resolve) => waiting.push(resolve));
  const give = (w: number): void => {
    const next = waiting.shift();
    if (next === undefined) idle.push(w);
    else next(w);
  };
  return {
    workers: k,
    async run<K extends SynthesisJob["kind"]>(job: JobOf<K>): Promise<JobResult<K>> {
      const w = await take();
      try {
        const reply = await set.ask(w, { job });
        if (!("result" in reply)) throw new Error(`synthesis worker: no result for ${job.kind}`);
        return reply.result as JobResult<K>;
      } catch (err) {
        // A synthesis input error thrown in the worker is the same error here.
        const code = SYNTHESIS_CODES.find((c) => err instanceof WorkerError && err.code === c);
        throw code === undefined ? err : new SynthesisInputError(code, (err as Error).message);
      } finally {
        give(w);
      }
    },
    close: () => set.close(),
  };
}
