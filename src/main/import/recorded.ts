// Imports a session recorded elsewhere (an image bank + a responses .npy) into the lab database.
import { readFile, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { parseNumericNpy } from "../../models/data/npy-numeric.js";
import type { RecordedSessionImport, SessionStore } from "../store/index.js";
import { decodeImage, encodePng, isImageName, readZipEntries } from "../../stimulus/index.js";

export type ImportErrorCode =
  "responses-shape" | "image-names" | "empty-bank" | "session-exists" | "responses-file" | "image-file";

export class ImportError extends Error {
  constructor(
    readonly code: ImportErrorCode,
    message: string,
  ) {
    super(`${message} Nothing was imported.`);
    this.name = "ImportError";
  }
}

export interface ImportOptions {
  imagesPath: string;
  responsesPath: string;
  sessionName: string;
  /** Presentation duration to record (ms); the shared V4 data counts spikes in 100 ms bins. */
  durationMs?: number;
  log?: (line: string) => void;
}

export interface ImportReport extends RecordedSessionImport {
  flaggedUnits: string[];
  shape: number[];
}

const numbered = /^image(\d+)\.(jpe?g|png)$/i;

/** Image files of a zip or folder as (number k, bytes); `image%04d.jpg` number k is response column k-1. */
async function readNumberedImages(path: string): Promise<{ k: number; name: string; bytes: Uint8Array }[]> {
  let entries: { name: string; data: Uint8Array }[];
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new ImportError("image-file", `The image bank ${path} does not exist.`);
  if (info.isDirectory()) {
    const names = (await readdir(path)).filter(isImageName).sort();
    entries = await Promise.all(names.map(async (name) => ({ name, data: await readFile(join(path, name)) })));
  } else {
    try {
      entries = await readZipEntries(path, isImageName);
    } catch (err) {
      throw new ImportError("image-file", `${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (entries.length === 0) throw new ImportError("empty-bank", `The image bank ${path} holds no PNG or JPEG images.`);
  const out: { k: number; name: string; bytes: Uint8Array }[] = [];
  const bad: string[] = [];
  const seen = new Map<number, string>();
  for (const e of entries) {
    const m = numbered.exec(basename(e.name));
    if (m === null) {
      bad.push(e.name);
      continue;
    }
    const k = Number(m[1]);
    const prior = seen.get(k);
    if (prior !== undefined)
      throw new ImportError("image-names", `Images ${prior} and ${e.name} in ${path} both carry number ${k}.`);
    seen.set(k, e.name);
    out.push({ k, name: e.name, bytes: e.data });
  }
  if (bad.length > 0) {
    throw new ImportError(
      "image-names",
      `${bad.length} image(s) in ${path} are not named image<k>.jpg/png (e.g. ${bad.slice(0, 3).join(", ")}), so ` +
        `their response column is unknown.`,
    );
  }
  return out.sort((a, b) => a.k - b.k);
}

/**
 * Reads responses (units × images, or units × images × repeats NaN-padded) and the numbered
 * image bank, checks that they match, and stores them as one session in one transaction.
 */
export async function importRecordedSession(store: SessionStore, options: ImportOptions): Promise<ImportReport> {
  const log = options.log ?? (() => {});
  const existing = store.findSessionsByName(options.sessionName);
  if (existing.length > 0) {
    throw new ImportError(
      "session-exists",
      `A session named "${options.sessionName}" already exists (id ${existing[0]!.id}); choose another --session name.`,
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(options.responsesPath);
  } catch (err) {
    throw new ImportError(
      "responses-file",
      `Could not read responses ${options.responsesPath}: ${err instanceof Error ? err.message : String(err)}.`,
    );
  }
  let array;
  try {
    array = parseNumericNpy(bytes, options.responsesPath);
  } catch (err) {
    throw new ImportError("responses-file", err instanceof Error ? err.message : String(err));
  }
  const shape = array.shape;
  if (shape.length !== 2 && shape.length !== 3) {
    throw new ImportError(
      "responses-shape",
      `Responses ${options.responsesPath} have shape (${shape.join(", ")}); expected (units, images) or (units, ` +
        `images, repeats).`,
    );
  }
  const [nUnits, nImages] = [shape[0]!, shape[1]!];
  const nRepeats = shape.length === 3 ? shape[2]! : 1;
  if (nUnits === 0 || nImages === 0 || nRepeats === 0)
    throw new ImportError(
      "responses-shape",
      `Responses ${options.responsesPath} have shape (${shape.join(", ")}) with an empty axis.`,
    );
  const images = await readNumberedImages(options.imagesPath);
  const numbers = images.map((i) => i.k);
  if (images.length !== nImages || numbers[0] !== 1 || numbers[numbers.length - 1] !== nImages) {
    const missing: number[] = [];
    const have = new Set(numbers);
    for (let k = 1; k <= nImages && missing.length < 5; k++) if (!have.has(k)) missing.push(k);
    const extra = numbers.filter((k) => k > nImages).slice(0, 5);
    throw new ImportError(
      "responses-shape",
      `Responses have ${nImages} image columns but the bank holds ${images.length} images numbered ${numbers[0]}..` +
        `${numbers[numbers.length - 1]}` +
        `${
          missing.length ? `; missing image` + `${missing.map((k) => String(k).padStart(4, "0")).join(", image")}` : ""
        }${extra.length ? `; beyond the ` + `columns: ${extra.join(", ")}` : ""}.`,
    );
  }
  const stimuli: { png: Uint8Array; width: number; height: number; origin: string }[] = [];
  for (const img of images) {
    const rgb = await decodeImage(img.bytes, `${options.imagesPath}:${img.name}`);
    stimuli.push({
      png: await encodePng(rgb),
      width: rgb.width,
      height: rgb.height,
      origin: `${basename(options.imagesPath)}:${img.name}`,
    });
  }
  const units = [];
  const flaggedUnits: string[] = [];
  for (let u = 0; u < nUnits; u++) {
    const electrode = `Electrode ${u}`;
    const slice = array.data.subarray(u * nImages * nRepeats, (u + 1) * nImages * nRepeats);
    const finite = Array.from(slice).filter((v) => !Number.isNaN(v));
    const flags: { code: "no-responses" | "constant-responses"; message: string }[] = [];
    if (finite.some((v) => !Number.isFinite(v)))
      throw new ImportError("responses-file", `${electrode} has an infinite response in ${options.responsesPath}.`);
    if (finite.length === 0)
      flags.push({
        code: "no-responses",
        message: `${electrode} has only NaN responses; kept, excluded from model fitting.`,
      });
    else if (finite.every((v) => v === finite[0]))
      flags.push({
        code: "constant-responses",
        message: `${electrode} responds identically to every image; kept, excluded from model fitting.`,
      });
    for (const f of flags) log(f.message);
    if (flags.length > 0) flaggedUnits.push(electrode);
    units.push({ electrode, sortedId: 0, flags });
  }
  if (flaggedUnits.length === nUnits) log(`every unit is flagged: this session cannot be used to fit models.`);
  const provenance = {
    kind: "imported-recording",
    images: options.imagesPath,
    responses: options.responsesPath,
    shape,
    layout: shape.length === 2 ? "units x images (repeat-averaged)" : "units x images x repeats (NaN-padded)",
    columnOfImage: "image%04d with number k is column k-1",
  };
  const result = store.importRecordedSession({
    name: options.sessionName,
    provenanceText: `${JSON.stringify(provenance, null, 2)}\n`,
    countWindow: { startMs: 0, endMs: options.durationMs ?? 100, bins: 1 },
    durationMs: options.durationMs ?? 100,
    stimuli,
    units,
    repeats: nRepeats,
    averaged: shape.length === 2,
    values: array.data,
  });
  return { ...result, flaggedUnits, shape };
}
