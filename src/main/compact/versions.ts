// Compact models as model versions: the checkpoint is the published .npy (36 arrays), so what is
// stored is exactly what `compact export` writes and what any reader of the published models reads.
import {
  checkCompactArrays,
  compactParameterCount,
  npyObjectArrayBytes,
  parseNpy,
  type NdArray,
} from "../../models/compact/index.js";
import type { ModelVersionRow, SessionStore } from "../store/index.js";

export const COMPACT_KIND = "compact-model";
export const ENSEMBLE_KINDS: readonly string[] = ["deep-ensemble", "deep-ensemble-checkpoint"];

/** The recorded unit a compact model predicts (absent for imported, teacherless models). */
export interface CompactUnit {
  sessionId: number;
  sessionName: string;
  /** The store's unit id. */
  unitId: number;
  electrode: string;
  sortedId: number;
  /** `electrode#sortedId`, as the campaign and the review name units. */
  name: string;
  /** Column of the unit in its session's readout (and in the session's unit list). */
  column: number;
}

export interface CompactVersionInput {
  name: string;
  arrays: NdArray[];
  /** The teacher (deep ensemble) version; null for an imported model. */
  teacherId: number | null;
  unit?: CompactUnit;
  sessionIds?: number[];
  config?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/** Stores one compact model; its arrays are checked first, so a bad set stores nothing. */
export function putCompactVersion(store: SessionStore, input: CompactVersionInput): number {
  const filters = checkCompactArrays(input.arrays, input.name);
  return store.putModelVersion({
    name: input.name,
    kind: COMPACT_KIND,
    parentId: input.teacherId,
    metrics: { filters, parameters: compactParameterCount(filters), ...input.metrics },
    config: {
      format: "published-npy-36",
      filters,
      teacher: input.teacherId,
      ...(input.unit === undefined ? {} : { unit: input.unit }),
      ...input.config,
    },
    checkpoint: npyObjectArrayBytes(input.arrays),
    sessionIds: input.sessionIds ?? (input.unit === undefined ? [] : [input.unit.sessionId]),
  });
}

export class CompactVersionError extends Error {
  constructor(
    readonly code: "not-found" | "not-compact" | "corrupt" | "bad-format" | "write-failed",
    message: string,
  ) {
    super(message);
    this.name = "CompactVersionError";
  }
}

/** A stored compact model's arrays (checked), with its row. */
export function compactVersion(
  store: SessionStore,
  id: number,
): { row: ModelVersionRow; arrays: NdArray[]; bytes: Uint8Array } {
  const v = store.getModelVersion(id);
  if (v === undefined)
    throw new CompactVersionError(
      "not-found",
      `No model version ${id} in ${store.file}; run \`cortexloop compact list\` to see the compact models.`,
    );
  if (v.kind !== COMPACT_KIND)
    throw new CompactVersionError(
      "not-compact",
      `Model version ${id} is a ${v.kind}, not a compact model; run \`cortexloop compact list\` to see the compact ` +
        `models.`,
    );
  if (v.checkpoint === null)
    throw new CompactVersionError(
      "corrupt",
      `Compact model version ${id} has no weights stored; distill or import it again.`,
    );
  const bytes = new Uint8Array(v.checkpoint);
  const { checkpoint: _bytes, ...row } = v;
  let arrays: NdArray[];
  try {
    const value = parseNpy(bytes, `model version ${id}`);
    checkCompactArrays(value, `model version ${id}`);
    arrays = value as NdArray[];
  } catch (err) {
    throw new CompactVersionError(
      "corrupt",
      `Compact model version ${id} cannot be read (${err instanceof Error ? err.message : String(err)}); nothing ` +
        `was changed. Distill or import it again.`,
    );
  }
  return { row, arrays, bytes };
}

/** Every stored compact model, oldest first. */
export function listCompactVersions(store: SessionStore): ModelVersionRow[] {
  return store.listModelVersions().filter((v) => v.kind === COMPACT_KIND);
}

export function unitOf(row: ModelVersionRow): CompactUnit | undefined {
  const u = row.config.unit as CompactUnit | undefined;
  return u !== undefined && typeof u.name === "string" ? u : undefined;
}
