import * as tf from "@tensorflow/tfjs";
import { DeepEnsemble } from "./ensemble.js";
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

interface Manifest {
  format: "cortexloop-ensemble";
  version: 1;
  config: EnsembleConfig;
  frontEnd: string;
  readouts: { session: string; units: number }[];
  tensors: { shape: number[] }[];
  meta: Record<string, unknown>;
}

/** Ensemble weights → bytes: magic, manifest length, JSON manifest, float32 little-endian data. */
export async function saveEnsemble(
  ensemble: DeepEnsemble,
  frontEnd: string,
  meta: Record<string, unknown> = {},
): Promise<Uint8Array> {
  const vars: tf.Variable[] = [];
  for (const core of ensemble.cores) vars.push(...coreVariables(core));
  const readouts: Manifest["readouts"] = [];
  for (const [session, rs] of ensemble.readouts) {
    readouts.push({ session, units: rs[0]!.units });
    for (const r of rs) vars.push(...readoutVariables(r));
  }
  const manifest: Manifest = {
    format: "cortexloop-ensemble",
    version: 1,
    config: ensemble.config,
    frontEnd,
    readouts,
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
  if (manifest.format !== "cortexloop-ensemble" || manifest.version !== 1)
    throw new CheckpointError(
      source,
      `format ${String(manifest.format)} v${String(manifest.version)} is not cortexloop-ensemble v1`,
    );
  const c = manifest.config;
  const perCore = 2 + 3 * c.blocks;
  const expected = c.members * perCore + manifest.readouts.length * c.members * 3;
  if (manifest.tensors.length !== expected)
    throw new CheckpointError(
      source,
      `it lists ${manifest.tensors.length} tensors; ${c.members} members × ${c.blocks} blocks and ` +
        `${manifest.readouts.length} readouts need ${expected}`,
    );
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
  return { ensemble, frontEnd: manifest.frontEnd, meta: manifest.meta };
}
