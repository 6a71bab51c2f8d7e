import * as tf from "@tensorflow/tfjs";
import {
  coreForward,
  createMemberCore,
  createReadout,
  disposeCore,
  disposeReadout,
  readoutForward,
  type EnsembleConfig,
  type MemberCore,
  type Readout,
} from "./weights.js";

/**
 * N identical small CNNs on frozen front-end features, each with its own readout per session.
 * A prediction is the mean over members; member predictions are kept for disagreement scores.
 */
export class DeepEnsemble {
  readonly cores: MemberCore[];
  /** session key → one readout per member */
  readonly readouts = new Map<string, Readout[]>();
  private readoutSeed = 0;

  constructor(
    readonly config: EnsembleConfig,
    cores?: MemberCore[],
  ) {
    this.cores = cores ?? Array.from({ length: config.members }, (_, m) => createMemberCore(config, m));
    if (this.cores.length !== config.members)
      throw new Error(`DeepEnsemble: config says ${config.members} members, got ${this.cores.length} cores`);
  }

  /** Fresh readouts for a session (replacing any it had), as when training visits that session. */
  resetReadout(session: string, units: number): Readout[] {
    const old = this.readouts.get(session);
    if (old !== undefined) old.forEach(disposeReadout);
    const fresh = this.cores.map((_, m) =>
      createReadout(this.config, units, this.config.seed * 7919 + ++this.readoutSeed * 31 + m),
    );
    this.readouts.set(session, fresh);
    return fresh;
  }

  readoutsOf(session: string): Readout[] {
    const r = this.readouts.get(session);
    if (r === undefined)
      throw new Error(
        `DeepEnsemble: no readout for session "${session}"; train or fit one first (known: ` +
          `${[...this.readouts.keys()].join(", ") || "none"})`,
      );
    return r;
  }

  /** Member predictions [M, N, U] for features [N,h,w,c]. */
  predictMembers(session: string, features: tf.Tensor4D): tf.Tensor3D {
    const readouts = this.readoutsOf(session);
    return tf.tidy(
      () =>
        tf.stack(
          this.cores.map((core, m) => readoutForward(readouts[m]!, coreForward(core, features, this.config))),
        ) as tf.Tensor3D,
    );
  }

  /** Ensemble prediction [N, U]: the mean over members. */
  predict(session: string, features: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.mean(this.predictMembers(session, features), 0) as tf.Tensor2D);
  }

  /** Core outputs of every member [M, N, h, w, C] — for readouts of new sessions and disagreement. */
  coreOutputs(features: tf.Tensor4D): tf.Tensor4D[] {
    return this.cores.map((core) => coreForward(core, features, this.config));
  }

  dispose(): void {
    this.cores.forEach(disposeCore);
    for (const r of this.readouts.values()) r.forEach(disposeReadout);
    this.readouts.clear();
  }
}
