// The skip readout of a session: per member, one linear map from three blocks — the front end's
// features, the member's core output and the member's predictions of every unit of the other
// sessions' factorized readouts — to the session's units, plus a bias. Fitted by ridge (skip-fit.ts);
// the standardization used at fitting time is folded into the weights, so prediction is three
// matrix products on the raw blocks.
import * as tf from "@tensorflow/tfjs";
import { coreForward, readoutForward, type EnsembleConfig, type MemberCore, type Readout } from "./weights.js";

/**
 * Weights of [front-end features, core outputs, predicted responses of the pretraining sessions' units]
 * tried by the skip readout (each block's Gram is trace-normalized first). The first is ridge on the
 * front end alone, so a unit the ensemble does not help keeps ridge's fit.
 */
export const skipBlockWeights: readonly number[][] = [
  [1, 0, 0],
  [0.5, 0.5, 0],
  [0.5, 0, 0.5],
  [0.4, 0.3, 0.3],
  [0.25, 0.5, 0.25],
  [0.25, 0.25, 0.5],
  [0, 0.5, 0.5],
];

/** One member's primal weights (row-major, [block width, U]) on the raw blocks. */
export interface SkipMember {
  /** [h·w·c, U]: the front end's features, flattened per image. */
  front: tf.Tensor2D;
  /** [h·w·width, U]: the member's core output, flattened per image. */
  core: tf.Tensor2D;
  /** [Σ population units, U]: the member's predictions of the population sessions' units, in order. */
  population: tf.Tensor2D;
  bias: tf.Tensor1D;
}

export interface SkipReadout {
  kind: "skip";
  units: number;
  /** Sessions whose factorized readouts give the population block, in column order, and their unit counts. */
  population: { session: string; units: number }[];
  /** Per unit, the weighting of [front end, core, population] chosen at fitting (for the record). */
  blockWeights: number[][];
  /** Per unit, the ridge λ chosen at fitting (relative to the Gram matrix's mean diagonal). */
  lambdas: number[];
  members: SkipMember[];
}

/** What a skip readout needs of the ensemble that holds it. */
export interface SkipHost {
  readonly config: EnsembleConfig;
  readonly cores: readonly MemberCore[];
  readonly readouts: ReadonlyMap<string, readonly Readout[]>;
}

/** Block widths a skip readout of this ensemble must have: [front end, core, population]. */
export function skipWidths(config: EnsembleConfig, population: SkipReadout["population"]): [number, number, number] {
  const [h, w, c] = config.inputShape;
  return [h * w * c, h * w * config.width, population.reduce((n, p) => n + p.units, 0)];
}

/**
 * Why the ensemble cannot use this skip readout (a population session's factorized readout missing or
 * of another size, a member count or a weight shape that does not match), or undefined when it can.
 */
export function skipReadoutProblem(host: SkipHost, session: string, sk: SkipReadout): string | undefined {
  if (sk.members.length !== host.cores.length)
    return `the skip readout of "${session}" has ${sk.members.length} members, the ensemble ${host.cores.length}`;
  for (const p of sk.population) {
    const rs = host.readouts.get(p.session);
    if (rs === undefined)
      return (
        `the skip readout of "${session}" reads the predicted responses of session "${p.session}", but the ` +
        `ensemble has no factorized readout for it (known: ${[...host.readouts.keys()].join(", ") || "none"}); ` +
        `refit the skip readout against this ensemble (cortexloop readout)`
      );
    if (rs[0]!.units !== p.units)
      return (
        `the skip readout of "${session}" reads ${p.units} units of session "${p.session}", whose readout now ` +
        `has ${rs[0]!.units}; refit the skip readout against this ensemble (cortexloop readout)`
      );
  }
  const [d0, d1, d2] = skipWidths(host.config, sk.population);
  for (const [m, mem] of sk.members.entries()) {
    const shapes: [string, readonly number[], number[]][] = [
      ["front", mem.front.shape, [d0, sk.units]],
      ["core", mem.core.shape, [d1, sk.units]],
      ["population", mem.population.shape, [d2, sk.units]],
      ["bias", mem.bias.shape, [sk.units]],
    ];
    for (const [name, got, want] of shapes)
      if (got.length !== want.length || got.some((v, i) => v !== want[i]))
        return `member ${m}'s ${name} weights of the skip readout of "${session}" are [${got}], not [${want}]`;
  }
  return undefined;
}

/** Member predictions [M, N, U] of a skip readout for front-end features [N, h, w, c]. */
export function skipMembers(host: SkipHost, session: string, sk: SkipReadout, features: tf.Tensor4D): tf.Tensor3D {
  const problem = skipReadoutProblem(host, session, sk);
  if (problem !== undefined) throw new Error(`DeepEnsemble: ${problem}`);
  return tf.tidy(() => {
    const n = features.shape[0];
    const flat = tf.reshape(features, [n, -1]) as tf.Tensor2D;
    return tf.stack(
      host.cores.map((core, m) => {
        const mem = sk.members[m]!;
        const y = coreForward(core, features, host.config);
        let out = tf.add(tf.matMul(flat, mem.front), tf.matMul(tf.reshape(y, [n, -1]) as tf.Tensor2D, mem.core));
        if (sk.population.length > 0) {
          const pop = tf.concat(
            sk.population.map((p) => readoutForward(host.readouts.get(p.session)![m]!, y)),
            1,
          ) as tf.Tensor2D;
          out = tf.add(out, tf.matMul(pop, mem.population));
        }
        return tf.add(out, mem.bias);
      }),
    ) as tf.Tensor3D;
  });
}

export function disposeSkipReadout(sk: SkipReadout): void {
  for (const m of sk.members) tf.dispose([m.front, m.core, m.population, m.bias]);
}
