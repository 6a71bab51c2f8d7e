/** The export bundle: one zip that unzips (read with yauzl, not the zip's writer) into the documented files. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { runExport } from "../../src/main/cli-export.js";
import { dispatch } from "../../src/main/api/handlers.js";
import { bundleColumns, csvFileNames, writeSessionBundle, type WriteChunk } from "../../src/main/export/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { writeIncompleteSession, type IncompleteFixture } from "../helpers/incomplete-session.js";
import { tempDir } from "../helpers/tmp.js";
import { unzipFile as unzip } from "../helpers/unzip.js";

const tmp = tempDir("cortexloop-bundle-");
let store: SessionStore;
let fx: IncompleteFixture;
beforeAll(async () => {
  store = SessionStore.open(join(tmp.dir, "lab.db"));
  fx = await writeIncompleteSession(store);
});
afterAll(() => {
  store?.close();
  tmp.cleanup();
});

describe("cortexloop export --bundle", () => {
  it("writes one zip: CSVs, protocol, rig, replay protocol, stimuli by hash, a README of every column", async () => {
    const file = join(tmp.dir, "s.zip");
    await runExport(String(fx.sessionId), { db: join(tmp.dir, "lab.db"), bundle: file });
    const entries = await unzip(file);
    const folder = `incomplete-fixture-${fx.sessionId}`;
    const expected = [
      "README.md",
      "faults.csv",
      "presentations.csv",
      "protocol.json",
      "replay-protocol.json",
      "responses.csv",
      "rig.json",
      "spike_counts.csv",
      "units.csv",
      ...fx.shas.map((s) => `stimuli/${s}.png`),
    ].map((n) => `${folder}/${n}`);
    expect([...entries.keys()].sort()).toEqual(expected.sort());
    const session = store.findSession(fx.sessionId)!;
    expect(entries.get(`${folder}/protocol.json`)!.toString("utf8")).toBe(store.protocolText(session.protocolId));
    expect(entries.get(`${folder}/rig.json`)!.toString("utf8")).toBe(store.rigText(session.rigId));
    for (const sha of fx.shas)
      expect(entries.get(`${folder}/stimuli/${sha}.png`)!.equals(store.getStimulusPng(sha)!)).toBe(true);
    const replay = JSON.parse(entries.get(`${folder}/replay-protocol.json`)!.toString("utf8")) as {
      name: string;
      blocks: unknown[];
    };
    expect(replay.name).toBe("replay of incomplete-fixture");
    // The README documents every column of every CSV, and each CSV has exactly those columns.
    const readme = entries.get(`${folder}/README.md`)!.toString("utf8");
    for (const [name, cols] of Object.entries(bundleColumns)) {
      const header = entries.get(`${folder}/${name}`)!.toString("utf8").split("\n")[0]!;
      expect(header.split(","), name).toEqual(cols.map(([c]) => c));
      for (const [c] of cols) expect(readme).toContain(`| ${c} |`);
    }
    expect(readFileSync(file).subarray(0, 2).toString("latin1")).toBe("PK");
  });
});

describe("cortexloop export refuses bad input for every format, and leaves no file that looks complete", () => {
  it("a running session: zip and CSV refused (conflict over the API) unless --allow-unfinished", async () => {
    const running = await writeIncompleteSession(store, { finish: false });
    const dir = join(tmp.dir, "running");
    const flags = { db: join(tmp.dir, "lab.db"), bundle: join(dir, "r.zip"), csv: join(dir, "csv") };
    mkdirSync(dir);
    await expect(runExport(String(running.sessionId), flags)).rejects.toThrow(/is still running .*nothing was written/);
    expect(readdirSync(dir)).toEqual([]);
    expect(await dispatch(store, "exportBundle", { session: running.sessionId })).toMatchObject({
      ok: false,
      code: "conflict",
    });
    await runExport(String(running.sessionId), { ...flags, allowUnfinished: true });
    expect(readdirSync(dir).sort()).toEqual(["csv", "r.zip"]);
    expect(readdirSync(join(dir, "csv")).sort()).toEqual([...csvFileNames].sort());
  });

  it("a session that does not exist, and a disk that fills while the zip is written", async () => {
    const dir = join(tmp.dir, "bad");
    mkdirSync(dir);
    await expect(runExport("4242", { db: join(tmp.dir, "lab.db"), bundle: join(dir, "x.zip") })).rejects.toThrow(
      /No session "4242" in .*; nothing was written/,
    );
    const full: WriteChunk = (fd, bytes, offset, length) => {
      if (offset > 0) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      return writeSync(fd, bytes, offset, Math.min(length, 1000));
    };
    expect(() => writeSessionBundle(store, fx.sessionId, join(dir, "x.zip"), {}, full)).toThrow(
      /failed after 1000 of \d+ bytes \(ENOSPC.*the partial file was removed/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});
