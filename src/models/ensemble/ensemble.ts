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
import { disposeSkipReadout, skipMembers, skipReadoutProblem, type SkipReadout } from "./skip.js";

/** How a session's units are predicted: a factorized readout per member, or a skip readout (skip.ts). */
export type ReadoutKind = "factorized" | "skip";

/**
 * N identical small CNNs on frozen front-end features, each with its own readout per session.
 * A prediction is the mean over members; member predictions are kept for disagreement scores.
 * A session has a factorized readout (trained with the cores), a skip readout (fitted by ridge
 * against the frozen ensemble, see skip.ts), or both; predictions use the skip readout where there
 * is one.
 */
export class DeepEnsemble {
  readonly cores: MemberCore[];
  /** session key → one readout per member */
  readonly readouts = new Map<string, Readout[]>();
  /** session key → its skip readout (reads the cores, the front end and the other sessions' readouts) */
  readonly skipReadouts = new Map<string, SkipReadout>();
  private readoutSeed = 0;

  constructor(
    readonly config: EnsembleConfig,
    cores?: MemberCore[],
  ) {
    this.cores = cores ?? Array.from({ length: config.members }, (_, m) => createMemberCore(config, m));
    if (this.cores.length !== config.members)
      throw new Error(`DeepEnsemble: config says ${config.members} members, got ${this.cores.length} cores`);
  }

  /**
   * Fresh readouts for a session (replacing any it had, its skip readout included), as when training
   * visits that session.
   */
  resetReadout(session: string, units: number): Readout[] {
    const old = this.readouts.get(session);
    if (old !== undefined) old.forEach(disposeReadout);
    this.dropSkipReadout(session);
    const fresh = this.cores.map((_, m) =>
      createReadout(this.config, units, this.config.seed * 7919 + ++this.readoutSeed * 31 + m),
    );
    this.readouts.set(session, fresh);
    return fresh;
  }

  /** Sets a session's skip readout (replacing any it had); refused if this ensemble cannot use it. */
  setSkipReadout(session: string, readout: SkipReadout): void {
    const problem = skipReadoutProblem(this, session, readout);
    if (problem !== undefined) throw new Error(`DeepEnsemble: ${problem}`);
    const old = this.skipReadouts.get(session);
    if (old !== undefined && old !== readout) disposeSkipReadout(old);
    this.skipReadouts.set(session, readout);
  }

  dropSkipReadout(session: string): void {
    const old = this.skipReadouts.get(session);
    if (old === undefined) return;
    disposeSkipReadout(old);
    this.skipReadouts.delete(session);
  }

  /** Drops every skip readout, e.g. before the cores are trained further (they read the cores as they are). */
  dropSkipReadouts(): void {
    for (const k of [...this.skipReadouts.keys()]) this.dropSkipReadout(k);
  }

  /** Every session the ensemble predicts: factorized readouts first, then sessions with only a skip readout. */
  sessionKeys(): string[] {
    return [...new Set([...this.readouts.keys(), ...this.skipReadouts.keys()])];
  }

  hasSession(session: string): boolean {
    return this.readouts.has(session) || this.skipReadouts.has(session);
  }

  /** The readout predictions of the session use. */
  readoutKind(session: string): ReadoutKind {
    if (this.skipReadouts.has(session)) return "skip";
    this.readoutsOf(session);
    return "factorized";
  }

  /** How many units the session's readout predicts. */
  unitsOf(session: string): number {
    return this.skipReadouts.get(session)?.units ?? this.readoutsOf(session)[0]!.units;
  }

  readoutsOf(session: string): Readout[] {
    const r = this.readouts.get(session);
    if (r === undefined)
      throw new Error(
        `DeepEnsemble: no ${this.skipReadouts.has(session) ? "factorized " : ""}readout for session ` +
          `"${session}"; train or fit one first (known: ${this.sessionKeys().join(", ") || "none"})`,
      );
    return r;
  }

  /** Member predictions [M, N, U] for features [N,h,w,c]. */
  predictMembers(session: string, features: tf.Tensor4D): tf.Tensor3D {
    const skip = this.skipReadouts.get(session);
    if (skip !== undefined) return skipMembers(this, session, skip, features);
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
    this.dropSkipReadouts();
  }
}
