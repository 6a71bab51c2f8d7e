// The three gradient-heavy parts of a causal design as jobs that need only the model: maximizing
// synthesized images, adversarial pairs, smooth− with its random-smoothing control. runDesignJobs runs
// them, each in two halves, one after another on the main thread or at once on worker threads
// (synthesis-pool.ts); a part gives the same images either way (its own seeded randomness and batches).
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

/** The first and second half of a list (one part where it has one item, none where it is empty). */
function halves<T>(xs: readonly T[]): T[][] {
  const h = Math.ceil(xs.length / 2);
  return [xs.slice(0, h), xs.slice(h)].filter((part) => part.length > 0);
}

/** `job` in two halves, by unit (maximizing, with each unit's start images) or by item. */
function splitJob<K extends SynthesisJob["kind"]>(job: JobOf<K>): JobOf<K>[] {
  const j = job as SynthesisJob;
  if (j.kind !== "maximizing synthesized")
    return halves<{ unit: number }>(j.items).map((items) => ({ ...j, items }) as JobOf<K>);
  const starts = j.options.startImages;
  const perStart = starts === undefined ? 0 : starts.length / j.units.length;
  let from = 0;
  return halves(j.units).map((units) => {
    const part = { ...j, units, options: { ...j.options } };
    if (starts !== undefined)
      part.options.startImages = starts.slice(from * perStart, (from + units.length) * perStart);
    from += units.length;
    return part as JobOf<K>;
  });
}

/** The parts' outputs as one job's, in order. */
function mergeOutputs<K extends SynthesisJob["kind"]>(kind: K, parts: SynthesisOutputs[K][]): SynthesisOutputs[K] {
  if (kind !== "smooth−") return (parts as unknown[][]).flat() as SynthesisOutputs[K];
  const smooth = parts as SynthesisOutputs["smooth−"][];
  return {
    minus: smooth.flatMap((p) => p.minus),
    control: smooth.flatMap((p) => p.control),
  } as SynthesisOutputs[K];
}

export interface DesignJobs {
  maximizing: JobOf<"maximizing synthesized">;
  adversarial?: JobOf<"adversarial">;
  smooth?: JobOf<"smooth−">;
}

export interface DesignOutputs {
  maximizing: SynthesisOutputs["maximizing synthesized"];
  adversarial: SynthesisOutputs["adversarial"];
  smooth: SynthesisOutputs["smooth−"];
  /** Wall-clock seconds of the whole. */
  wall: number;
}

/**
 * Runs a design's jobs, each in two halves so that two workers stay busy to the end: at once through
 * `synthesize` (worker threads) where it is given, else one after another through `model`. The halves are
 * the same either way, so a design is the same wherever it runs. `timed` is told each part's seconds.
 */
export async function runDesignJobs(
  model: UnitResponseModel,
  synthesize: (<K extends SynthesisJob["kind"]>(job: JobOf<K>) => Promise<JobResult<K>>) | undefined,
  jobs: DesignJobs,
  timed: (seconds: Record<string, number>, cpuSeconds: Record<string, number>) => void,
): Promise<DesignOutputs> {
  const t0 = performance.now();
  const runParts = async <K extends SynthesisJob["kind"]>(
    job: JobOf<K> | undefined,
    empty: SynthesisOutputs[K],
  ): Promise<SynthesisOutputs[K]> => {
    if (job === undefined) return empty;
    const one = async (part: JobOf<K>): Promise<SynthesisOutputs[K]> => {
      const r = await (synthesize === undefined ? runSynthesisJob(model, part) : synthesize(part));
      timed(r.seconds, r.cpuSeconds);
      return r.output;
    };
    const parts = splitJob(job);
    const outputs: SynthesisOutputs[K][] = [];
    if (synthesize !== undefined) outputs.push(...(await Promise.all(parts.map(one))));
    else for (const part of parts) outputs.push(await one(part));
    return mergeOutputs(job.kind, outputs);
  };
  const smoothEmpty = { minus: [], control: [] };
  const [maximizing, adversarial, smooth] =
    synthesize === undefined
      ? [
          await runParts(jobs.maximizing, []),
          await runParts(jobs.adversarial, []),
          await runParts(jobs.smooth, smoothEmpty),
        ]
      : await Promise.all([
          runParts(jobs.maximizing, []),
          runParts(jobs.adversarial, []),
          runParts(jobs.smooth, smoothEmpty),
        ]);
  return { maximizing, adversarial, smooth, wall: (performance.now() - t0) / 1000 };
}
