// The three gradient-heavy parts of a causal design as jobs that need only the model: maximizing
// synthesized images, adversarial pairs, smooth− with its random-smoothing control. design.ts runs
// them one after another on the main thread, or at once on worker threads (synthesis-pool.ts); a job
// gives the same images either way (its own seeded randomness, its own batches).
import { performance } from "node:perf_hooks";
import type { UnitResponseModel } from "../../models/response/index.js";
import type { RgbImage } from "../../stimulus/index.js";
import {
  adversarialPairs,
  randomSmoothing,
  smoothMinus,
  synthesizeMaximizing,
  type AdversarialOptions,
  type AdversarialPair,
  type MaximizeOptions,
  type MaximizingImage,
  type PixelBudget,
  type SmoothedImage,
  type SmoothMinusOptions,
} from "../../stimulus/synthesis/index.js";

export type SynthesisJob =
  | { kind: "maximizing synthesized"; units: number[]; options: Partial<MaximizeOptions> }
  | {
      kind: "adversarial";
      items: { unit: number; base: RgbImage }[];
      options: Partial<AdversarialOptions> & { budget: PixelBudget };
    }
  | { kind: "smooth−"; items: { unit: number; image: RgbImage }[]; options: Partial<SmoothMinusOptions>; seed: number };

export interface SynthesisOutputs {
  "maximizing synthesized": MaximizingImage[];
  adversarial: AdversarialPair[];
  /** smooth− images and, one for one, their random-smoothing controls (as many patches, same size and blur). */
  "smooth−": { minus: SmoothedImage[]; control: SmoothedImage[] };
}

export type JobOf<K extends SynthesisJob["kind"]> = Extract<SynthesisJob, { kind: K }>;

export interface JobResult<K extends SynthesisJob["kind"]> {
  output: SynthesisOutputs[K];
  /** Wall-clock and CPU seconds per part of the work ("smooth−" and "random smoothing" for a smooth− job). */
  seconds: Record<string, number>;
  cpuSeconds: Record<string, number>;
}

/** CPU seconds of this process so far (user + system, all threads). */
export const processCpuSeconds = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

/**
 * Runs `job` through `model`. `cpuClock` reads the CPU seconds the job is charged with: the process's
 * on the main thread; on a worker thread, where node cannot read one thread's CPU time, its wall clock
 * (one wasm thread, busy throughout).
 */
export async function runSynthesisJob<K extends SynthesisJob["kind"]>(
  model: UnitResponseModel,
  job: JobOf<K>,
  cpuClock: () => number = processCpuSeconds,
): Promise<JobResult<K>> {
  const seconds: Record<string, number> = {};
  const cpuSeconds: Record<string, number> = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const c0 = cpuClock();
    const r = await fn();
    seconds[what] = (performance.now() - t0) / 1000;
    cpuSeconds[what] = cpuClock() - c0;
    return r;
  };
  const j = job as SynthesisJob;
  let output: SynthesisOutputs[SynthesisJob["kind"]];
  if (j.kind === "maximizing synthesized")
    output = await timed(j.kind, () => synthesizeMaximizing(model, j.units, j.options));
  else if (j.kind === "adversarial") output = await timed(j.kind, () => adversarialPairs(model, j.items, j.options));
  else {
    const minus = await timed("smooth−", () => smoothMinus(model, j.items, j.options));
    const control = await timed("random smoothing", () =>
      randomSmoothing(
        model,
        minus.map((m, i) => ({ unit: m.unit, image: j.items[i]!.image, patches: m.patches.length })),
        { ...j.options, seed: j.seed },
      ),
    );
    output = { minus, control };
  }
  return { output: output as SynthesisOutputs[K], seconds, cpuSeconds };
}
