/**
 * The protocol library (files and stored protocols, validated, counted without decoding) and the tech service's
 * refusals over the contract: read-only servers, no rig file, names outside the library.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zipSync } from "fflate";
import { dispatch } from "../../src/main/api/handlers.js";
import { builtinProtocolsDir } from "../../src/main/paths.js";
import { SessionStore } from "../../src/main/store/index.js";
import { protocolLibrary } from "../../src/main/tech/library.js";
import { TechService } from "../../src/main/tech/service.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-library-");
afterAll(() => tmp.cleanup());

function write(path: string, value: unknown): string {
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value, null, 2));
  return path;
}

describe("protocol library", () => {
  const dir = join(tmp.dir, "protocols");
  mkdirSync(join(dir, "images"), { recursive: true });
  mkdirSync(join(dir, "nested"), { recursive: true });
  for (const name of ["a.png", "b.jpg", "c.JPEG", ".hidden.png", "notes.txt"]) write(join(dir, "images", name), "x");
  const zip = zipSync({ "x/1.png": new Uint8Array(1), "x/2.png": new Uint8Array(1), "x/readme.md": new Uint8Array(1) });
  writeFileSync(join(dir, "set.zip"), zip);
  write(join(dir, "mixed.json"), {
    name: "mixed",
    timing: { fixationMs: 500, stimulusMs: 100, interStimulusMs: 150 },
    sources: {
      folder: { kind: "folder", path: "images" },
      zip: { kind: "zip", path: "set.zip" },
      gen: { kind: "generator", generator: "noise", count: 10 },
    },
    blocks: [
      { name: "f", source: "folder", repeats: 4 },
      { name: "z", source: "zip", repeats: 2 },
      { name: "g", source: "gen", repeats: 3, maxImages: 5 },
    ],
  });
  write(join(dir, "nested", "missing.json"), {
    name: "missing folder",
    sources: { f: { kind: "folder", path: "nowhere" } },
    blocks: [{ name: "f", source: "f" }],
  });
  write(join(dir, "typo.json"), { name: "typo", sources: {}, blocks: [{ name: "b", source: "s", repeatz: 2 }] });
  write(join(dir, "not-json.json"), "{ name: ");
  write(join(dir, "rig.json"), { name: "a rig", acquisition: {}, eventCodes: {}, display: {} });
  write(join(dir, "protocol.schema.json"), { type: "object", properties: {} });

  it("validates each file, counts images without decoding them, and estimates durations", async () => {
    const entries = await protocolLibrary({ dirs: [dir] });
    const byName = new Map(entries.map((e) => [e.location.slice(dir.length + 1), e]));
    expect([...byName.keys()].sort()).toEqual(["mixed.json", "nested/missing.json", "not-json.json", "typo.json"]);
    const mixed = byName.get("mixed.json")!;
    expect(mixed).toMatchObject({ valid: true, error: null, images: 3 + 2 + 10, notes: [] });
    expect(mixed.blocks.map((b) => b.images)).toEqual([3, 2, 5]);
    // 3 × 4 + 2 × 2 + 5 × 3 presentations of 250 ms after 500 ms of fixation.
    expect(mixed.presentations).toBe(31);
    expect(mixed.durationMs).toBe(500 + 31 * 250);
    const missing = byName.get("nested/missing.json")!;
    expect(missing).toMatchObject({ valid: true, images: null, presentations: null, durationMs: null });
    expect(missing.notes[0]).toContain("could not be read");
    const typo = byName.get("typo.json")!;
    expect(typo.valid).toBe(false);
    expect(typo.error).toContain('$.blocks[0]: unexpected key "repeatz"');
    expect(byName.get("not-json.json")!.error).toContain("not valid JSON");
  });

  it("lists the stored protocols with their sessions, and the built-in demo from protocols/", async () => {
    const store = SessionStore.open(join(tmp.dir, "lab.db"));
    try {
      const text = JSON.stringify({
        name: "stored one",
        sources: { s: { kind: "stored", hashes: ["a".repeat(64), "b".repeat(64)] } },
        blocks: [{ name: "s", source: "s", repeats: 2 }],
      });
      store.putProtocol("stored one", text);
      const entries = await protocolLibrary({ dirs: [builtinProtocolsDir], store });
      const demo = entries.find((e) => e.name === "demo")!;
      expect(demo).toMatchObject({ origin: "file", valid: true, images: 50, presentations: 150 });
      const stored = entries.find((e) => e.origin === "stored")!;
      expect(stored).toMatchObject({ name: "stored one", valid: true, images: 2, presentations: 4, sessions: 0 });
      expect(stored.notes).toEqual(['source "s": 2 stored image(s) are not in this database']);
    } finally {
      store.close();
    }
  });
});

describe("tech channels refuse what the server was not given", () => {
  it("a session with nothing to replay, or not recorded from a protocol, is a bad request that says so", async () => {
    const db = join(tmp.dir, "sessions.db");
    const writer = SessionStore.open(db);
    const rigId = writer.putRig("r", "{}");
    const window = { startMs: 50, endMs: 150, bins: 1 };
    const protocol = JSON.stringify({
      name: "p",
      sources: { g: { kind: "generator", generator: "dots", count: 2 } },
      blocks: [{ name: "b", source: "g" }],
    });
    const empty = writer.createSession({
      name: "empty",
      protocolId: writer.putProtocol("p", protocol),
      rigId,
      seed: 1,
      countWindow: window,
    });
    const imported = writer.createSession({
      name: "imported",
      protocolId: writer.putProtocol("import: x", "from a file"),
      rigId,
      seed: 1,
      countWindow: window,
    });
    writer.close();
    const store = SessionStore.open(db, { readonly: true });
    const tech = new TechService({ db, protocolDirs: [], allowRuns: true }, store);
    try {
      const none = await dispatch(store, "startTechJob", { kind: "replay", session: empty.id, rig: "sim" }, undefined, {
        tech,
      });
      expect(none).toMatchObject({ ok: false, code: "bad-request" });
      expect(!none.ok && none.message).toContain("no presentations to replay");
      const notRun = await dispatch(store, "replayProtocolFile", { session: imported.id }, undefined, { tech });
      expect(notRun).toMatchObject({ ok: false, code: "bad-request" });
      expect(!notRun.ok && notRun.message).toContain("not recorded from a protocol");
      expect(tech.list()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it("read-only: no runs; no rig: no pre-flight; a protocol outside the library or a missing session", async () => {
    const db = join(tmp.dir, "refusals.db");
    SessionStore.open(db).close();
    const store = SessionStore.open(db, { readonly: true });
    const readOnly = new TechService({ db, protocolDirs: [builtinProtocolsDir], allowRuns: false }, store);
    try {
      const config = await dispatch(store, "techConfig", {}, undefined, { tech: readOnly });
      expect(config).toMatchObject({ ok: true, value: { allowRuns: false, rigFile: null } });
      const run = await dispatch(
        store,
        "startTechJob",
        { kind: "dry-run", protocol: `file:${join(builtinProtocolsDir, "demo.json")}`, rig: "sim" },
        undefined,
        { tech: readOnly },
      );
      expect(run).toMatchObject({ ok: false, code: "forbidden" });
      expect(!run.ok && run.message).toContain("--allow-runs");
      const preflight = await dispatch(store, "preflight", {}, undefined, { tech: readOnly });
      expect(preflight).toMatchObject({ ok: false, code: "not-found" });
      expect(!preflight.ok && preflight.message).toContain("--rig <file>");
      const open = new TechService({ db, protocolDirs: [builtinProtocolsDir], allowRuns: true }, store);
      const outside = await dispatch(
        store,
        "startTechJob",
        { kind: "dry-run", protocol: "file:/etc/passwd", rig: "sim" },
        undefined,
        { tech: open },
      );
      expect(outside).toMatchObject({ ok: false, code: "not-found" });
      const onRig = await dispatch(
        store,
        "startTechJob",
        { kind: "replay", session: 1, rig: "configured" },
        undefined,
        {
          tech: open,
        },
      );
      expect(onRig).toMatchObject({ ok: false, code: "not-found" });
      expect(!onRig.ok && onRig.message).toContain('No session "1"');
      const none = await dispatch(store, "techJobs", {}, undefined, {});
      expect(none).toMatchObject({ ok: false, code: "not-found" });
    } finally {
      store.close();
    }
  });
});
