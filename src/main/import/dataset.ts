// Reads a stored session back as a SessionDataset (decoded, resized images + float responses).
import type { SessionDataset } from "../../models/data/dataset.js";
import type { SessionStore } from "../store/index.js";
import { decodeImage, resizeImage } from "../../stimulus/index.js";

/** Finds a session by exact name, id or uuid prefix. */
export function resolveSession(store: SessionStore, ref: string): number {
  const byName = store.findSessionsByName(ref);
  if (byName.length > 1)
    throw new Error(
      `${byName.length} sessions are named "${ref}" (ids ${byName.map((s) => s.id).join(", ")}); name one by id.`,
    );
  if (byName.length === 1) return byName[0]!.id;
  const s = store.findSession(ref);
  if (s === undefined)
    throw new Error(`No session "${ref}" in ${store.file}; run \`cortexloop sessions\` to list them.`);
  return s.id;
}

/**
 * Imported sessions carry float responses (recorded_responses); sessions run here carry spike
 * counts, summed over bins. Either way the result is `[unit][image][repeat]`.
 */
export async function loadSessionDataset(
  store: SessionStore,
  sessionId: number,
  imageSize = 112,
): Promise<SessionDataset> {
  const session = store.findSession(sessionId);
  if (session === undefined) throw new Error(`loadSessionDataset: no session ${sessionId} in ${store.file}`);
  const units = store.units(sessionId);
  const flagged = new Set(store.unitFlags(sessionId).map((f) => f.unitId));
  const presentations = store.presentations(sessionId).filter((p) => p.status !== "skipped");
  const imageOf = new Map<string, number>();
  const keys: string[] = [];
  for (const p of presentations) {
    if (!imageOf.has(p.stimulusSha256)) {
      imageOf.set(p.stimulusSha256, keys.length);
      keys.push(p.stimulusSha256);
    }
  }
  const unitIdx = new Map(units.map((u, i) => [u.id, i]));
  const values = new Map<number, Map<number, number>>(); // presentation → unit → value
  let averaged = false;
  const rows = store.recordedResponseRows(sessionId);
  if (rows.length > 0) {
    for (const r of rows) {
      averaged = r.averaged;
      if (r.value === null) continue;
      let m = values.get(r.presentationIdx);
      if (m === undefined) values.set(r.presentationIdx, (m = new Map()));
      m.set(r.unitId, r.value);
    }
  } else {
    for (const c of store.spikeCounts(sessionId)) {
      let m = values.get(c.presentationIdx);
      if (m === undefined) values.set(c.presentationIdx, (m = new Map()));
      m.set(c.unitId, (m.get(c.unitId) ?? 0) + c.count);
    }
  }
  const repeatOf: number[] = [];
  const seen = new Array<number>(keys.length).fill(0);
  for (const p of presentations) repeatOf.push(seen[imageOf.get(p.stimulusSha256)!]!++);
  const repeats = Math.max(1, ...seen);
  const nU = units.length;
  const nI = keys.length;
  const responses = new Float64Array(nU * nI * repeats).fill(Number.NaN);
  presentations.forEach((p, j) => {
    const m = values.get(p.idx);
    if (m === undefined) return;
    const i = imageOf.get(p.stimulusSha256)!;
    for (const [unitId, v] of m) responses[(unitIdx.get(unitId)! * nI + i) * repeats + repeatOf[j]!] = v;
  });
  const images: Uint8Array[] = [];
  for (const sha of keys) {
    const png = store.getStimulusPng(sha);
    if (png === undefined)
      throw new Error(`loadSessionDataset: stimulus ${sha} of session ${sessionId} is missing from ${store.file}`);
    images.push((await resizeImage(await decodeImage(png, sha), imageSize, imageSize)).pixels0to255);
  }
  const usable = units.map((u, i) => {
    if (flagged.has(u.id)) return false;
    for (let k = 0; k < nI * repeats; k++) if (!Number.isNaN(responses[i * nI * repeats + k]!)) return true;
    return false;
  });
  return {
    sessionId,
    name: session.name,
    imageSize,
    images,
    imageKeys: keys,
    unitNames: units.map((u) => u.electrode),
    usable,
    repeats,
    averaged,
    responses,
  };
}
