import * as tf from "@tensorflow/tfjs";
import { DeepEnsemble } from "./ensemble.js";
import { disposeSkipReadout, skipReadoutProblem, skipWidths, type SkipMember, type SkipReadout } from "./skip.js";
import { coreVariables, readoutVariables, type EnsembleConfig, type MemberCore, type Readout } from "./weights.js";

const MAGIC = "CLENS001";

export class CheckpointError extends Error {
  readonly code = "checkpoint-corrupt";
  constructor(source: string, reason: string) {
    super(
      `Checkpoint ${source} cannot be loaded: ${reason}. Nothing was loaded from it; use an earlier model version ` +
        `or retrain.`,
    );
    this.name = "CheckpointError";
  }
}

/**
 * A skip readout's record in the manifest; its tensors follow the factorized readouts' (per member:
 * front, core, population, bias).
 */
interface SkipRecord {
  session: string;
  units: number;
  population: { session: string; units: number }[];
  blockWeights: number[][];
  lambdas: number[];
}

/**
 * Version 1: cores and factorized readouts. Version 2 adds `skipReadouts` (written only when the
 * ensemble has one, so a checkpoint without them stays readable by a cortexloop that knows only v1).
 */
interface Manifest {
  format: "cortexloop-ensemble";
  version: 1 | 2;
  config: EnsembleConfig;
  frontEnd: string;
  readouts: { session: string; units: number }[];
  skipReadouts?: SkipRecord[];
  tensors: { shape: number[] }[];
  meta: Record<string, unknown>;
}

/** Ensemble weights → bytes: magic, manifest length, JSON manifest, float32 little-endian data. */
export async function saveEnsemble(
  ensemble: DeepEnsemble,
  frontEnd: string,
  meta: Record<string, unknown> = {},
): Promise<Uint8Array> {
  const vars: tf.Tensor[] = [];
  for (const core of ensemble.cores) vars.push(...coreVariables(core));
  const readouts: Manifest["readouts"] = [];
  for (const [session, rs] of ensemble.readouts) {
    readouts.push({ session, units: rs[0]!.units });
    for (const r of rs) vars.push(...readoutVariables(r));
  }
  const skipReadouts: SkipRecord[] = [];
  for (const [session, sk] of ensemble.skipReadouts) {
    skipReadouts.push({
      session,
      units: sk.units,
      population: sk.population,
      blockWeights: sk.blockWeights,
      lambdas: sk.lambdas,
    });
    for (const m of sk.members) vars.push(m.front, m.core, m.population, m.bias);
  }
  const manifest: Manifest = {
    format: "cortexloop-ensemble",
    version: skipReadouts.length > 0 ? 2 : 1,
    config: ensemble.config,
    frontEnd,
    readouts,
    ...(skipReadouts.length > 0 ? { skipReadouts } : {}),
    tensors: vars.map((v) => ({ shape: v.shape })),
    meta,
  };
  const json = new TextEncoder().encode(JSON.stringify(manifest));
  const pad = (4 - ((12 + json.length) % 4)) % 4;
  const total = vars.reduce((s, v) => s + v.size, 0);
  const out = new Uint8Array(12 + json.length + pad + total * 4);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length + pad, true);
  out.set(json, 12);
  out.fill(0x20, 12 + json.length, 12 + json.length + pad);
  const floats = new Float32Array(out.buffer, 12 + json.length + pad, total);
  let o = 0;
  for (const v of vars) {
    floats.set(await v.data(), o);
    o += v.size;
  }
  return out;
}

export interface LoadedEnsemble {
  ensemble: DeepEnsemble;
  frontEnd: string;
  meta: Record<string, unknown>;
}

/** Bytes → ensemble. Every size is checked before any tensor is made, so a bad file leaks nothing. */
export function loadEnsemble(bytes: Uint8Array, source = "checkpoint"): LoadedEnsemble {
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC)
    throw new CheckpointError(source, `it does not start with ${MAGIC}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jsonLen = view.getUint32(8, true);
  if (12 + jsonLen > bytes.length)
    throw new CheckpointError(source, `its manifest claims ${jsonLen} bytes but only ${bytes.length - 12} follow`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + jsonLen))) as Manifest;
  } catch (err) {
    throw new CheckpointError(source, `its manifest is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (manifest.format !== "cortexloop-ensemble" || (manifest.version !== 1 && manifest.version !== 2))
    throw new CheckpointError(
      source,
      `format ${String(manifest.format)} v${String(manifest.version)} is not cortexloop-ensemble v1 or v2`,
    );
  const c = manifest.config;
  const skips = manifest.version === 2 ? (manifest.skipReadouts ?? []) : [];
  checkSkipRecords(source, skips);
  const perCore = 2 + 3 * c.blocks;
  const expected = c.members * perCore + manifest.readouts.length * c.members * 3 + skips.length * c.members * 4;
  if (manifest.tensors.length !== expected)
    throw new CheckpointError(
      source,
      `it lists ${manifest.tensors.length} tensors; ${c.members} members × ${c.blocks} blocks, ` +
        `${manifest.readouts.length} readouts and ${skips.length} skip readouts need ${expected}`,
    );
  // Skip readouts' shapes are checked before any tensor is made.
  const skipStart = c.members * perCore + manifest.readouts.length * c.members * 3;
  skips.forEach((sk, i) => {
    const [d0, d1, d2] = skipWidths(c, sk.population);
    const want = [[d0, sk.units], [d1, sk.units], [d2, sk.units], [sk.units]];
    for (let m = 0; m < c.members; m++)
      want.forEach((shape, k) => {
        const got = manifest.tensors[skipStart + (i * c.members + m) * 4 + k]?.shape ?? [];
        if (got.length !== shape.length || got.some((v, j) => v !== shape[j]))
          throw new CheckpointError(
            source,
            `the skip readout of "${sk.session}" has a member ${m} tensor of shape [${got}] where [${shape}] belongs`,
          );
      });
  });
  const sizes = manifest.tensors.map((t) => t.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  const dataStart = 12 + jsonLen;
  if (bytes.length - dataStart !== total * 4)
    throw new CheckpointError(
      source,
      `its data holds ${bytes.length - dataStart} bytes, the manifest needs ${total * 4}`,
    );
  const aligned = new Float32Array(total);
  new Uint8Array(aligned.buffer).set(bytes.subarray(dataStart));
  for (let i = 0; i < total; i++)
    if (!Number.isFinite(aligned[i]!)) throw new CheckpointError(source, `weight ${i} is ${aligned[i]}`);
  let t = 0;
  let o = 0;
  const next = (): tf.Variable => {
    const shape = manifest.tensors[t]!.shape;
    const v = tf.tidy(() => tf.variable(tf.tensor(aligned.subarray(o, o + sizes[t]!), shape), true));
    o += sizes[t]!;
    t++;
    return v;
  };
  const cores: MemberCore[] = [];
  for (let m = 0; m < c.members; m++) {
    const project = next();
    const projectBias = next();
    const depthwise = Array.from({ length: c.blocks }, next);
    const pointwise = Array.from({ length: c.blocks }, next);
    const bias = Array.from({ length: c.blocks }, next);
    cores.push({ project, projectBias, depthwise, pointwise, bias });
  }
  const ensemble = new DeepEnsemble(c, cores);
  for (const r of manifest.readouts) {
    const rs: Readout[] = [];
    for (let m = 0; m < c.members; m++) rs.push({ units: r.units, mix: next(), spatial: next(), bias: next() });
    ensemble.readouts.set(r.session, rs);
  }
  for (const r of skips) {
    const members: SkipMember[] = [];
    for (let m = 0; m < c.members; m++) {
      const [front, core, population, bias] = [next(), next(), next(), next()];
      members.push({
        front: front as tf.Tensor as tf.Tensor2D,
        core: core as tf.Tensor as tf.Tensor2D,
        population: population as tf.Tensor as tf.Tensor2D,
        bias: bias as tf.Tensor as tf.Tensor1D,
      });
    }
    const sk: SkipReadout = { kind: "skip", ...r, members };
    const problem = skipReadoutProblem(ensemble, r.session, sk);
    if (problem !== undefined) {
      disposeSkipReadout(sk);
      ensemble.dispose();
      throw new CheckpointError(source, problem);
    }
    ensemble.skipReadouts.set(r.session, sk);
  }
  return { ensemble, frontEnd: manifest.frontEnd, meta: manifest.meta };
}

/** The skip readouts' records are well formed (before any size is computed from them). */
function checkSkipRecords(source: string, skips: unknown): asserts skips is SkipRecord[] {
  if (!Array.isArray(skips)) throw new CheckpointError(source, "its skipReadouts is not a list");
  for (const [i, r] of (skips as Partial<SkipRecord>[]).entries()) {
    const name = typeof r?.session === "string" ? `"${r.session}"` : `number ${i}`;
    const count = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
    if (typeof r?.session !== "string" || !count(r.units))
      throw new CheckpointError(source, `skip readout ${name} has no session name or unit count`);
    if (!Array.isArray(r.population) || !r.population.every((p) => typeof p?.session === "string" && count(p.units)))
      throw new CheckpointError(source, `skip readout ${name} has a malformed population (sessions and unit counts)`);
    if (
      !Array.isArray(r.blockWeights) ||
      !Array.isArray(r.lambdas) ||
      r.blockWeights.length !== r.units ||
      r.lambdas.length !== r.units
    )
      throw new CheckpointError(source, `skip readout ${name} does not record a weighting and λ per unit`);
  }
}
