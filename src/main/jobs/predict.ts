// `cortexloop predict`: a stored ensemble's predicted responses of one session's units to a folder
// or zip of images, as CSV (one row per image) or .npy (units × images, like the shared responses).
import { renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../models/backend.js";
import { encodeNumericNpy } from "../../models/data/npy-numeric.js";
import { loadEnsemble, type DeepEnsemble } from "../../models/ensemble/index.js";
import { extractFeatures, loadFrontEnd, type FrontEndSpec } from "../../models/frontend/index.js";
import { decodeImage } from "../../stimulus/index.js";
import type { SessionStore } from "../store/index.js";
import { resolveSession } from "../import/dataset.js";
import { bankEntries } from "./select.js";

export class PredictError extends Error {
  readonly code = "predict-input";
  constructor(message: string) {
    super(`${message} Nothing was written.`);
    this.name = "PredictError";
  }
}

export interface PredictOptions {
  modelVersionId: number;
  images: string;
  /** Whose readout to use (name, id or uuid prefix); optional when the model has one readout. */
  session?: string;
  /** Output file: .csv or .npy. */
  out: string;
  log?: (line: string) => void;
}

export interface PredictResult {
  images: string[];
  units: string[];
  /** [image][unit], in response units when the model recorded its target statistics, else z-scored. */
  predictions: Float32Array;
  scale: "responses" | "z-scored";
  sessionName: string;
}

/** Per-session target statistics a model version records (`config.targetStats[sessionKey]`). */
export interface TargetStats {
  mean: number[];
  std: number[];
}

function readoutSession(
  store: SessionStore,
  ensemble: DeepEnsemble,
  versionId: number,
  ref: string | undefined,
): { key: string; name: string; id: number | undefined } {
  const keys = [...ensemble.readouts.keys()];
  const nameOf = (key: string): string => {
    const id = Number(key);
    return Number.isInteger(id) ? (store.findSession(id)?.name ?? key) : key;
  };
  if (ref === undefined) {
    if (keys.length === 1)
      return {
        key: keys[0]!,
        name: nameOf(keys[0]!),
        id: Number.isInteger(Number(keys[0])) ? Number(keys[0]) : undefined,
      };
    throw new PredictError(
      `Model version ${versionId} has readouts for ${keys.length} sessions (${keys.map(nameOf).join(", ")}); say ` +
        `whose units to predict with --session.`,
    );
  }
  let id: number | undefined;
  try {
    id = resolveSession(store, ref);
  } catch {
    id = undefined;
  }
  const key = id !== undefined && keys.includes(String(id)) ? String(id) : keys.includes(ref) ? ref : undefined;
  if (key === undefined)
    throw new PredictError(
      `Model version ${versionId} has no readout for session "${ref}"; it has readouts for ` +
        `${keys.map(nameOf).join(", ")}. Fit one first (cortexloop readout).`,
    );
  return { key, name: nameOf(key), id };
}

export async function predictImages(store: SessionStore, options: PredictOptions): Promise<PredictResult> {
  const log = options.log ?? (() => {});
  const ext = path.extname(options.out).toLowerCase();
  if (ext !== ".csv" && ext !== ".npy")
    throw new PredictError(`-o ${options.out}: the output must end in .csv or .npy.`);
  const version = store.getModelVersion(options.modelVersionId);
  if (version === undefined)
    throw new PredictError(
      `Model version ${options.modelVersionId} does not exist in ${store.file}; run \`cortexloop models\` to list ` +
        `them.`,
    );
  if (version.kind !== "deep-ensemble" && version.kind !== "deep-ensemble-checkpoint") {
    throw new PredictError(
      `Model version ${options.modelVersionId} is a ${version.kind}, not a deep ensemble; predict takes an ` +
        `ensemble (kind deep-ensemble, see \`cortexloop models\`).`,
    );
  }
  if (version.checkpoint === null)
    throw new PredictError(`Model version ${options.modelVersionId} has no weights stored.`);
  const spec = version.config.frontEndSpec as FrontEndSpec | undefined;
  if (spec === undefined)
    throw new PredictError(
      `Model version ${options.modelVersionId} does not record its front end (frontEndSpec); retrain it with this ` +
        `cortexloop.`,
    );
  const imageSize = typeof version.config.imageSize === "number" ? version.config.imageSize : 112;
  let entries;
  try {
    entries = await bankEntries(options.images);
  } catch (err) {
    throw new PredictError(
      `Could not read images from ${options.images} (${err instanceof Error ? err.message : String(err)}).`,
    );
  }
  if (entries.length === 0) throw new PredictError(`${options.images} holds no PNG or JPEG images.`);
  const pixels: Uint8Array[] = [];
  for (const e of entries) {
    const img = await decodeImage(await e.read(), `${options.images}:${e.name}`);
    if (img.width !== imageSize || img.height !== imageSize) {
      throw new PredictError(
        `Image ${e.name} in ${options.images} is ${img.width}×${img.height}; model version ` +
          `${options.modelVersionId} takes ${imageSize}×${imageSize} images, as it was trained. Resize them first.`,
      );
    }
    pixels.push(img.pixels0to255);
  }
  await selectBackend({ log });
  const { ensemble, frontEnd: trainedOn } = loadEnsemble(version.checkpoint, `model version ${options.modelVersionId}`);
  try {
    const session = readoutSession(store, ensemble, options.modelVersionId, options.session);
    const frontEnd = await loadFrontEnd({ ...spec, log });
    let features: Float32Array;
    try {
      if (frontEnd.name !== trainedOn)
        throw new PredictError(
          `Model version ${options.modelVersionId} was trained on front end ${trainedOn} but ${frontEnd.name} ` +
            `loaded here; install what it used.`,
        );
      features = await extractFeatures(frontEnd, pixels, imageSize, {
        onProgress: (d, t) => (d === t || d % 320 === 0 ? log(`features ${d}/${t}`) : undefined),
      });
    } finally {
      frontEnd.dispose();
    }
    const [h, w, c] = ensemble.config.inputShape;
    const per = h * w * c;
    const units = ensemble.readoutsOf(session.key)[0]!.units;
    const out = new Float32Array(entries.length * units);
    for (let start = 0; start < entries.length; start += 64) {
      const n = Math.min(64, entries.length - start);
      const p = tf.tidy(() =>
        ensemble.predict(session.key, tf.tensor4d(features.subarray(start * per, (start + n) * per), [n, h, w, c])),
      );
      out.set(p.dataSync(), start * units);
      p.dispose();
    }
    const stats = (version.config.targetStats as Record<string, TargetStats> | undefined)?.[session.key];
    const scale = stats !== undefined && stats.mean.length === units ? "responses" : "z-scored";
    if (scale === "responses") {
      for (let i = 0; i < entries.length; i++)
        for (let u = 0; u < units; u++) out[i * units + u] = out[i * units + u]! * stats!.std[u]! + stats!.mean[u]!;
    }
    const storedUnits =
      session.id === undefined
        ? []
        : store.units(session.id).map((u) => (u.sortedId === 0 ? u.electrode : `${u.electrode}#${u.sortedId}`));
    const unitNames = storedUnits.length === units ? storedUnits : Array.from({ length: units }, (_, u) => `unit${u}`);
    const result: PredictResult = {
      images: entries.map((e) => e.name),
      units: unitNames,
      predictions: out,
      scale,
      sessionName: session.name,
    };
    writePredictions(result, options.out);
    return result;
  } finally {
    ensemble.dispose();
  }
}

function writePredictions(r: PredictResult, file: string): void {
  const units = r.units.length;
  let bytes: Uint8Array | string;
  if (path.extname(file).toLowerCase() === ".npy") {
    // Units × images, the layout of the shared responses_<session>.npy.
    const t = new Float64Array(units * r.images.length);
    for (let i = 0; i < r.images.length; i++)
      for (let u = 0; u < units; u++) t[u * r.images.length + i] = r.predictions[i * units + u]!;
    bytes = encodeNumericNpy([units, r.images.length], t);
  } else {
    const q = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = [["image", ...r.units].map(q).join(",")];
    r.images.forEach((name, i) =>
      lines.push([q(name), ...Array.from({ length: units }, (_, u) => String(r.predictions[i * units + u]))].join(",")),
    );
    bytes = `${lines.join("\n")}\n`;
  }
  const tmp = `${file}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new PredictError(`Could not write ${file} (${err instanceof Error ? err.message : String(err)}).`);
  }
}
