// The all-or-nothing store that `design causal` and `design tuning` share, on a real SQLite file: a file that
// cannot be written or put in place stores no image and no design, and leaves no file behind.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeDesignImages, storeDesignRecord, type DesignRecord } from "../../src/main/causal/store-images.js";
import { SessionStore } from "../../src/main/store/index.js";
import { generateImages } from "../../src/stimulus/index.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-store-images-");
afterAll(() => tmp.cleanup());

class OutputError extends Error {}

async function record(store: SessionStore, files: DesignRecord["files"]): Promise<DesignRecord> {
  const images = generateImages("noise", 3, 8, 1).map((image) => ({ image }));
  // The same image twice: stored once, listed once among the distinct hashes.
  const { pngs, shas, unique } = await encodeDesignImages([...images, images[0]!]);
  expect(unique).toEqual(shas.slice(0, 3));
  return {
    pngs,
    imageSize: 8,
    origins: pngs.map((_, i) => `test:${i}`),
    files,
    writeError: (message) => new OutputError(message),
    insert: () => {
      store.db.exec("CREATE TABLE IF NOT EXISTS designs (id INTEGER PRIMARY KEY, n INTEGER)");
      return Number(store.db.prepare("INSERT INTO designs (n) VALUES (?)").run(shas.length).lastInsertRowid);
    },
  };
}

describe("storeDesignRecord", () => {
  it("stores the images and the design and puts every file in place", async () => {
    const store = SessionStore.open(join(tmp.dir, "ok.db"));
    try {
      const a = join(tmp.dir, "ok-a.json");
      const b = join(tmp.dir, "ok-b.csv");
      const id = storeDesignRecord(
        store,
        await record(store, [
          { path: a, text: "A\n" },
          { path: b, text: "B\n" },
        ]),
      );
      expect(id).toBe(1);
      expect(store.countStimuli()).toBe(3);
      expect(readFileSync(a, "utf8")).toBe("A\n");
      expect(readFileSync(b, "utf8")).toBe("B\n");
      expect(existsSync(`${a}.tmp`) || existsSync(`${b}.tmp`)).toBe(false);
    } finally {
      store.close();
    }
  });

  it("stores nothing and leaves no file when a file cannot be written", async () => {
    const store = SessionStore.open(join(tmp.dir, "unwritable.db"));
    try {
      const a = join(tmp.dir, "unwritable-a.json");
      const b = join(tmp.dir, "no-such-folder", "b.csv");
      const r = await record(store, [
        { path: a, text: "A\n" },
        { path: b, text: "B\n" },
      ]);
      expect(() => storeDesignRecord(store, r)).toThrow(OutputError);
      expect(() => storeDesignRecord(store, r)).toThrow(/Could not write .*no-such-folder/);
      expect(store.countStimuli()).toBe(0);
      expect(existsSync(a) || existsSync(`${a}.tmp`)).toBe(false);
    } finally {
      store.close();
    }
  });

  it("stores nothing and removes the files already put in place when a later one cannot be", async () => {
    const store = SessionStore.open(join(tmp.dir, "unplaceable.db"));
    try {
      const a = join(tmp.dir, "unplaceable-a.json");
      // A folder where the second file should go: its temporary file is written, but cannot be renamed onto it.
      const b = join(tmp.dir, "unplaceable-b");
      mkdirSync(join(b, "inside"), { recursive: true });
      const r = await record(store, [
        { path: a, text: "A\n" },
        { path: b, text: "B\n" },
      ]);
      expect(() => storeDesignRecord(store, r)).toThrow();
      expect(store.countStimuli()).toBe(0);
      expect(store.db.prepare("SELECT name FROM sqlite_master WHERE name = 'designs'").get()).toBeUndefined();
      expect(existsSync(a) || existsSync(`${a}.tmp`) || existsSync(`${b}.tmp`)).toBe(false);
    } finally {
      store.close();
    }
  });
});
