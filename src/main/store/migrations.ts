import type Database from "better-sqlite3";

export interface Migration {
  version: number;
  description: string;
  up(db: Database.Database): void;
}

const appendOnlyTables = [
  "protocols",
  "stimuli",
  "session_events",
  "presentations",
  "ttl_onsets",
  "spike_counts",
  "count_results",
  "faults",
  "fault_presentations",
  "job_events",
];

/** Triggers that refuse UPDATE and DELETE: recorded data is append-only. */
function makeAppendOnly(db: Database.Database, table: string): void {
  db.exec(`
    CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
    BEGIN SELECT RAISE(ABORT, '${table} is append-only: recorded data is never changed'); END;
    CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
    BEGIN SELECT RAISE(ABORT, '${table} is append-only: recorded data is never deleted'); END;
  `);
}

// Each migration runs in its own transaction; never edit a released one, add a new one.
export const migrations: Migration[] = [
  {
    version: 1,
    description: "sessions, stimuli, presentations, TTL onsets, units, spike counts, faults",
    up(db) {
      db.exec(`
        CREATE TABLE rigs (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          sha256 TEXT NOT NULL UNIQUE,
          config_text TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE protocols (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          sha256 TEXT NOT NULL UNIQUE,
          text TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE sessions (
          id INTEGER PRIMARY KEY,
          uuid TEXT NOT NULL UNIQUE,
          name TEXT NOT NULL,
          protocol_id INTEGER NOT NULL REFERENCES protocols(id),
          rig_id INTEGER NOT NULL REFERENCES rigs(id),
          seed INTEGER NOT NULL,
          count_window_json TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE session_events (
          id INTEGER PRIMARY KEY,
          session_id INTEGER NOT NULL REFERENCES sessions(id),
          at TEXT NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN ('started','paused','resumed','interrupted','completed','failed','note')),
          detail TEXT
        );
        CREATE TABLE stimuli (
          sha256 TEXT PRIMARY KEY,
          png BLOB NOT NULL,
          width INTEGER NOT NULL,
          height INTEGER NOT NULL,
          channels INTEGER NOT NULL,
          origin TEXT,
          created_at TEXT NOT NULL
        );
        CREATE TABLE presentations (
          id INTEGER PRIMARY KEY,
          session_id INTEGER NOT NULL REFERENCES sessions(id),
          idx INTEGER NOT NULL,
          block TEXT NOT NULL,
          stimulus_sha256 TEXT NOT NULL REFERENCES stimuli(sha256),
          event_code INTEGER NOT NULL CHECK (event_code BETWEEN 0 AND 65535),
          scheduled_ms REAL NOT NULL,
          shown_ms REAL,
          duration_ms REAL NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('shown','unconfirmed','skipped')),
          UNIQUE (session_id, idx)
        );
        CREATE TABLE ttl_onsets (
          id INTEGER PRIMARY KEY,
          session_id INTEGER NOT NULL REFERENCES sessions(id),
          presentation_idx INTEGER,
          event_code INTEGER NOT NULL,
          onset_sample INTEGER NOT NULL,
          received_at TEXT NOT NULL
        );
        CREATE TABLE units (
          id INTEGER PRIMARY KEY,
          session_id INTEGER NOT NULL REFERENCES sessions(id),
          electrode TEXT NOT NULL,
          sorted_id INTEGER NOT NULL,
          UNIQUE (session_id, electrode, sorted_id)
        );
        CREATE TABLE spike_counts (
          session_id INTEGER NOT NULL,
          presentation_idx INTEGER NOT NULL,
          unit_id INTEGER NOT NULL REFERENCES units(id),
          bin INTEGER NOT NULL,
          count INTEGER NOT NULL CHECK (count >= 0),
          PRIMARY KEY (session_id, presentation_idx, unit_id, bin),
          FOREIGN KEY (session_id, presentation_idx) REFERENCES presentations(session_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE count_results (
          session_id INTEGER NOT NULL,
          presentation_idx INTEGER NOT NULL,
          onset_sample INTEGER,
          complete INTEGER NOT NULL CHECK (complete IN (0,1)),
          stored_at TEXT NOT NULL,
          PRIMARY KEY (session_id, presentation_idx),
          FOREIGN KEY (session_id, presentation_idx) REFERENCES presentations(session_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE faults (
          id INTEGER PRIMARY KEY,
          session_id INTEGER REFERENCES sessions(id),
          at TEXT NOT NULL,
          code TEXT NOT NULL,
          message TEXT NOT NULL
        );
        CREATE TABLE fault_presentations (
          fault_id INTEGER NOT NULL REFERENCES faults(id),
          session_id INTEGER NOT NULL,
          presentation_idx INTEGER NOT NULL,
          PRIMARY KEY (fault_id, presentation_idx)
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 2,
    description: "model versions with metrics, jobs and their progress",
    up(db) {
      db.exec(`
        CREATE TABLE model_versions (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          kind TEXT NOT NULL,
          parent_id INTEGER REFERENCES model_versions(id),
          created_at TEXT NOT NULL,
          metrics_json TEXT NOT NULL DEFAULT '{}',
          config_json TEXT NOT NULL DEFAULT '{}',
          checkpoint BLOB
        );
        CREATE TABLE model_version_sessions (
          model_version_id INTEGER NOT NULL REFERENCES model_versions(id),
          session_id INTEGER NOT NULL REFERENCES sessions(id),
          PRIMARY KEY (model_version_id, session_id)
        ) WITHOUT ROWID;
        CREATE TABLE jobs (
          id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL,
          params_json TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE job_events (
          id INTEGER PRIMARY KEY,
          job_id INTEGER NOT NULL REFERENCES jobs(id),
          at TEXT NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('queued','running','progress','checkpoint','cancelled','failed','done')),
          progress REAL,
          detail TEXT
        );
      `);
    },
  },
  {
    version: 3,
    description: "indexes for review queries; recorded data is append-only (triggers refuse UPDATE and DELETE)",
    up(db) {
      db.exec(`
        CREATE INDEX presentations_by_stimulus ON presentations(stimulus_sha256);
        CREATE INDEX faults_by_session ON faults(session_id);
        CREATE INDEX session_events_by_session ON session_events(session_id);
        CREATE INDEX ttl_by_session ON ttl_onsets(session_id);
      `);
      for (const table of appendOnlyTables) makeAppendOnly(db, table);
    },
  },
  {
    version: 4,
    description:
      "recorded responses imported from other rigs (float values, repeat-averaged or per repeat) and unit flags",
    up(db) {
      db.exec(`
        CREATE TABLE recorded_responses (
          session_id INTEGER NOT NULL,
          presentation_idx INTEGER NOT NULL,
          unit_id INTEGER NOT NULL REFERENCES units(id),
          value REAL,
          averaged INTEGER NOT NULL CHECK (averaged IN (0,1)),
          PRIMARY KEY (session_id, presentation_idx, unit_id),
          FOREIGN KEY (session_id, presentation_idx) REFERENCES presentations(session_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE unit_flags (
          unit_id INTEGER NOT NULL REFERENCES units(id),
          code TEXT NOT NULL CHECK (code IN ('no-responses','constant-responses')),
          message TEXT NOT NULL,
          PRIMARY KEY (unit_id, code)
        ) WITHOUT ROWID;
      `);
      for (const table of ["recorded_responses", "unit_flags"]) makeAppendOnly(db, table);
    },
  },
  {
    version: 5,
    description: "the stimulus display: what a session ran on, frames per presentation, the frame log, light onsets",
    up(db) {
      db.exec(`
        CREATE TABLE session_displays (
          session_id INTEGER PRIMARY KEY REFERENCES sessions(id),
          kind TEXT NOT NULL,
          sample_rate REAL NOT NULL,
          refresh_hz_expected REAL,
          refresh_hz_measured REAL,
          detail_json TEXT NOT NULL
        );
        CREATE TABLE presentation_frames (
          session_id INTEGER NOT NULL REFERENCES sessions(id),
          presentation_idx INTEGER NOT NULL,
          requested_ms REAL NOT NULL,
          frames_planned INTEGER NOT NULL,
          frame_ms REAL NOT NULL,
          onset_frame INTEGER,
          onset_epoch_ms REAL,
          offset_epoch_ms REAL,
          frames_shown INTEGER,
          frames_drawn INTEGER,
          frames_missed INTEGER NOT NULL,
          PRIMARY KEY (session_id, presentation_idx)
        ) WITHOUT ROWID;
        CREATE TABLE display_frames (
          session_id INTEGER NOT NULL REFERENCES sessions(id),
          frame_index INTEGER NOT NULL,
          presentation_idx INTEGER,
          raf_epoch_ms REAL NOT NULL,
          presented_epoch_ms REAL,
          expected_epoch_ms REAL NOT NULL,
          missed_before INTEGER NOT NULL,
          lit INTEGER NOT NULL CHECK (lit IN (0,1)),
          PRIMARY KEY (session_id, frame_index)
        ) WITHOUT ROWID;
        CREATE TABLE light_onsets (
          session_id INTEGER NOT NULL REFERENCES sessions(id),
          presentation_idx INTEGER NOT NULL,
          code_onset_sample INTEGER NOT NULL,
          light_onset_sample INTEGER,
          light_offset_sample INTEGER,
          PRIMARY KEY (session_id, presentation_idx)
        ) WITHOUT ROWID;
      `);
      const tables = ["session_displays", "presentation_frames", "display_frames", "light_onsets"];
      for (const table of tables) makeAppendOnly(db, table);
    },
  },
  {
    version: 6,
    description:
      "causal-test designs: each designed image's provenance (unit, kind, base image, model and its prediction)",
    up(db) {
      db.exec(`
        CREATE TABLE causal_designs (
          id INTEGER PRIMARY KEY,
          model_version_id INTEGER REFERENCES model_versions(id),
          protocol_sha256 TEXT NOT NULL,
          detail_json TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE causal_images (
          design_id INTEGER NOT NULL REFERENCES causal_designs(id),
          stimulus_sha256 TEXT NOT NULL REFERENCES stimuli(sha256),
          unit TEXT NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN
          ('random-normal','maximizing-synthesized','maximizing-normal','adversarial-base',
            'adversarial-plus','adversarial-minus','smooth-base','smooth-minus','random-smoothed')),
          base_sha256 TEXT,
          predicted REAL NOT NULL,
          model_source TEXT NOT NULL CHECK (model_source IN ('compact','ensemble')),
          model_version_id INTEGER NOT NULL REFERENCES model_versions(id),
          PRIMARY KEY (design_id, stimulus_sha256, unit, kind)
        ) WITHOUT ROWID;
        CREATE INDEX causal_images_by_stimulus ON causal_images(stimulus_sha256);
      `);
      for (const table of ["causal_designs", "causal_images"]) makeAppendOnly(db, table);
    },
  },
  {
    version: 7,
    description: "proposals: each designed session waiting for the experimenter, and the one decision on it",
    up(db) {
      db.exec(`
        CREATE TABLE proposals (
          id INTEGER PRIMARY KEY,
          campaign TEXT NOT NULL,
          session_number INTEGER NOT NULL CHECK (session_number >= 1),
          protocol_id INTEGER NOT NULL REFERENCES protocols(id),
          protocol_file TEXT NOT NULL,
          model_version_id INTEGER REFERENCES model_versions(id),
          detail_json TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE proposal_decisions (
          proposal_id INTEGER PRIMARY KEY REFERENCES proposals(id),
          decision TEXT NOT NULL CHECK (decision IN ('approved','declined')),
          via TEXT NOT NULL CHECK (via IN ('terminal','web','program')),
          decided_at TEXT NOT NULL
        );
      `);
      for (const table of ["proposals", "proposal_decisions"]) makeAppendOnly(db, table);
    },
  },
  {
    version: 8,
    description:
      "studies: the closed loop on one rig (its settings and rig) and each step it took, so it resumes after a crash",
    up(db) {
      db.exec(`
        CREATE TABLE studies (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          rig_file TEXT,
          rig_text TEXT NOT NULL,
          settings_json TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE study_steps (
          id INTEGER PRIMARY KEY,
          study_id INTEGER NOT NULL REFERENCES studies(id),
          at TEXT NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN
            ('started','resumed','recording','recorded','interrupted','retrained','compact','designed','stopped',
              'finished')),
          session_number INTEGER,
          session_id INTEGER REFERENCES sessions(id),
          model_version_id INTEGER REFERENCES model_versions(id),
          detail_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX study_steps_by_study ON study_steps(study_id);
      `);
      for (const table of ["studies", "study_steps"]) makeAppendOnly(db, table);
    },
  },
  {
    version: 9,
    description: "tuning sweeps: each designed sweep image's parameters and the units' predicted responses",
    up(db) {
      db.exec(`
        CREATE TABLE tuning_designs (
          id INTEGER PRIMARY KEY,
          model_version_id INTEGER REFERENCES model_versions(id),
          family TEXT NOT NULL CHECK (family IN ('gratings','dots')),
          protocol_sha256 TEXT NOT NULL,
          detail_json TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE tuning_images (
          design_id INTEGER NOT NULL REFERENCES tuning_designs(id),
          stimulus_sha256 TEXT NOT NULL REFERENCES stimuli(sha256),
          sweep TEXT NOT NULL CHECK (sweep IN ('orientation-frequency','dot-size','dot-location','dot-number')),
          params_json TEXT NOT NULL,
          predicted_json TEXT NOT NULL,
          PRIMARY KEY (design_id, stimulus_sha256, sweep)
        ) WITHOUT ROWID;
        CREATE INDEX tuning_images_by_stimulus ON tuning_images(stimulus_sha256);
      `);
      for (const table of ["tuning_designs", "tuning_images"]) makeAppendOnly(db, table);
    },
  },
];

export const latestSchemaVersion = migrations[migrations.length - 1]!.version;

export function currentSchemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'").get();
  if (table === undefined) return 0;
  const row = db.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number | null };
  return row.v ?? 0;
}

/** Brings a database up to `target` (default latest), one transaction per migration. */
export function migrate(db: Database.Database, target = latestSchemaVersion): number {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at " +
      "TEXT NOT NULL)",
  );
  const from = currentSchemaVersion(db);
  if (from > latestSchemaVersion) {
    throw new Error(
      `This database has schema version ${from}, newer than this cortexloop knows (${latestSchemaVersion}); it was ` +
        `not changed. Use a newer cortexloop.`,
    );
  }
  for (const m of migrations) {
    if (m.version <= from || m.version > target) continue;
    db.transaction(() => {
      m.up(db);
      db.prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)").run(
        m.version,
        m.description,
        new Date().toISOString(),
      );
    })();
  }
  return currentSchemaVersion(db);
}
