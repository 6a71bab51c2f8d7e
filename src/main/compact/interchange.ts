// `compact import` and `compact export`: the published .npy models in and out of the store, in
// exactly the published 36-array layout.
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { checkCompactArrays, parseNpy, type NdArray } from "../../models/compact/index.js";
import { writeFileAtomic } from "../export/atomic.js";
import type { SessionStore } from "../store/index.js";
import { compactVersion, CompactVersionError, listCompactVersions, putCompactVersion, unitOf } from "./versions.js";

export interface ImportedModel {
  file: string;
  modelVersionId: number;
  filters: number[];
}

/** compact_model_<session>_neuron<i>.npy → session and neuron index (the published naming). */
export function publishedName(file: string): { session: string; neuron: number } | undefined {
  const m = /^compact_model_(.+)_neuron(\d+)\.npy$/.exec(path.basename(file));
  return m === null ? undefined : { session: m[1]!, neuron: Number(m[2]) };
}

function npyFiles(source: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(source).isDirectory();
  } catch (err) {
    throw new CompactVersionError(
      "not-found",
      `Cannot read ${source} (${err instanceof Error ? err.message : String(err)}); nothing was imported.`,
    );
  }
  if (!isDir) return [source];
  const files = readdirSync(source)
    .filter((f) => f.endsWith(".npy"))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  if (files.length === 0)
    throw new CompactVersionError("not-found", `${source} holds no .npy files; nothing was imported.`);
  return files.map((f) => path.join(source, f));
}

/**
 * Stores published compact models (a folder of .npy files, or one file) as teacherless model
 * versions. Every file is read and checked before anything is stored: one bad file stores none.
 */
export function importCompactModels(
  store: SessionStore,
  source: string,
  log: (line: string) => void = () => {},
): ImportedModel[] {
  const files = npyFiles(source);
  const checked: { file: string; arrays: NdArray[]; filters: number[] }[] = [];
  for (const file of files) {
    const value = parseNpyFile(file);
    let filters: number[];
    try {
      filters = checkCompactArrays(value, file);
    } catch (err) {
      const more =
        files.length > 1
          ? ` None of the ${files.length} files was imported; fix or remove it and run the import again.`
          : "";
      throw new CompactVersionError("bad-format", `${err instanceof Error ? err.message : String(err)}${more}`);
    }
    checked.push({ file, arrays: value as NdArray[], filters });
  }
  const imported = store.db.transaction(() =>
    checked.map(({ file, arrays, filters }) => {
      const published = publishedName(file);
      const modelVersionId = putCompactVersion(store, {
        name: `compact ${path.basename(file, ".npy")} (imported)`,
        arrays,
        teacherId: null,
        config: { source: "import", file: path.basename(file), ...(published === undefined ? {} : { published }) },
      });
      return { file, modelVersionId, filters };
    }),
  )();
  log(`imported ${imported.length} compact model(s) from ${source}`);
  return imported;
}

function parseNpyFile(file: string): NdArray | NdArray[] {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (err) {
    throw new CompactVersionError(
      "not-found",
      `Cannot read ${file} (${err instanceof Error ? err.message : String(err)}); nothing was imported.`,
    );
  }
  try {
    return parseNpy(bytes, file);
  } catch (err) {
    throw new CompactVersionError(
      "bad-format",
      `${file} is not a readable .npy (${err instanceof Error ? err.message : String(err)}); nothing was imported.`,
    );
  }
}

export interface ExportSelection {
  /** One model version (its id). */
  modelVersionId?: number;
  /** A unit: `electrode#sortedId` or its electrode; its newest compact model (per session). */
  unit?: string;
  /** Only models of this session (id) when selecting by unit. */
  sessionId?: number;
  /** Every compact model distilled from this teacher version. */
  teacherId?: number;
}

/** Which stored compact models an export selection names (newest per unit when selecting by unit). */
export function selectCompactVersions(store: SessionStore, sel: ExportSelection): number[] {
  const all = listCompactVersions(store);
  if (sel.modelVersionId !== undefined) {
    compactVersion(store, sel.modelVersionId);
    return [sel.modelVersionId];
  }
  if (sel.teacherId !== undefined) {
    const ids = all.filter((v) => v.parentId === sel.teacherId).map((v) => v.id);
    if (ids.length === 0)
      throw new CompactVersionError(
        "not-found",
        `No compact model in ${store.file} was distilled from model version ${sel.teacherId}; run \`cortexloop ` +
          `compact list\`.`,
      );
    return ids;
  }
  if (sel.unit !== undefined) {
    const byUnit = all.filter((v) => {
      const u = unitOf(v);
      return (
        u !== undefined &&
        (u.name === sel.unit || u.electrode === sel.unit) &&
        (sel.sessionId === undefined || u.sessionId === sel.sessionId)
      );
    });
    if (byUnit.length === 0)
      throw new CompactVersionError(
        "not-found",
        `No compact model of unit "${sel.unit}"` +
          `${sel.sessionId === undefined ? "" : ` in session ${sel.sessionId}`} in ${store.file}; run \`cortexloop ` +
          `compact list\`.`,
      );
    const newest = new Map<string, number>();
    for (const v of byUnit) newest.set(`${unitOf(v)!.sessionId}/${unitOf(v)!.name}`, v.id);
    return [...newest.values()];
  }
  throw new CompactVersionError("not-found", "Name a compact model version, a unit or a teacher to export.");
}

/** The published file name for a stored model: compact_model_<session>_neuron<column>.npy, or its version id. */
export function exportFileName(store: SessionStore, id: number): string {
  const row = store.getModelVersion(id);
  const unit = row === undefined ? undefined : unitOf(row);
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, "-");
  if (unit !== undefined) return `compact_model_${safe(unit.sessionName)}_neuron${unit.column}.npy`;
  const published = row?.config.published as { session?: string; neuron?: number } | undefined;
  if (published?.session !== undefined && published.neuron !== undefined)
    return `compact_model_${safe(published.session)}_neuron${published.neuron}.npy`;
  return `compact_model_v${id}.npy`;
}

/**
 * Writes the selected models to `outDir` as published .npy files (each written to a temporary name
 * and renamed, so no partial file looks complete); the store is only read.
 */
export function exportCompactModels(
  store: SessionStore,
  sel: ExportSelection,
  outDir: string,
  log: (line: string) => void = () => {},
): { file: string; modelVersionId: number }[] {
  const ids = selectCompactVersions(store, sel);
  const models = ids.map((id) => ({ id, ...compactVersion(store, id) }));
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (err) {
    throw new CompactVersionError(
      "write-failed",
      `Cannot create ${outDir} (${err instanceof Error ? err.message : String(err)}); nothing was exported and the ` +
        `stored models are unchanged. Choose a folder you can write to.`,
    );
  }
  const names = new Set<string>();
  const out: { file: string; modelVersionId: number }[] = [];
  for (const m of models) {
    let name = exportFileName(store, m.id);
    if (names.has(name)) name = name.replace(/\.npy$/, `_v${m.id}.npy`);
    names.add(name);
    const file = path.join(outDir, name);
    try {
      writeFileAtomic(file, m.bytes, "compact model");
    } catch (err) {
      throw new CompactVersionError(
        "write-failed",
        `Cannot write ${file} (${err instanceof Error ? err.message : String(err)}); ${out.length} of ` +
          `${models.length} model(s) were written before it, the stored models are unchanged. Choose a folder you ` +
          `can write to.`,
      );
    }
    out.push({ file, modelVersionId: m.id });
  }
  log(`exported ${out.length} compact model(s) to ${outDir}`);
  return out;
}
