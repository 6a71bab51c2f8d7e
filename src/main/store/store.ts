import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { sha256Hex } from "../protocol/load.js";
import { migrate } from "./migrations.js";
import type {
  FaultRecord,
  PresentationCounts,
  PresentationRecord,
  SessionState,
  SessionSummary,
  TtlOnsetRecord,
  UnitKey,
} from "./types.js";

function now(): string {
  return new Date().toISOString();
}

export interface OpenOptions {
  readonly?: boolean;
  /** Flush batched session writes at least this often (ms). */
  flushIntervalMs?: number;
}

export interface SessionRow {
  id: number;
  uuid: string;
  name: string;
  protocolId: number;
  rigId: number;
  seed: number;
  countWindow: { startMs: number; endMs: number; bins: number };
  createdAt: string;
}

export interface StimulusMeta {
  width: number;
  height: number;
  channels: number;
  origin?: string;
}

export interface ModelVersionInput {
  name: string;
  kind: string;
  parentId?: number | null;
  metrics?: Record<string, unknown>;
  config?: Record<string, unknown>;
  checkpoint?: Uint8Array | null;
  sessionIds?: number[];
}

export interface RecordedSessionInput {
  name: string;
  /** What was imported from where (stored as the session's protocol text). */
  provenanceText: string;
  countWindow: { startMs: number; endMs: number; bins: number };
  durationMs: number;
  stimuli: { png: Uint8Array; width: number; height: number; origin?: string }[];
  units: {
    electrode: string;
    sortedId: number;
    flags: { code: "no-responses" | "constant-responses"; message: string }[];
  }[];
  repeats: number;
  /** True when each value is already a mean over repeats (repeats must then be 1). */
  averaged: boolean;
  /** `[unit][image][repeat]`, C order, NaN for missing. */
  values: ArrayLike<number>;
}

export interface RecordedSessionImport {
  session: SessionRow;
  presentations: number;
  stimuli: number;
  units: number;
}

export interface ModelVersionRow {
  id: number;
  name: string;
  kind: string;
  parentId: number | null;
  createdAt: string;
  metrics: Record<string, unknown>;
  config: Record<string, unknown>;
  sessionIds: number[];
}

/**
 * One lab database: a SQLite file in WAL mode. Session data is append-only; the hot path writes
 * through a {@link SessionWriter} that batches rows into transactions.
 */
export class SessionStore {
  readonly db: Database.Database;
  readonly file: string;
  private readonly flushIntervalMs: number;

  private constructor(file: string, db: Database.Database, flushIntervalMs: number) {
    this.file = file;
    this.db = db;
    this.flushIntervalMs = flushIntervalMs;
  }

  /**
   * Opens (or creates, with its folder) the lab database `file`; `readonly` needs it to exist. A file that cannot be
   * opened throws an error that names it.
   */
  static open(file: string, options: OpenOptions = {}): SessionStore {
    const readonly = options.readonly ?? false;
    let db: Database.Database;
    try {
      if (!readonly && file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
      db = new Database(file, { readonly, fileMustExist: readonly });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`cannot open the lab database ${file}: ${reason}`);
    }
    if (!readonly) {
      db.pragma("journal_mode = WAL");
      // WAL + NORMAL: every committed transaction survives a crash of the process.
      db.pragma("synchronous = NORMAL");
    }
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    if (!readonly) migrate(db);
    return new SessionStore(file, db, options.flushIntervalMs ?? 10);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  putRig(name: string, configText: string): number {
    const sha = sha256Hex(configText);
    this.db
      .prepare("INSERT OR IGNORE INTO rigs (name, sha256, config_text, created_at) VALUES (?, ?, ?, ?)")
      .run(name, sha, configText, now());
    return (this.db.prepare("SELECT id FROM rigs WHERE sha256 = ?").get(sha) as { id: number }).id;
  }

  putProtocol(name: string, text: string): number {
    const sha = sha256Hex(text);
    this.db
      .prepare("INSERT OR IGNORE INTO protocols (name, sha256, text, created_at) VALUES (?, ?, ?, ?)")
      .run(name, sha, text, now());
    return (this.db.prepare("SELECT id FROM protocols WHERE sha256 = ?").get(sha) as { id: number }).id;
  }

  /** Stores a PNG once, by the SHA-256 of its bytes; returns the hash. */
  putStimulus(png: Uint8Array, meta: StimulusMeta): string {
    const sha = sha256Hex(png);
    this.db
      .prepare(
        "INSERT OR IGNORE INTO stimuli (sha256, png, width, height, channels, origin, created_at) VALUES (?, ?, ?, " +
          "?, ?, ?, ?)",
      )
      .run(
        sha,
        Buffer.from(png.buffer, png.byteOffset, png.byteLength),
        meta.width,
        meta.height,
        meta.channels,
        meta.origin ?? null,
        now(),
      );
    return sha;
  }

  hasStimulus(sha: string): boolean {
    return this.db.prepare("SELECT 1 FROM stimuli WHERE sha256 = ?").get(sha) !== undefined;
  }

  getStimulusPng(sha: string): Buffer | undefined {
    const row = this.db.prepare("SELECT png FROM stimuli WHERE sha256 = ?").get(sha) as { png: Buffer } | undefined;
    return row?.png;
  }

  /** Size and origin of stored stimuli (those not stored are absent from the map). */
  stimulusInfo(shas: readonly string[]): Map<string, { width: number; height: number; origin: string | null }> {
    const stmt = this.db.prepare("SELECT width, height, origin FROM stimuli WHERE sha256 = ?");
    const out = new Map<string, { width: number; height: number; origin: string | null }>();
    for (const sha of shas) {
      const row = stmt.get(sha) as { width: number; height: number; origin: string | null } | undefined;
      if (row !== undefined) out.set(sha, row);
    }
    return out;
  }

  countStimuli(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM stimuli").get() as { n: number }).n;
  }

  createSession(input: {
    name: string;
    protocolId: number;
    rigId: number;
    seed: number;
    countWindow: { startMs: number; endMs: number; bins: number };
  }): SessionRow {
    const uuid = randomUUID();
    const createdAt = now();
    const info = this.db
      .prepare(
        "INSERT INTO sessions (uuid, name, protocol_id, rig_id, seed, count_window_json, created_at) VALUES (?, ?, " +
          "?, ?, ?, ?, ?)",
      )
      .run(uuid, input.name, input.protocolId, input.rigId, input.seed, JSON.stringify(input.countWindow), createdAt);
    return { id: Number(info.lastInsertRowid), uuid, createdAt, ...input };
  }

  appendSessionEvent(sessionId: number, kind: SessionState | "note", detail?: string): void {
    this.db
      .prepare("INSERT INTO session_events (session_id, at, kind, detail) VALUES (?, ?, ?, ?)")
      .run(sessionId, now(), kind, detail ?? null);
  }

  /** Finds a session by id, uuid or unique uuid prefix. */
  findSession(ref: string | number): SessionRow | undefined {
    type Raw = {
      id: number;
      uuid: string;
      name: string;
      protocol_id: number;
      rig_id: number;
      seed: number;
      count_window_json: string;
      created_at: string;
    };
    const text = String(ref);
    let row: Raw | undefined;
    if (/^\d+$/.test(text))
      row = this.db.prepare("SELECT * FROM sessions WHERE id = ?").get(Number(text)) as Raw | undefined;
    if (row === undefined) {
      const rows = this.db.prepare("SELECT * FROM sessions WHERE uuid LIKE ? || '%' LIMIT 2").all(text) as Raw[];
      if (rows.length === 1) row = rows[0];
    }
    if (row === undefined) return undefined;
    return {
      id: row.id,
      uuid: row.uuid,
      name: row.name,
      protocolId: row.protocol_id,
      rigId: row.rig_id,
      seed: row.seed,
      countWindow: JSON.parse(row.count_window_json) as SessionRow["countWindow"],
      createdAt: row.created_at,
    };
  }

  sessionState(sessionId: number): SessionState | "unknown" {
    const row = this.db
      .prepare("SELECT kind FROM session_events WHERE session_id = ? AND kind != 'note' ORDER BY id DESC LIMIT 1")
      .get(sessionId) as { kind: SessionState } | undefined;
    return row?.kind ?? "unknown";
  }

  sessionEvents(sessionId: number): { at: string; kind: string; detail: string | null }[] {
    return this.db
      .prepare("SELECT at, kind, detail FROM session_events WHERE session_id = ? ORDER BY id")
      .all(sessionId) as {
      at: string;
      kind: string;
      detail: string | null;
    }[];
  }

  listSessions(): SessionSummary[] {
    const rows = this.db
      .prepare(
        `SELECT s.id, s.uuid, s.name, s.created_at AS createdAt, p.name AS protocolName, p.sha256 AS protocolSha256,
        r.name AS rigName,
           (SELECT COUNT(*) FROM presentations x WHERE x.session_id = s.id) AS presentations,
           (SELECT COUNT(*) FROM units u WHERE u.session_id = s.id) AS units,
           (SELECT COUNT(*) FROM faults f WHERE f.session_id = s.id) AS faults,
           (SELECT kind FROM session_events e WHERE e.session_id = s.id AND kind != 'note' ORDER BY id DESC LIMIT 1) AS
           state
         FROM sessions s JOIN protocols p ON p.id = s.protocol_id JOIN rigs r ON r.id = s.rig_id ORDER BY s.id`,
      )
      .all() as (Omit<SessionSummary, "state"> & { state: SessionState | null })[];
    return rows.map((r) => ({ ...r, state: r.state ?? "unknown" }));
  }

  protocolText(protocolId: number): string {
    return (this.db.prepare("SELECT text FROM protocols WHERE id = ?").get(protocolId) as { text: string }).text;
  }

  rigText(rigId: number): string {
    return (this.db.prepare("SELECT config_text FROM rigs WHERE id = ?").get(rigId) as { config_text: string })
      .config_text;
  }

  presentations(sessionId: number): PresentationRecord[] {
    return this.db
      .prepare(
        `SELECT idx, block, stimulus_sha256 AS stimulusSha256, event_code AS eventCode, scheduled_ms AS scheduledMs,
                shown_ms AS shownMs, duration_ms AS durationMs, status
         FROM presentations WHERE session_id = ? ORDER BY idx`,
      )
      .all(sessionId) as PresentationRecord[];
  }

  units(sessionId: number): (UnitKey & { id: number })[] {
    return this.db
      .prepare("SELECT id, electrode, sorted_id AS sortedId FROM units WHERE session_id = ? ORDER BY id")
      .all(sessionId) as (UnitKey & { id: number })[];
  }

  /** Spike counts as rows; units absent from a presentation's counts had no row stored for it. */
  spikeCounts(sessionId: number): { presentationIdx: number; unitId: number; bin: number; count: number }[] {
    return this.db
      .prepare(
        "SELECT presentation_idx AS presentationIdx, unit_id AS unitId, bin, count FROM spike_counts WHERE " +
          "session_id = ? ORDER BY presentation_idx, unit_id, bin",
      )
      .all(sessionId) as { presentationIdx: number; unitId: number; bin: number; count: number }[];
  }

  countResults(sessionId: number): { presentationIdx: number; onsetSample: number | null; complete: boolean }[] {
    const rows = this.db
      .prepare(
        "SELECT presentation_idx AS presentationIdx, onset_sample AS onsetSample, complete FROM count_results " +
          "WHERE session_id = ? ORDER BY presentation_idx",
      )
      .all(sessionId) as { presentationIdx: number; onsetSample: number | null; complete: number }[];
    return rows.map((r) => ({ ...r, complete: r.complete === 1 }));
  }

  faults(sessionId: number): (FaultRecord & { id: number; at: string })[] {
    const rows = this.db
      .prepare("SELECT id, at, code, message FROM faults WHERE session_id = ? ORDER BY id")
      .all(sessionId) as {
      id: number;
      at: string;
      code: FaultRecord["code"];
      message: string;
    }[];
    const links = this.db
      .prepare("SELECT fault_id AS faultId, presentation_idx AS idx FROM fault_presentations WHERE session_id = ?")
      .all(sessionId) as {
      faultId: number;
      idx: number;
    }[];
    const byFault = new Map<number, number[]>();
    for (const l of links) byFault.set(l.faultId, [...(byFault.get(l.faultId) ?? []), l.idx]);
    return rows.map((r) => ({ ...r, presentationIdxs: (byFault.get(r.id) ?? []).sort((a, b) => a - b) }));
  }

  ttlOnsets(sessionId: number): TtlOnsetRecord[] {
    return this.db
      .prepare(
        "SELECT presentation_idx AS presentationIdx, event_code AS eventCode, onset_sample AS onsetSample FROM " +
          "ttl_onsets WHERE session_id = ? ORDER BY id",
      )
      .all(sessionId) as TtlOnsetRecord[];
  }

  putModelVersion(input: ModelVersionInput): number {
    return this.db.transaction(() => {
      const info = this.db
        .prepare(
          "INSERT INTO model_versions (name, kind, parent_id, created_at, metrics_json, config_json, checkpoint) " +
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .run(
          input.name,
          input.kind,
          input.parentId ?? null,
          now(),
          JSON.stringify(input.metrics ?? {}),
          JSON.stringify(input.config ?? {}),
          input.checkpoint ? Buffer.from(input.checkpoint) : null,
        );
      const id = Number(info.lastInsertRowid);
      const link = this.db.prepare("INSERT INTO model_version_sessions (model_version_id, session_id) VALUES (?, ?)");
      for (const s of input.sessionIds ?? []) link.run(id, s);
      return id;
    })();
  }

  listModelVersions(): ModelVersionRow[] {
    const rows = this.db
      .prepare(
        "SELECT id, name, kind, parent_id AS parentId, created_at AS createdAt, metrics_json, config_json FROM " +
          "model_versions ORDER BY id",
      )
      .all() as {
      id: number;
      name: string;
      kind: string;
      parentId: number | null;
      createdAt: string;
      metrics_json: string;
      config_json: string;
    }[];
    const links = this.db
      .prepare("SELECT model_version_id AS m, session_id AS s FROM model_version_sessions")
      .all() as { m: number; s: number }[];
    return rows.map(({ metrics_json, config_json, ...r }) => ({
      ...r,
      metrics: JSON.parse(metrics_json) as Record<string, unknown>,
      config: JSON.parse(config_json) as Record<string, unknown>,
      sessionIds: links.filter((l) => l.m === r.id).map((l) => l.s),
    }));
  }

  modelCheckpoint(id: number): Buffer | undefined {
    const row = this.db.prepare("SELECT checkpoint FROM model_versions WHERE id = ?").get(id) as
      { checkpoint: Buffer | null } | undefined;
    return row?.checkpoint ?? undefined;
  }

  createJob(kind: string, params: Record<string, unknown>): number {
    const info = this.db
      .prepare("INSERT INTO jobs (kind, params_json, created_at) VALUES (?, ?, ?)")
      .run(kind, JSON.stringify(params), now());
    return Number(info.lastInsertRowid);
  }

  appendJobEvent(
    jobId: number,
    state: "queued" | "running" | "progress" | "checkpoint" | "cancelled" | "failed" | "done",
    progress?: number,
    detail?: string,
  ): void {
    this.db
      .prepare("INSERT INTO job_events (job_id, at, state, progress, detail) VALUES (?, ?, ?, ?, ?)")
      .run(jobId, now(), state, progress ?? null, detail ?? null);
  }

  getJob(jobId: number): { id: number; kind: string; params: Record<string, unknown>; createdAt: string } | undefined {
    const row = this.db
      .prepare("SELECT id, kind, params_json, created_at AS createdAt FROM jobs WHERE id = ?")
      .get(jobId) as { id: number; kind: string; params_json: string; createdAt: string } | undefined;
    return row === undefined
      ? undefined
      : {
          id: row.id,
          kind: row.kind,
          params: JSON.parse(row.params_json) as Record<string, unknown>,
          createdAt: row.createdAt,
        };
  }

  jobEvents(jobId: number): { at: string; state: string; progress: number | null; detail: string | null }[] {
    return this.db
      .prepare("SELECT at, state, progress, detail FROM job_events WHERE job_id = ? ORDER BY id")
      .all(jobId) as {
      at: string;
      state: string;
      progress: number | null;
      detail: string | null;
    }[];
  }

  /** A fault outside the hot path (written immediately). */
  recordFault(sessionId: number | null, fault: FaultRecord): void {
    this.db.transaction(() => insertFault(this.db, sessionId, fault))();
  }

  /**
   * Stores a session recorded elsewhere (images + float responses) in ONE transaction: a fault
   * anywhere leaves the database as it was. Values are `[unit][image][repeat]` in C order; NaN is
   * missing. One presentation per image × repeat that has any value (per image when `averaged`).
   */
  importRecordedSession(input: RecordedSessionInput): RecordedSessionImport {
    const nUnits = input.units.length;
    const nImages = input.stimuli.length;
    const nRepeats = input.repeats;
    if (input.values.length !== nUnits * nImages * nRepeats) {
      throw new Error(
        `importRecordedSession: values hold ${input.values.length} numbers, expected ${nUnits} units × ${nImages} ` +
          `images × ${nRepeats} repeats`,
      );
    }
    return this.db.transaction((): RecordedSessionImport => {
      const protocolId = this.putProtocol(`import: ${input.name}`, input.provenanceText);
      const rigId = this.putRig("imported", JSON.stringify({ name: "imported", kind: "recorded-elsewhere" }));
      const session = this.createSession({
        name: input.name,
        protocolId,
        rigId,
        seed: 0,
        countWindow: input.countWindow,
      });
      this.appendSessionEvent(session.id, "started", "imported recording");
      const shas = input.stimuli.map((st) =>
        this.putStimulus(st.png, { width: st.width, height: st.height, channels: 3, origin: st.origin }),
      );
      const unitIds = input.units.map((u) => {
        this.db
          .prepare("INSERT INTO units (session_id, electrode, sorted_id) VALUES (?, ?, ?)")
          .run(session.id, u.electrode, u.sortedId);
        const id = (
          this.db
            .prepare("SELECT id FROM units WHERE session_id = ? AND electrode = ? AND sorted_id = ?")
            .get(session.id, u.electrode, u.sortedId) as { id: number }
        ).id;
        for (const f of u.flags)
          this.db
            .prepare("INSERT INTO unit_flags (unit_id, code, message) VALUES (?, ?, ?)")
            .run(id, f.code, f.message);
        return id;
      });
      const pres = this.db.prepare(
        `INSERT INTO presentations (session_id, idx, block, stimulus_sha256, event_code, scheduled_ms, shown_ms,
        duration_ms, status)
         VALUES (?, ?, ?, ?, 0, 0, NULL, ?, 'shown')`,
      );
      const resp = this.db.prepare(
        "INSERT INTO recorded_responses (session_id, presentation_idx, unit_id, value, averaged) VALUES (?, ?, ?, " +
          "?, ?)",
      );
      let idx = 0;
      for (let r = 0; r < nRepeats; r++) {
        for (let i = 0; i < nImages; i++) {
          let any = false;
          for (let u = 0; u < nUnits && !any; u++) any = !Number.isNaN(input.values[(u * nImages + i) * nRepeats + r]!);
          if (!any) continue;
          pres.run(
            session.id,
            idx,
            input.averaged ? "imported-average" : `imported-repeat-${r}`,
            shas[i]!,
            input.durationMs,
          );
          for (let u = 0; u < nUnits; u++) {
            const v = input.values[(u * nImages + i) * nRepeats + r]!;
            resp.run(session.id, idx, unitIds[u]!, Number.isNaN(v) ? null : v, input.averaged ? 1 : 0);
          }
          idx++;
        }
      }
      this.appendSessionEvent(
        session.id,
        "completed",
        `imported ${idx} presentations of ${nImages} images, ${nUnits} units`,
      );
      return { session, presentations: idx, stimuli: new Set(shas).size, units: nUnits };
    })();
  }

  /** Float responses of an imported session, one row per (presentation, unit); null is missing. */
  recordedResponseRows(
    sessionId: number,
  ): { presentationIdx: number; unitId: number; value: number | null; averaged: boolean }[] {
    const rows = this.db
      .prepare(
        "SELECT presentation_idx AS presentationIdx, unit_id AS unitId, value, averaged FROM recorded_responses " +
          "WHERE session_id = ? ORDER BY presentation_idx, unit_id",
      )
      .all(sessionId) as { presentationIdx: number; unitId: number; value: number | null; averaged: number }[];
    return rows.map((r) => ({ ...r, averaged: r.averaged === 1 }));
  }

  unitFlags(sessionId: number): { unitId: number; code: string; message: string }[] {
    return this.db
      .prepare(
        "SELECT f.unit_id AS unitId, f.code, f.message FROM unit_flags f JOIN units u ON u.id = f.unit_id WHERE " +
          "u.session_id = ? ORDER BY f.unit_id",
      )
      .all(sessionId) as { unitId: number; code: string; message: string }[];
  }

  /** Sessions whose name is exactly `name` (names are not unique), oldest first. */
  findSessionsByName(name: string): SessionRow[] {
    const ids = this.db.prepare("SELECT id FROM sessions WHERE name = ? ORDER BY id").all(name) as { id: number }[];
    return ids.map((r) => this.findSession(r.id)!);
  }

  /** One model version with its checkpoint bytes. */
  getModelVersion(id: number): (ModelVersionRow & { checkpoint: Buffer | null }) | undefined {
    const row = this.listModelVersions().find((m) => m.id === id);
    if (row === undefined) return undefined;
    return { ...row, checkpoint: this.modelCheckpoint(id) ?? null };
  }

  writer(sessionId: number, onCommitted?: (committed: CommittedBatch) => void): SessionWriter {
    return new SessionWriter(this.db, sessionId, this.flushIntervalMs, onCommitted);
  }
}

function insertFault(db: Database.Database, sessionId: number | null, fault: FaultRecord): void {
  const info = db
    .prepare("INSERT INTO faults (session_id, at, code, message) VALUES (?, ?, ?, ?)")
    .run(sessionId, now(), fault.code, fault.message);
  if (sessionId === null) return;
  const link = db.prepare(
    "INSERT OR IGNORE INTO fault_presentations (fault_id, session_id, presentation_idx) VALUES (?, ?, ?)",
  );
  for (const idx of new Set(fault.presentationIdxs)) link.run(info.lastInsertRowid, sessionId, idx);
}

export interface CommittedBatch {
  presentations: number[];
  counts: number[];
  faults: number;
}

type Op =
  | { kind: "presentation"; value: PresentationRecord }
  | { kind: "counts"; value: PresentationCounts }
  | { kind: "ttl"; value: TtlOnsetRecord }
  | { kind: "fault"; value: FaultRecord };

/**
 * Batches a session's rows and commits them in one transaction per flush, at most
 * `flushIntervalMs` after the first queued row. `onCommitted` is told what became durable.
 */
export class SessionWriter {
  private queue: Op[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly unitIds = new Map<string, number>();
  private readonly stmts;
  private closed = false;

  constructor(
    private readonly db: Database.Database,
    readonly sessionId: number,
    private readonly flushIntervalMs: number,
    private readonly onCommitted?: (committed: CommittedBatch) => void,
  ) {
    this.stmts = {
      presentation: db.prepare(
        `INSERT INTO presentations (session_id, idx, block, stimulus_sha256, event_code, scheduled_ms, shown_ms,
        duration_ms, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      unitInsert: db.prepare("INSERT OR IGNORE INTO units (session_id, electrode, sorted_id) VALUES (?, ?, ?)"),
      unitSelect: db.prepare("SELECT id FROM units WHERE session_id = ? AND electrode = ? AND sorted_id = ?"),
      count: db.prepare(
        "INSERT INTO spike_counts (session_id, presentation_idx, unit_id, bin, count) VALUES (?, ?, ?, ?, ?)",
      ),
      result: db.prepare(
        "INSERT INTO count_results (session_id, presentation_idx, onset_sample, complete, stored_at) VALUES (?, ?, " +
          "?, ?, ?)",
      ),
      ttl: db.prepare(
        "INSERT INTO ttl_onsets (session_id, presentation_idx, event_code, onset_sample, received_at) VALUES (?, " +
          "?, ?, ?, ?)",
      ),
    };
    this.reloadUnits();
  }

  // Unit ids cached from a rolled-back transaction would be wrong: reread them.
  private reloadUnits(): void {
    this.unitIds.clear();
    for (const u of this.db
      .prepare("SELECT id, electrode, sorted_id AS sortedId FROM units WHERE session_id = ?")
      .all(this.sessionId) as (UnitKey & { id: number })[]) {
      this.unitIds.set(unitKey(u), u.id);
    }
  }

  addPresentation(p: PresentationRecord): void {
    this.enqueue({ kind: "presentation", value: p });
  }

  addCounts(c: PresentationCounts): void {
    this.enqueue({ kind: "counts", value: c });
  }

  addTtlOnset(t: TtlOnsetRecord): void {
    this.enqueue({ kind: "ttl", value: t });
  }

  addFault(f: FaultRecord): void {
    this.enqueue({ kind: "fault", value: f });
  }

  get pending(): number {
    return this.queue.length;
  }

  private enqueue(op: Op): void {
    if (this.closed)
      throw new Error(`SessionWriter: session ${this.sessionId} is closed; the ${op.kind} row was not stored`);
    this.queue.push(op);
    if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), this.flushIntervalMs);
  }

  /** Commits everything queued in one transaction. */
  flush(): CommittedBatch {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const ops = this.queue;
    this.queue = [];
    const batch: CommittedBatch = { presentations: [], counts: [], faults: 0 };
    if (ops.length === 0) return batch;
    const at = now();
    try {
      this.db.transaction(() => {
        for (const op of ops) this.apply(op, at, batch);
      })();
    } catch (err) {
      // One bad row must not cost the others: store them one by one and record what was refused.
      this.reloadUnits();
      batch.presentations = [];
      batch.counts = [];
      batch.faults = 0;
      for (const op of ops) {
        try {
          this.db.transaction(() => this.apply(op, at, batch))();
        } catch (rowErr) {
          this.reloadUnits();
          const reason = rowErr instanceof Error ? rowErr.message : String(rowErr);
          this.db.transaction(() =>
            insertFault(this.db, this.sessionId, {
              code: "other",
              message: `a ${op.kind} row was refused by the database (${reason}); the rest of the batch is stored`,
              presentationIdxs: [],
            }),
          )();
          batch.faults++;
        }
      }
    }
    this.onCommitted?.(batch);
    return batch;
  }

  private apply(op: Op, at: string, batch: CommittedBatch): void {
    switch (op.kind) {
      case "presentation": {
        const p = op.value;
        this.stmts.presentation.run(
          this.sessionId,
          p.idx,
          p.block,
          p.stimulusSha256,
          p.eventCode,
          p.scheduledMs,
          p.shownMs,
          p.durationMs,
          p.status,
        );
        batch.presentations.push(p.idx);
        break;
      }
      case "counts": {
        const c = op.value;
        for (const { unit, bins } of c.units) {
          const unitId = this.unitId(unit);
          bins.forEach((n, bin) => this.stmts.count.run(this.sessionId, c.presentationIdx, unitId, bin, n));
        }
        this.stmts.result.run(this.sessionId, c.presentationIdx, c.onsetSample, c.complete ? 1 : 0, at);
        batch.counts.push(c.presentationIdx);
        break;
      }
      case "ttl":
        this.stmts.ttl.run(this.sessionId, op.value.presentationIdx, op.value.eventCode, op.value.onsetSample, at);
        break;
      case "fault":
        insertFault(this.db, this.sessionId, op.value);
        batch.faults++;
        break;
    }
  }

  private unitId(unit: UnitKey): number {
    const key = unitKey(unit);
    let id = this.unitIds.get(key);
    if (id === undefined) {
      this.stmts.unitInsert.run(this.sessionId, unit.electrode, unit.sortedId);
      id = (this.stmts.unitSelect.get(this.sessionId, unit.electrode, unit.sortedId) as { id: number }).id;
      this.unitIds.set(key, id);
    }
    return id;
  }

  close(): void {
    this.flush();
    this.closed = true;
  }
}

function unitKey(u: UnitKey): string {
  return `${u.electrode}\u0000${u.sortedId}`;
}
