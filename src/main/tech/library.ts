/**
 * The protocol library: protocol files in the configured folders and the protocols stored in the database, each
 * validated by the protocol parser, with its image and presentation counts and an estimate of its duration. Images
 * are counted, never decoded (a folder's names, a zip's entries), so a large library lists quickly.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import yauzl from "yauzl";
import { isImageName } from "../../stimulus/image.js";
import { InvalidFileError, parseProtocolText } from "../protocol/load.js";
import type { ImageSource, Protocol } from "../protocol/schema.js";
import type { SessionStore } from "../store/index.js";
import type { LibraryBlock, LibraryEntry } from "./types.js";

export type { LibraryBlock, LibraryEntry } from "./types.js";

export interface LibraryOptions {
  /** Folders of protocol files, searched with their sub-folders (rig files and JSON Schemas are left out). */
  dirs: readonly string[];
  store?: SessionStore;
  /** Most files read per folder (default 500). */
  maxFiles?: number;
}

function zipImageCount(file: string): Promise<number> {
  return new Promise((done, fail) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || zip === undefined) {
        fail(new Error(`${file} is not a readable zip file (${err?.message ?? "unknown error"})`));
        return;
      }
      let n = 0;
      zip.on("entry", (entry: yauzl.Entry) => {
        if (!entry.fileName.endsWith("/") && isImageName(entry.fileName)) n++;
        zip.readEntry();
      });
      zip.on("end", () => done(n));
      zip.on("error", (e: Error) => fail(e));
      zip.readEntry();
    });
  });
}

/** Images a source holds, without decoding them; null (with a note) when they cannot be counted from here. */
async function countSource(
  name: string,
  source: ImageSource,
  base: string | undefined,
  store: SessionStore | undefined,
  notes: string[],
): Promise<number | null> {
  if (source.kind === "generator") return source.count;
  if (source.kind === "stored") {
    if (store !== undefined) {
      const missing = new Set(source.hashes.filter((h) => store.getStimulusPng(h) === undefined));
      if (missing.size > 0) notes.push(`source "${name}": ${missing.size} stored image(s) are not in this database`);
    }
    return source.hashes.length;
  }
  if (base === undefined) {
    notes.push(`source "${name}": ${source.kind} ${source.path} is relative to a file this stored copy does not name`);
    return null;
  }
  const path = resolve(base, source.path);
  try {
    if (source.kind === "folder") return readdirSync(path).filter(isImageName).length;
    return await zipImageCount(path);
  } catch (err) {
    notes.push(`source "${name}": ${path} could not be read (${err instanceof Error ? err.message : String(err)})`);
    return null;
  }
}

/** Counts and duration of a valid protocol; `file` resolves folder and zip sources (undefined for stored copies). */
export async function describeProtocol(
  protocol: Protocol,
  file: string | undefined,
  store?: SessionStore,
): Promise<Pick<LibraryEntry, "images" | "presentations" | "durationMs" | "blocks" | "notes">> {
  const notes: string[] = [];
  const base = file === undefined ? undefined : dirname(resolve(file));
  const counts = new Map<string, number | null>();
  for (const name of new Set(protocol.blocks.map((b) => b.source)))
    counts.set(name, await countSource(name, protocol.sources[name]!, base, store, notes));
  const blocks: LibraryBlock[] = protocol.blocks.map((b) => {
    const all = counts.get(b.source) ?? null;
    return {
      name: b.name,
      source: b.source,
      repeats: b.repeats,
      images: all === null ? null : b.maxImages === undefined ? all : Math.min(all, b.maxImages),
    };
  });
  const known = [...counts.values()];
  const images = known.some((n) => n === null) ? null : known.reduce<number>((s, n) => s + n!, 0);
  const presentations = blocks.some((b) => b.images === null)
    ? null
    : blocks.reduce((s, b) => s + b.images! * b.repeats, 0);
  const t = protocol.timing;
  const durationMs = presentations === null ? null : t.fixationMs + presentations * (t.stimulusMs + t.interStimulusMs);
  return { images, presentations, durationMs, blocks, notes };
}

function looksLikeOtherJson(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
    const o = v as Record<string, unknown>;
    // A rig file (RIG_PROTOCOL.md section 4) or a JSON Schema lives beside protocols without being one.
    return ("acquisition" in o && "eventCodes" in o) || ("properties" in o && "type" in o && !("blocks" in o));
  } catch {
    return false;
  }
}

function protocolFiles(dir: string, maxFiles: number): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (out.length >= maxFiles || name.startsWith(".") || name === "node_modules") continue;
      const p = join(d, name);
      let isDir: boolean;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        continue;
      }
      if (isDir) {
        if (depth < 3) walk(p, depth + 1);
      } else if (name.toLowerCase().endsWith(".json") && !name.toLowerCase().endsWith("schema.json")) out.push(p);
    }
  };
  walk(dir, 0);
  return out;
}

function invalidEntry(base: Omit<LibraryEntry, "valid" | "error">, err: unknown): LibraryEntry {
  const error =
    err instanceof InvalidFileError
      ? `${err.problems.join("; ")}`
      : `could not be read: ${err instanceof Error ? err.message : String(err)}`;
  return { ...base, valid: false, error };
}

const emptyCounts = {
  sha256: null,
  description: null,
  images: null,
  presentations: null,
  durationMs: null,
  timing: null,
  blocks: [],
  notes: [],
  sessions: 0,
  createdAt: null,
};

/** One protocol file of the library (also used to re-check a file before a dry run). */
export async function libraryFileEntry(file: string, store?: SessionStore): Promise<LibraryEntry | undefined> {
  const base = { ...emptyCounts, id: `file:${file}`, origin: "file" as const, location: file, name: basename(file) };
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return invalidEntry(base, err);
  }
  if (looksLikeOtherJson(text)) return undefined;
  try {
    const loaded = parseProtocolText(file, text);
    const p = loaded.protocol;
    return {
      ...base,
      name: p.name,
      sha256: loaded.sha256,
      valid: true,
      error: null,
      description: p.description ?? null,
      timing: p.timing,
      ...(await describeProtocol(p, file, store)),
    };
  } catch (err) {
    return invalidEntry(base, err);
  }
}

interface StoredProtocolRow {
  id: number;
  name: string;
  sha256: string;
  text: string;
  createdAt: string;
  sessions: number;
}

/** The protocols stored in the database (each session's exact text), imports' provenance records left out. */
export async function storedProtocolEntries(store: SessionStore): Promise<LibraryEntry[]> {
  const rows = store.db
    .prepare(
      `SELECT p.id, p.name, p.sha256, p.text, p.created_at AS createdAt,
              (SELECT count(*) FROM sessions s WHERE s.protocol_id = p.id) AS sessions
         FROM protocols p WHERE p.name NOT LIKE 'import: %' ORDER BY p.id`,
    )
    .all() as StoredProtocolRow[];
  const out: LibraryEntry[] = [];
  for (const row of rows) {
    const base = {
      ...emptyCounts,
      id: `stored:${row.id}`,
      origin: "stored" as const,
      location: `stored protocol #${row.id}`,
      name: row.name,
      sha256: row.sha256,
      sessions: row.sessions,
      createdAt: row.createdAt,
    };
    try {
      const p = parseProtocolText(`stored protocol #${row.id}`, row.text).protocol;
      out.push({
        ...base,
        name: p.name,
        valid: true,
        error: null,
        description: p.description ?? null,
        timing: p.timing,
        ...(await describeProtocol(p, undefined, store)),
      });
    } catch (err) {
      out.push(invalidEntry(base, err));
    }
  }
  return out;
}

/** Every protocol file under the folders (in order, each file once), then the stored protocols. */
export async function protocolLibrary(options: LibraryOptions): Promise<LibraryEntry[]> {
  const seen = new Set<string>();
  const out: LibraryEntry[] = [];
  for (const dir of options.dirs) {
    for (const file of protocolFiles(resolve(dir), options.maxFiles ?? 500)) {
      if (seen.has(file)) continue;
      seen.add(file);
      const entry = await libraryFileEntry(file, options.store);
      if (entry !== undefined) out.push(entry);
    }
  }
  if (options.store !== undefined) out.push(...(await storedProtocolEntries(options.store)));
  return out;
}
