import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  currentSchemaVersion,
  latestSchemaVersion,
  migrate,
  migrations,
  SessionStore,
} from "../../src/main/store/index.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

// Rows that are valid at schema version 1 (the oldest), used to check that upgrades keep data.
function seedVersion1(db: Database.Database): void {
  db.exec(`
    INSERT INTO rigs (id, name, sha256, config_text, created_at) VALUES (1, 'r', 'a', '{}', 't');
    INSERT INTO protocols (id, name, sha256, text, created_at) VALUES (1, 'p', 'b', '{}', 't');
    INSERT INTO sessions (id, uuid, name, protocol_id, rig_id, seed, count_window_json, created_at)
      VALUES (1, 'u-1', 's', 1, 1, 1, '{"startMs":50,"endMs":150,"bins":1}', 't');
    INSERT INTO stimuli (sha256, png, width, height, channels, created_at) VALUES ('c', x'00', 1, 1, 3, 't');
    INSERT INTO presentations (session_id, idx, block, stimulus_sha256, event_code, scheduled_ms, shown_ms,
    duration_ms, status)
      VALUES (1, 0, 'b', 'c', 1, 0, 1, 100, 'shown');
    INSERT INTO units (id, session_id, electrode, sorted_id) VALUES (1, 1, 'Electrode 1', 0);
    INSERT INTO spike_counts (session_id, presentation_idx, unit_id, bin, count) VALUES (1, 0, 1, 0, 7);
    INSERT INTO count_results (session_id, presentation_idx, onset_sample, complete, stored_at) VALUES (1, 0, 1000, 1,
    't');
  `);
}

describe("opening the lab database", () => {
  it("creates a new database's folder", () => {
    const file = join(tmp.dir, "new", "deeper", "lab.db");
    const store = SessionStore.open(file);
    expect(currentSchemaVersion(store.db)).toBe(latestSchemaVersion);
    store.close();
  });

  it("names the file it cannot open read-only, and creates nothing", () => {
    const file = join(tmp.dir, "absent", "lab.db");
    expect(() => SessionStore.open(file, { readonly: true })).toThrow(`cannot open the lab database ${file}`);
    expect(existsSync(join(tmp.dir, "absent"))).toBe(false);
  });
});

describe("migrations", () => {
  it("create every table from an empty file", () => {
    const file = join(tmp.dir, "empty.db");
    const store = SessionStore.open(file);
    expect(currentSchemaVersion(store.db)).toBe(latestSchemaVersion);
    const tables = (
      store.db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]
    ).map((t) => t.name);
    for (const t of [
      "rigs",
      "protocols",
      "sessions",
      "stimuli",
      "presentations",
      "ttl_onsets",
      "units",
      "spike_counts",
      "faults",
      "model_versions",
      "jobs",
    ]) {
      expect(tables).toContain(t);
    }
    expect(store.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(store.db.pragma("foreign_keys", { simple: true })).toBe(1);
    store.close();
  });

  for (const from of migrations.map((m) => m.version).filter((v) => v < latestSchemaVersion)) {
    it(`upgrade a version-${from} database to the latest and keep its data`, () => {
      const file = join(tmp.dir, `v${from}.db`);
      const db = new Database(file);
      expect(migrate(db, from)).toBe(from);
      seedVersion1(db);
      db.close();
      const store = SessionStore.open(file);
      expect(currentSchemaVersion(store.db)).toBe(latestSchemaVersion);
      const s = store.findSession("u-1");
      expect(s?.name).toBe("s");
      expect(store.spikeCounts(1)).toEqual([{ presentationIdx: 0, unitId: 1, bin: 0, count: 7 }]);
      expect(store.presentations(1)).toHaveLength(1);
      store.close();
    });
  }

  it("is idempotent: opening a current database again changes nothing", () => {
    const file = join(tmp.dir, "twice.db");
    SessionStore.open(file).close();
    const store = SessionStore.open(file);
    const rows = store.db.prepare("SELECT COUNT(*) AS n FROM schema_version").get() as { n: number };
    expect(rows.n).toBe(migrations.length);
    store.close();
  });

  it("refuses a database from a newer cortexloop without touching it", () => {
    const file = join(tmp.dir, "future.db");
    SessionStore.open(file).close();
    const db = new Database(file);
    db.prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (?, 'future', 't')").run(
      latestSchemaVersion + 1,
    );
    db.close();
    expect(() => SessionStore.open(file)).toThrow(/newer than this cortexloop knows/);
  });

  it("refuses UPDATE and DELETE of recorded data", () => {
    const file = join(tmp.dir, "append.db");
    const store = SessionStore.open(file);
    seedVersion1(store.db);
    expect(() => store.db.prepare("UPDATE spike_counts SET count = 8").run()).toThrow(/append-only/);
    expect(() => store.db.prepare("DELETE FROM presentations").run()).toThrow(/append-only/);
    expect(store.spikeCounts(1)[0]?.count).toBe(7);
    store.close();
  });
});
