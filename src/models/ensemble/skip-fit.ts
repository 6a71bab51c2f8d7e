// Fitting a session's skip readout against a frozen ensemble, as the held-out cross-validation's
// skip model does (crossval.ts): each unit's block weighting and λ are chosen once by inner k-fold
// cross-validation on the members' core outputs side by side and the population predictions averaged
// over members; then every member's ridge is solved with those choices on its own core output and
// population predictions, and kept in primal form.
import * as tf from "@tensorflow/tfjs";
import type { DeepEnsemble } from "./ensemble.js";
import { disposeBlock, prepareBlock, ridgeChooseBlocks, ridgePrimalBlocks, type PreparedBlock } from "./ridge.js";
import { ridgeRunner } from "./ridge-pool.js";
import { skipBlockWeights, type SkipMember, type SkipReadout } from "./skip.js";
import { coreForward, readoutForward } from "./weights.js";

/** A session's data for the fit: features [N, h, w, c] and z-scored targets [N, U] (NaN: missing). */
export interface SkipSession {
  key: string;
  features: Float32Array;
  targets: Float32Array;
  units: number;
  /** Images the readout is fitted on. */
  trainIdx: readonly number[];
}

export interface SkipFitOptions {
  /** Inner cross-validation folds for the choice of weighting and λ (default 3). */
  folds?: number;
  /** λ candidates, relative to the Gram matrix's mean diagonal (default as ridge.ts). */
  lambdaScales?: number[];
  /** Weightings of [front end, core, population] tried (default: skipBlockWeights). */
  blockWeights?: readonly (readonly number[])[];
  seed?: number;
  signal?: AbortSignal;
  /** Worker threads for the ridge solves (default: the machine's cores, at most 4; 1: on this thread). */
  threads?: number;
}

export interface SkipFit {
  readout: SkipReadout;
  /** Distinct (weighting, λ) pairs the units chose: each member solves one ridge per pair. */
  candidates: number;
  seconds: { blocks: number; choice: number; members: number };
}

/** Per member, the core output [n, h·w·width] and population predictions [n, Σ units] of rows `rows`. */
export function memberBlocks(
  ensemble: DeepEnsemble,
  features: Float32Array,
  rows: readonly number[],
  population: readonly string[],
): { core: Float32Array[]; pop: Float32Array[] } {
  const [h, w, c] = ensemble.config.inputShape;
  const per = h * w * c;
  const d1 = h * w * ensemble.config.width;
  const d2 = population.reduce((s, k) => s + ensemble.readoutsOf(k)[0]!.units, 0);
  const n = rows.length;
  const core = ensemble.cores.map(() => new Float32Array(n * d1));
  const pop = ensemble.cores.map(() => new Float32Array(n * d2));
  for (let start = 0; start < n; start += 128) {
    const b = Math.min(128, n - start);
    const x = new Float32Array(b * per);
    for (let i = 0; i < b; i++) x.set(features.subarray(rows[start + i]! * per, (rows[start + i]! + 1) * per), i * per);
    const xt = tf.tensor4d(x, [b, h, w, c]);
    ensemble.cores.forEach((mc, m) => {
      const y = coreForward(mc, xt, ensemble.config);
      core[m]!.set(y.dataSync(), start * d1);
      if (d2 > 0) {
        const p = tf.tidy(() =>
          tf.concat(
            population.map((k) => readoutForward(ensemble.readoutsOf(k)[m]!, y)),
            1,
          ),
        );
        pop[m]!.set(p.dataSync(), start * d2);
        p.dispose();
      }
      y.dispose();
    });
    xt.dispose();
  }
  return { core, pop };
}

/**
 * Fits the skip readout of `session.key` against the frozen ensemble and sets it there (replacing
 * any skip readout the session had; its factorized readout, if any, stays for training). The
 * population block reads every other session's factorized readout the ensemble holds.
 */
export async function fitSkipReadout(
  ensemble: DeepEnsemble,
  session: SkipSession,
  options: SkipFitOptions = {},
): Promise<SkipFit> {
  const { units } = session;
  const n = session.trainIdx.length;
  if (n < 2 * (options.folds ?? 3))
    throw new Error(
      `fitSkipReadout: ${n} training images are too few for ${options.folds ?? 3}-fold choice of the ridge's λ`,
    );
  const [h, w, c] = ensemble.config.inputShape;
  const per = h * w * c;
  if (session.features.length % per !== 0)
    throw new Error(
      `fitSkipReadout: features hold ${session.features.length} values, not a multiple of ${h}×${w}×${c}`,
    );
  const images = session.features.length / per;
  if (session.targets.length !== images * units)
    throw new Error(
      `fitSkipReadout: targets hold ${session.targets.length} values for ${images} images × ${units} units`,
    );
  const populationKeys = [...ensemble.readouts.keys()].filter((k) => k !== session.key);
  const population = populationKeys.map((k) => ({ session: k, units: ensemble.readoutsOf(k)[0]!.units }));
  const withPopulation = population.length > 0;
  const weightings = (options.blockWeights ?? skipBlockWeights)
    .filter((wt) => withPopulation || wt[2] === 0)
    .map((wt) => wt.slice(0, withPopulation ? 3 : 2));
  if (weightings.length === 0) throw new Error("fitSkipReadout: no block weighting to try");
  const rows = Array.from({ length: n }, (_, i) => i);
  const targets = new Float32Array(n * units);
  session.trainIdx.forEach((i, r) => targets.set(session.targets.subarray(i * units, (i + 1) * units), r * units));
  const front = new Float32Array(n * per);
  session.trainIdx.forEach((i, r) => front.set(session.features.subarray(i * per, (i + 1) * per), r * per));

  const t0 = performance.now();
  const blocks = memberBlocks(ensemble, session.features, session.trainIdx, populationKeys);
  const M = ensemble.cores.length;
  const d2 = population.reduce((sum, p) => sum + p.units, 0);
  const cancelled = (): void => {
    if (options.signal?.aborted) throw new Error("fitSkipReadout: cancelled");
  };
  // Every block each member's ridge needs, prepared once: the front end's (shared), the core's and the population's.
  const shared: PreparedBlock[] = [];
  const own: PreparedBlock[][] = [];
  const members: SkipMember[] = [];
  const runner = ridgeRunner(options.threads);
  try {
    shared.push(prepareBlock(front, n, rows, true));
    for (let m = 0; m < M; m++) {
      cancelled();
      own.push([prepareBlock(blocks.core[m]!, n, rows, false)]);
      if (withPopulation) own[m]!.push(prepareBlock(blocks.pop[m]!, n, rows, true));
    }
    const t1 = performance.now();
    // The choice: the members' core outputs side by side (whose Gram matrix is the sum of the members' own, before
    // each was scaled to unit mean diagonal), the population predictions averaged over members.
    const grams = [
      shared[0]!.gram,
      summedGram(
        own.map((o) => o[0]!),
        n,
      ),
    ];
    if (withPopulation) {
      const mean = new Float32Array(n * d2);
      for (const p of blocks.pop) for (let k = 0; k < mean.length; k++) mean[k]! += p[k]! / M;
      const popMean = prepareBlock(mean, n, rows, true);
      disposeBlock(popMean);
      grams.push(popMean.gram);
    }
    cancelled();
    const choice = await ridgeChooseBlocks(
      grams.map((gram) => ({ gram })),
      targets,
      units,
      rows,
      { folds: options.folds, lambdaScales: options.lambdaScales, blockWeights: weightings, seed: options.seed },
      runner,
    );
    const t2 = performance.now();
    // Units that weigh the front end alone have the same solution in every member: solved once.
    const frontOnly = { blocks: 1, alphas: new Map<string, Promise<Float64Array>>() };
    for (let m = 0; m < M; m++) {
      cancelled();
      const primal = await ridgePrimalBlocks([shared[0]!, ...own[m]!], targets, units, rows, choice, runner, frontOnly);
      members.push({
        front: tf.tensor2d(primal.weights[0]!, [per, units]),
        core: tf.tensor2d(primal.weights[1]!, [own[m]![0]!.block.d, units]),
        population: tf.tensor2d(withPopulation ? primal.weights[2]! : new Float32Array(0), [d2, units]),
        bias: tf.tensor1d(primal.bias),
      });
    }
    const t3 = performance.now();
    const readout: SkipReadout = {
      kind: "skip",
      units,
      population,
      blockWeights: choice.weights.map((wt) => (withPopulation ? [...wt] : [...wt, 0])),
      lambdas: choice.lambdas,
      members,
    };
    ensemble.setSkipReadout(session.key, readout);
    return {
      readout,
      candidates: new Set(choice.weights.map((wt, u) => `${wt.join(",")}|${choice.lambdas[u]!}`)).size,
      seconds: { blocks: (t1 - t0) / 1000, choice: (t2 - t1) / 1000, members: (t3 - t2) / 1000 },
    };
  } catch (err) {
    for (const mem of members) tf.dispose([mem.front, mem.core, mem.population, mem.bias]);
    throw err;
  } finally {
    [...shared, ...own.flat()].forEach(disposeBlock);
    await runner.close();
  }
}

/** The trace-normalized Gram matrix of blocks side by side, from each block's own (trace-normalized) one. */
function summedGram(parts: readonly PreparedBlock[], n: number): Float64Array {
  const g = new Float64Array(n * n);
  for (const p of parts) {
    const undo = 1 / p.block.norm;
    for (let k = 0; k < g.length; k++) g[k]! += p.gram[k]! * undo;
  }
  let trace = 0;
  for (let i = 0; i < n; i++) trace += g[i * n + i]!;
  const norm = trace > 0 ? n / trace : 1;
  for (let k = 0; k < g.length; k++) g[k]! *= norm;
  return g;
}
