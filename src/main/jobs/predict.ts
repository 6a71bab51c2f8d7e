// `cortexloop predict`: a stored ensemble's predicted responses of one session's units to a folder
// or zip of images, as CSV (one row per image) or .npy (units × images, like the shared responses).
import { renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { selectBackend } from "../../models/backend.js";
import { encodeNumericNpy } from "../../models/data/npy-numeric.js";
import type { DeepEnsemble } from "../../models/ensemble/index.js";
import { decodeImage } from "../../stimulus/index.js";
import type { SessionStore } from "../store/index.js";
import { resolveSession } from "../import/dataset.js";
import { bankEntries } from "./select.js";
import { PredictError, predictableVersion, predictWithVersion } from "./predict-core.js";

export { PredictError, type TargetStats } from "./predict-core.js";

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

function readoutSession(
  store: SessionStore,
  ensemble: DeepEnsemble,
  versionId: number,
  ref: string | undefined,
): { key: string; name: string; id: number | undefined } {
  const keys = ensemble.sessionKeys();
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
  const version = predictableVersion(store, options.modelVersionId);
  const imageSize = version.imageSize;
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
  let session: ReturnType<typeof readoutSession> | undefined;
  const predicted = await predictWithVersion(
    version,
    pixels,
    (ensemble) => (session = readoutSession(store, ensemble, options.modelVersionId, options.session)).key,
    log,
  );
  const units = predicted.units;
  const storedUnits =
    session!.id === undefined
      ? []
      : store.units(session!.id).map((u) => (u.sortedId === 0 ? u.electrode : `${u.electrode}#${u.sortedId}`));
  const unitNames = storedUnits.length === units ? storedUnits : Array.from({ length: units }, (_, u) => `unit${u}`);
  const result: PredictResult = {
    images: entries.map((e) => e.name),
    units: unitNames,
    predictions: predicted.predictions,
    scale: predicted.scale,
    sessionName: session!.name,
  };
  writePredictions(result, options.out);
  return result;
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
