/** The export bundle: one zip that unzips (read with yauzl, not the zip's writer) into the documented files. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runExport } from "../../src/main/cli-export.js";
import { bundleColumns } from "../../src/main/export/index.js";
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
