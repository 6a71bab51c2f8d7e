// What a distillation reads: the teacher (a stored deep ensemble and the readout of one session), the
// units to distill, the image stream (the session's stimuli, a bank's natural images, their gaudy
// versions) split into training, pruning and held-out images, and the recorded responses to score on.
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { loadEnsemble, type DeepEnsemble } from "../../models/ensemble/index.js";
import { SeededRandom } from "../../models/data/random.js";
import type { FrontEndSpec } from "../../models/frontend/index.js";
import type { ImageStream } from "../../models/compact/index.js";
import { r2er, r2Raw } from "../../models/metrics/index.js";
import { decodeImage, gaudy, isImageName, readZipEntries, resizeImage } from "../../stimulus/index.js";
import type { SessionStore } from "../store/index.js";
import { resolveSession } from "../import/dataset.js";
import { ENSEMBLE_KINDS, type CompactUnit } from "./versions.js";

export class DistillInputError extends Error {
  constructor(
    readonly code: "not-found" | "not-ensemble" | "no-unit" | "no-images",
    message: string,
  ) {
    super(message);
    this.name = "DistillInputError";
  }
}

export interface Teacher {
  modelVersionId: number;
  ensemble: DeepEnsemble;
  /** Front end the ensemble was trained on (its name) and how to load it, where the version recorded it. */
  frontEndName: string;
  frontEndSpec?: FrontEndSpec;
  imageSize: number;
  /** Stimulus hashes the teacher held out (the campaign's test images), if it recorded them. */
  testHashes: string[];
  sessionIds: number[];
}

/** Loads a stored deep ensemble; anything else (or nothing) is a clear error, and nothing is changed. */
export function loadTeacher(store: SessionStore, modelVersionId: number): Teacher {
  const v = store.getModelVersion(modelVersionId);
  if (v === undefined)
    throw new DistillInputError(
      "not-found",
      `No model version ${modelVersionId} in ${store.file}; nothing was distilled. Run \`cortexloop models\` to ` +
        `list them.`,
    );
  if (!ENSEMBLE_KINDS.includes(v.kind))
    throw new DistillInputError(
      "not-ensemble",
      `Model version ${modelVersionId} is a ${v.kind}, not a deep ensemble; compact models are distilled from an ` +
        `ensemble. Nothing was distilled; pick a deep-ensemble version from \`cortexloop models\`.`,
    );
  if (v.checkpoint === null)
    throw new DistillInputError(
      "not-found",
      `Model version ${modelVersionId} has no weights stored; nothing was distilled.`,
    );
  const { ensemble, frontEnd } = loadEnsemble(v.checkpoint, `model version ${modelVersionId}`);
  const testHashes = Array.isArray(v.config.testHashes)
    ? (v.config.testHashes as unknown[]).filter((h): h is string => typeof h === "string")
    : [];
  return {
    modelVersionId,
    ensemble,
    frontEndName: frontEnd,
    frontEndSpec: v.config.frontEndSpec as FrontEndSpec | undefined,
    imageSize: typeof v.config.imageSize === "number" ? v.config.imageSize : 112,
    testHashes,
    sessionIds: v.sessionIds,
  };
}

/**
 * The session(s) a readout key was trained on: evaluate/train key by session id, the campaign by `session-<id>` or
 * `pooled`.
 */
export function readoutSessions(key: string, teacherSessions: readonly number[]): number[] {
  if (/^\d+$/.test(key)) return [Number(key)];
  const m = /^session-(\d+)$/.exec(key);
  if (m !== null) return [Number(m[1])];
  return [...teacherSessions].sort((a, b) => a - b);
}

export interface ReadoutChoice {
  key: string;
  /** The sessions whose recorded responses the readout was fitted on (one, or every pooled session). */
  sessionIds: number[];
  /** The session whose unit list orders the readout's columns. */
  sessionId: number;
}

/** The readout for `sessionRef` (name or id), or the newest session's by default. */
export function chooseReadout(store: SessionStore, teacher: Teacher, sessionRef?: string): ReadoutChoice {
  const keys = teacher.ensemble.sessionKeys();
  if (keys.length === 0)
    throw new DistillInputError(
      "not-found",
      `Model version ${teacher.modelVersionId} has no readout; nothing was distilled.`,
    );
  const choices = keys.map((key) => {
    const sessionIds = readoutSessions(key, teacher.sessionIds);
    return { key, sessionIds, sessionId: sessionIds[0]! };
  });
  if (sessionRef === undefined)
    return choices.reduce((a, b) => (Math.max(...b.sessionIds) > Math.max(...a.sessionIds) ? b : a));
  const id = resolveSession(store, sessionRef);
  const found = choices.find((c) => c.sessionIds.includes(id));
  if (found === undefined)
    throw new DistillInputError(
      "not-found",
      `Model version ${teacher.modelVersionId} has no readout for session ${sessionRef} (id ${id}); its readouts ` +
        `cover sessions ${choices.flatMap((c) => c.sessionIds).join(", ")}. Nothing was distilled.`,
    );
  return found;
}

/**
 * The units to distill, in readout-column order: those named (`electrode#sortedId` or an electrode
 * that names one unit), or every unit not flagged at import. A name that is not a unit of the
 * session is a clear error.
 */
export function chooseUnits(
  store: SessionStore,
  readout: ReadoutChoice,
  names?: readonly string[],
  maxUnits?: number,
): CompactUnit[] {
  const session = store.findSession(readout.sessionId);
  if (session === undefined)
    throw new DistillInputError(
      "not-found",
      `Session ${readout.sessionId} is not in ${store.file}; nothing was distilled.`,
    );
  const all = store.units(readout.sessionId).map((u, column) => ({
    sessionId: readout.sessionId,
    sessionName: session.name,
    unitId: u.id,
    electrode: u.electrode,
    sortedId: u.sortedId,
    name: `${u.electrode}#${u.sortedId}`,
    column,
  }));
  let chosen: CompactUnit[];
  if (names === undefined || names.length === 0) {
    const flagged = new Set(store.unitFlags(readout.sessionId).map((f) => f.unitId));
    chosen = all.filter((u) => !flagged.has(u.unitId));
  } else {
    chosen = names.map((n) => {
      const exact = all.find((u) => u.name === n);
      if (exact !== undefined) return exact;
      const byElectrode = all.filter((u) => u.electrode === n);
      if (byElectrode.length === 1) return byElectrode[0]!;
      const list = all
        .slice(0, 12)
        .map((u) => u.name)
        .join(", ");
      throw new DistillInputError(
        "no-unit",
        `Unit "${n}" ` +
          `${byElectrode.length > 1 ? "names several units (give electrode#sortedId)" : "is not recorded"} in ` +
          `session ${session.name} (id ${session.id}); its units are ${list}` +
          `${all.length > 12 ? `, … (${all.length})` : ""}. Nothing was distilled.`,
      );
    });
  }
  const out = maxUnits === undefined ? chosen : chosen.slice(0, maxUnits);
  if (out.length === 0)
    throw new DistillInputError("no-unit", `Session ${session.name} has no unit to distill; nothing was distilled.`);
  return out;
}

/** The image stream in memory, with where each image came from. */
export interface MemoryStream extends ImageStream {
  images: Uint8Array[];
  /** Stimulus hash for stored images; `bank:<name>` for bank images; `gaudy:<key>` for gaudy versions. */
  keys: string[];
  kinds: ("session" | "bank" | "gaudy")[];
  /** The natural image each image derives from (itself, or the image a gaudy version was made from). */
  group: number[];
}

async function bankFiles(bank: string): Promise<{ name: string; read: () => Promise<Uint8Array> }[]> {
  let isDir: boolean;
  try {
    isDir = (await stat(bank)).isDirectory();
  } catch (err) {
    throw new DistillInputError(
      "no-images",
      `Cannot read the image bank ${bank} (${err instanceof Error ? err.message : String(err)}); nothing was ` +
        `distilled.`,
    );
  }
  if (isDir) {
    const names = (await readdir(bank)).filter(isImageName).sort();
    return names.map((name) => ({ name, read: () => readFile(path.join(bank, name)) }));
  }
  const entries = await readZipEntries(bank, isImageName);
  return entries.sort((a, b) => (a.name < b.name ? -1 : 1)).map((e) => ({ name: e.name, read: async () => e.data }));
}

export interface StreamOptions {
  /** Sessions whose stored stimuli join the stream (what the experiment showed: natural, gaudy, picked). */
  sessionIds: readonly number[];
  /** Extra natural images: zips or folders. */
  bank?: readonly string[];
  /** At most this many bank images in all. */
  bankMax?: number;
  /** More natural images already in memory (size×size×3); e.g. the campaign's image bank. */
  extra?: readonly { key: string; pixels: Uint8Array }[];
  /** Add the gaudy version of every natural image (default true). */
  gaudy?: boolean;
  size: number;
  log?: (line: string) => void;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function pixelHash(pixels: Uint8Array): string {
  return createHash("sha1").update(pixels).digest("hex");
}

/**
 * Builds the stream: the sessions' stimuli (each once), the bank's and the extra images (each
 * picture once: one already shown is not added again, so a held-out stimulus stays held out), then
 * gaudy versions.
 */
export async function buildStream(store: SessionStore, o: StreamOptions): Promise<MemoryStream> {
  const images: Uint8Array[] = [];
  const keys: string[] = [];
  const kinds: MemoryStream["kinds"] = [];
  const seen = new Set<string>();
  const pictures = new Set<string>();
  const addNatural = (pixels: Uint8Array, key: string, kind: "session" | "bank"): boolean => {
    if (pixels.length !== o.size * o.size * 3)
      throw new DistillInputError(
        "no-images",
        `Image ${key} has ${pixels.length} bytes, expected ${o.size}x${o.size}x3; nothing was distilled.`,
      );
    const h = pixelHash(pixels);
    if (pictures.has(h)) return false;
    pictures.add(h);
    images.push(pixels);
    keys.push(key);
    kinds.push(kind);
    return true;
  };
  for (const id of o.sessionIds) {
    for (const p of store.presentations(id)) {
      if (seen.has(p.stimulusSha256)) continue;
      seen.add(p.stimulusSha256);
      const png = store.getStimulusPng(p.stimulusSha256);
      if (png === undefined) continue;
      addNatural(
        (await resizeImage(await decodeImage(png, p.stimulusSha256), o.size, o.size)).pixels0to255,
        p.stimulusSha256,
        "session",
      );
    }
  }
  let extra = 0;
  for (const e of o.extra ?? []) if (addNatural(e.pixels, `bank:${e.key}`, "bank")) extra++;
  if (o.extra !== undefined)
    o.log?.(
      `image stream: ${extra} natural images from the bank (${o.extra.length - extra} already among the shown stimuli)`,
    );
  let fromBanks = 0;
  for (const bank of o.bank ?? []) {
    const files = await bankFiles(bank);
    let added = 0;
    for (const f of files) {
      if (o.bankMax !== undefined && fromBanks >= o.bankMax) break;
      if (
        addNatural(
          (await resizeImage(await decodeImage(await f.read(), `${bank}:${f.name}`), o.size, o.size)).pixels0to255,
          `bank:${path.basename(bank)}:${f.name}`,
          "bank",
        )
      ) {
        added++;
        fromBanks++;
      }
    }
    o.log?.(`image stream: ${added} natural images from ${bank}`);
  }
  const natural = images.length;
  if (natural === 0)
    throw new DistillInputError(
      "no-images",
      `The teacher's sessions hold no stored images` +
        `${(o.bank ?? []).length === 0 ? " and no --bank was given" : ""}; nothing was distilled.`,
    );
  const group = Array.from({ length: natural }, (_, i) => i);
  if (o.gaudy ?? true) {
    for (let i = 0; i < natural; i++) {
      const g = gaudy({ width: o.size, height: o.size, pixels0to255: images[i]! }).pixels0to255;
      // A stimulus that is already gaudy gives itself back.
      if (sameBytes(g, images[i]!)) continue;
      images.push(g);
      keys.push(`gaudy:${keys[i]}`);
      kinds.push("gaudy");
      group.push(i);
    }
  }
  o.log?.(`image stream: ${natural} natural or shown images and ${images.length - natural} gaudy versions`);
  return { count: images.length, size: o.size, pixels: (i) => images[i]!, images, keys, kinds, group };
}

export interface StreamSplit {
  train: number[];
  /** Student-teacher R² is reported on these (and recorded responses are scored on those that have them). */
  heldOut: number[];
  /** Pruning measures output variance on these. */
  prune: number[];
  /** The pruning check scores each pruning on these: never trained on, by the shared model or a unit's retraining. */
  validation: number[];
}

/**
 * Splits by natural image (an image and its gaudy version go together): the teacher's held-out
 * images and `heldOutHashes` are held out, then a seeded `fraction` of the rest (at most `maxHeldOut`
 * images), then `pruneImages` for pruning, then `validationImages` for the pruning check (at most a
 * quarter of the images left); everything else trains.
 */
export function splitStream(
  stream: MemoryStream,
  o: {
    heldOutHashes: ReadonlySet<string>;
    fraction: number;
    maxHeldOut: number;
    pruneImages: number;
    validationImages: number;
    seed: number;
  },
): StreamSplit {
  const groups = new Map<number, number[]>();
  stream.group.forEach((g, i) => groups.set(g, [...(groups.get(g) ?? []), i]));
  const forced = new Set<number>();
  stream.keys.forEach((k, i) => {
    if (o.heldOutHashes.has(k)) forced.add(stream.group[i]!);
  });
  const rest = new SeededRandom(o.seed * 31 + 7).shuffle(
    [...groups.keys()].filter((g) => !forced.has(g)).sort((a, b) => a - b),
  );
  const heldOut = [...forced].flatMap((g) => groups.get(g)!);
  let at = 0;
  const extra = Math.round(rest.length * o.fraction);
  for (; at < rest.length && at < extra && heldOut.length < o.maxHeldOut; at++) heldOut.push(...groups.get(rest[at]!)!);
  /** The next groups of `rest`, until they hold at least `count` images. */
  const take = (count: number): number[] => {
    const out: number[] = [];
    for (; at < rest.length && out.length < count; at++) out.push(...groups.get(rest[at]!)!);
    return out;
  };
  const prune = take(o.pruneImages);
  // A small stream keeps most of its images to train on: the check takes at most a quarter of the images left.
  const left = rest.slice(at).reduce((n, g) => n + groups.get(g)!.length, 0);
  const validation = take(Math.min(o.validationImages, Math.floor(left / 4)));
  const train = rest.slice(at).flatMap((g) => groups.get(g)!);
  if (train.length < 8)
    throw new DistillInputError(
      "no-images",
      `Only ${train.length} images are left to train on after holding out ${heldOut.length}, ${prune.length} ` +
        `for pruning and ${validation.length} to check it; nothing was distilled. Give more images (--bank).`,
    );
  const sort = (a: number[]): number[] => a.sort((x, y) => x - y);
  return { train: sort(train), heldOut: sort(heldOut), prune: sort(prune), validation: sort(validation) };
}

/** Recorded responses of a readout's units, by stimulus hash: what the students and the teacher are scored against. */
export interface RecordedResponses {
  /**
   * Per unit name, per stimulus hash, the responses of each repeat (spike counts summed over bins, or imported values).
   */
  byUnit: Map<string, Map<string, number[]>>;
}

/**
 * Scores predictions of one unit against its recorded responses: r²_ER on the images recorded with
 * at least 2 repeats where there are 3 or more of them (a campaign's test images), else raw R² of
 * the repeat means on every image recorded (sessions imported repeat-averaged).
 */
export function scoreRecorded(
  predictions: ArrayLike<number>,
  keys: readonly string[],
  responses: Map<string, number[]> | undefined,
): { metric: "r2er" | "r2raw"; value: number; images: number } {
  if (responses === undefined) return { metric: "r2raw", value: Number.NaN, images: 0 };
  const finite = (k: string): number[] => (responses.get(k) ?? []).filter((v) => Number.isFinite(v));
  const recorded = keys.map((k, j) => ({ j, reps: finite(k) })).filter((r) => r.reps.length > 0);
  const repeated = recorded.filter((r) => r.reps.length >= 2);
  if (repeated.length >= 3) {
    const x = Float64Array.from(repeated, (r) => predictions[r.j]!);
    const n = Math.max(...repeated.map((r) => r.reps.length));
    const y = Array.from({ length: n }, (_, i) => Float64Array.from(repeated, (r) => r.reps[i] ?? Number.NaN));
    return { metric: "r2er", value: r2er(x, y).r2er, images: repeated.length };
  }
  if (recorded.length < 3) return { metric: "r2raw", value: Number.NaN, images: recorded.length };
  const x = Float64Array.from(recorded, (r) => predictions[r.j]!);
  const mean = Float64Array.from(recorded, (r) => r.reps.reduce((a, b) => a + b, 0) / r.reps.length);
  return { metric: "r2raw", value: r2Raw(x, mean), images: recorded.length };
}

/**
 * Recorded responses of the named units in the given sessions, pooled by stimulus: imported sessions'
 * values, or runner sessions' spike counts summed over bins, from presentations whose counts are
 * complete (a unit with no stored row in a complete presentation fired no spike).
 */
export function recordedResponses(
  store: SessionStore,
  sessionIds: readonly number[],
  unitNames: readonly string[],
): RecordedResponses {
  const byUnit = new Map<string, Map<string, number[]>>(unitNames.map((n) => [n, new Map()]));
  const push = (unit: string, sha: string, v: number): void => {
    const m = byUnit.get(unit);
    if (m === undefined) return;
    const list = m.get(sha);
    if (list === undefined) m.set(sha, [v]);
    else list.push(v);
  };
  for (const id of sessionIds) {
    const units = store.units(id);
    const nameOf = new Map(units.map((u) => [u.id, `${u.electrode}#${u.sortedId}`]));
    const stimulusOf = new Map(store.presentations(id).map((p) => [p.idx, p.stimulusSha256]));
    const imported = store.recordedResponseRows(id);
    if (imported.length > 0) {
      for (const r of imported) {
        const sha = stimulusOf.get(r.presentationIdx);
        if (r.value !== null && sha !== undefined) push(nameOf.get(r.unitId) ?? "", sha, r.value);
      }
      continue;
    }
    const complete = new Set(
      store
        .countResults(id)
        .filter((r) => r.complete)
        .map((r) => r.presentationIdx),
    );
    const sums = new Map<number, Map<number, number>>();
    for (const c of store.spikeCounts(id)) {
      if (!complete.has(c.presentationIdx)) continue;
      let m = sums.get(c.presentationIdx);
      if (m === undefined) sums.set(c.presentationIdx, (m = new Map()));
      m.set(c.unitId, (m.get(c.unitId) ?? 0) + c.count);
    }
    for (const idx of complete) {
      const sha = stimulusOf.get(idx);
      if (sha === undefined) continue;
      const m = sums.get(idx);
      for (const u of units) push(nameOf.get(u.id)!, sha, m?.get(u.id) ?? 0);
    }
  }
  return { byUnit };
}
