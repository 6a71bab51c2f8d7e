/**
 * Studies (schema 8): the closed loop over sessions on one rig. A study keeps its settings and the
 * rig it records on, and an append-only list of the steps it took (a session being recorded, then
 * recorded or interrupted; a model retrained; the next session designed; stopped or finished), so
 * that after a crash it resumes from the last step done instead of starting again.
 */
import type Database from "better-sqlite3";

export type StudyStepKind =
  | "started"
  | "resumed"
  | "recording"
  | "recorded"
  | "interrupted"
  | "retrained"
  | "compact"
  | "designed"
  | "stopped"
  | "finished";

export interface StudyRow {
  id: number;
  name: string;
  /** The rig file the study records on; null for a rig the controller simulates in its own process. */
  rigFile: string | null;
  rigText: string;
  settings: Record<string, unknown>;
  createdAt: string;
}

export interface StudyStep {
  id: number;
  at: string;
  kind: StudyStepKind;
  sessionNumber: number | null;
  sessionId: number | null;
  modelVersionId: number | null;
  detail: Record<string, unknown>;
}

/** Where a study stands, from its steps. */
export type StudyState = "running" | "stopped" | "finished";

/** A study the store refuses to start or resume: what happened, what was kept, what to do. */
export class StudyError extends Error {
  constructor(
    readonly code: "not-found" | "conflict",
    message: string,
  ) {
    super(message);
    this.name = "StudyError";
  }
}

function hasStudies(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'studies'").get() !== undefined;
}

export function createStudy(
  db: Database.Database,
  input: { name: string; rigFile: string | null; rigText: string; settings: Record<string, unknown> },
): StudyRow {
  if (db.prepare("SELECT 1 FROM studies WHERE name = ?").get(input.name) !== undefined)
    throw new StudyError(
      "conflict",
      `A study named "${input.name}" is already in this database; nothing was started. Resume it with ` +
        `\`cortexloop campaign --resume "${input.name}"\`, or name a new one with --study.`,
    );
  const createdAt = new Date().toISOString();
  const info = db
    .prepare("INSERT INTO studies (name, rig_file, rig_text, settings_json, created_at) VALUES (?, ?, ?, ?, ?)")
    .run(input.name, input.rigFile, input.rigText, JSON.stringify(input.settings), createdAt);
  return { id: Number(info.lastInsertRowid), ...input, createdAt };
}

type RawStudy = {
  id: number;
  name: string;
  rig_file: string | null;
  rig_text: string;
  settings_json: string;
  created_at: string;
};

function study(r: RawStudy): StudyRow {
  return {
    id: r.id,
    name: r.name,
    rigFile: r.rig_file,
    rigText: r.rig_text,
    settings: JSON.parse(r.settings_json) as Record<string, unknown>,
    createdAt: r.created_at,
  };
}

export function listStudies(db: Database.Database): StudyRow[] {
  if (!hasStudies(db)) return [];
  return (db.prepare("SELECT * FROM studies ORDER BY id").all() as RawStudy[]).map(study);
}

/** A study by id or exact name (a name made of digits is tried as an id first). */
export function findStudy(db: Database.Database, ref: string | number): StudyRow | undefined {
  if (!hasStudies(db)) return undefined;
  const text = String(ref);
  let r: RawStudy | undefined;
  if (/^\d+$/.test(text)) r = db.prepare("SELECT * FROM studies WHERE id = ?").get(Number(text)) as RawStudy;
  r ??= db.prepare("SELECT * FROM studies WHERE name = ?").get(text) as RawStudy | undefined;
  return r === undefined ? undefined : study(r);
}

export function appendStudyStep(
  db: Database.Database,
  studyId: number,
  step: {
    kind: StudyStepKind;
    sessionNumber?: number;
    sessionId?: number;
    modelVersionId?: number;
    detail?: Record<string, unknown>;
  },
): void {
  db.prepare(
    "INSERT INTO study_steps (study_id, at, kind, session_number, session_id, model_version_id, detail_json) " +
      "VALUES (?, ?, ?, ?, ?, ?, ?)",
  ).run(
    studyId,
    new Date().toISOString(),
    step.kind,
    step.sessionNumber ?? null,
    step.sessionId ?? null,
    step.modelVersionId ?? null,
    JSON.stringify(step.detail ?? {}),
  );
}

export function studySteps(db: Database.Database, studyId: number): StudyStep[] {
  type Raw = {
    id: number;
    at: string;
    kind: StudyStepKind;
    session_number: number | null;
    session_id: number | null;
    model_version_id: number | null;
    detail_json: string;
  };
  return (db.prepare("SELECT * FROM study_steps WHERE study_id = ? ORDER BY id").all(studyId) as Raw[]).map((r) => ({
    id: r.id,
    at: r.at,
    kind: r.kind,
    sessionNumber: r.session_number,
    sessionId: r.session_id,
    modelVersionId: r.model_version_id,
    detail: JSON.parse(r.detail_json) as Record<string, unknown>,
  }));
}

export function studyState(steps: readonly StudyStep[]): StudyState {
  const last = [...steps].reverse().find((s) => s.kind === "finished" || s.kind === "stopped");
  return last?.kind === "finished" ? "finished" : last?.kind === "stopped" ? "stopped" : "running";
}
