import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { importRecordedSession, ImportError } from "../../src/main/import/recorded.js";
import { loadSessionDataset } from "../../src/main/import/dataset.js";
import { SessionStore } from "../../src/main/store/index.js";
import { encodePng } from "../../src/stimulus/index.js";
import { encodeNumericNpy } from "../../src/models/data/npy-numeric.js";
import { meanResponses } from "../../src/models/data/dataset.js";

const shared = process.env.CORTEXLOOP_SHARED ?? path.resolve(import.meta.dirname, "..", "..", "..", "shared");
const N = Number.NaN;

async function bank(count: number, duplicateOf?: [number, number]): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "cl-bank-"));
  for (let k = 1; k <= count; k++) {
    const shade = duplicateOf && k === duplicateOf[1] ? duplicateOf[0] * 20 : k * 20;
    const png = await encodePng({ width: 8, height: 8, pixels0to255: new Uint8Array(8 * 8 * 3).fill(shade) });
    writeFileSync(path.join(dir, `image${String(k).padStart(4, "0")}.png`), png);
  }
  return dir;
}

function npy(shape: number[], values: number[]): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "cl-resp-")), "responses.npy");
  writeFileSync(file, encodeNumericNpy(shape, values));
  return file;
}

function freshStore(): SessionStore {
  return SessionStore.open(path.join(mkdtempSync(path.join(tmpdir(), "cl-db-")), "lab.db"));
}

describe("import a recorded session", () => {
  it("stores repeat-averaged responses, dedupes stimuli, flags NaN-only units, and reads back", async () => {
    const store = freshStore();
    const images = await bank(4, [1, 4]); // image0004 has the same pixels as image0001
    const responses = npy([3, 4], [1, 2, 3, 4, 0.5, 0.25, 0, 1, N, N, N, N]);
    const logs: string[] = [];
    const report = await importRecordedSession(store, {
      imagesPath: images,
      responsesPath: responses,
      sessionName: "S1",
      log: (l) => logs.push(l),
    });
    expect(report.presentations).toBe(4);
    expect(report.stimuli).toBe(3);
    expect(report.flaggedUnits).toEqual(["Electrode 2"]);
    expect(logs.join("\n")).toMatch(/Electrode 2 has only NaN responses; kept, excluded/);
    const ds = await loadSessionDataset(store, report.session.id, 8);
    // duplicated stimulus: the dataset has 3 distinct images, the 4th presentation is a 2nd repeat of image 1
    expect(ds.images.length).toBe(3);
    expect(ds.repeats).toBe(2);
    expect(ds.usable).toEqual([true, true, false]);
    const mean = meanResponses(ds);
    expect(Array.from(mean.subarray(0, 3))).toEqual([2.5, 2, 3]);
    store.close();
  });

  it("stores one presentation per image × repeat with values, NaN padding skipped", async () => {
    const store = freshStore();
    const images = await bank(3);
    // 2 units × 3 images × 3 repeats; image 3 was shown twice
    const v = [1, 2, 3, 4, 5, 6, 7, 8, N, 10, 20, 30, 40, 50, 60, 70, 80, N];
    const report = await importRecordedSession(store, {
      imagesPath: images,
      responsesPath: npy([2, 3, 3], v),
      sessionName: "S2",
    });
    expect(report.presentations).toBe(8);
    const ds = await loadSessionDataset(store, report.session.id, 8);
    expect(ds.repeats).toBe(3);
    expect(ds.averaged).toBe(false);
    expect(Array.from(ds.responses.subarray(0, 9))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, N]);
    store.close();
  });

  it("refuses mismatched shapes, empty banks, corrupt images and reused names, storing nothing", async () => {
    const store = freshStore();
    const images = await bank(4);
    await expect(
      importRecordedSession(store, {
        imagesPath: images,
        responsesPath: npy([1, 5], [1, 2, 3, 4, 5]),
        sessionName: "X",
      }),
    ).rejects.toThrow(
      /5 image columns but the bank holds 4 images numbered 1\.\.4; missing image0005\. Nothing was imported/,
    );
    await expect(
      importRecordedSession(store, { imagesPath: images, responsesPath: npy([4], [1, 2, 3, 4]), sessionName: "X" }),
    ).rejects.toBeInstanceOf(ImportError);
    const empty = mkdtempSync(path.join(tmpdir(), "cl-empty-"));
    await expect(
      importRecordedSession(store, { imagesPath: empty, responsesPath: npy([1, 4], [1, 2, 3, 4]), sessionName: "X" }),
    ).rejects.toThrow(/holds no PNG or JPEG/);
    writeFileSync(path.join(images, "image0003.png"), "not a png");
    await expect(
      importRecordedSession(store, { imagesPath: images, responsesPath: npy([1, 4], [1, 2, 3, 4]), sessionName: "X" }),
    ).rejects.toThrow(/Could not decode image .*image0003\.png/);
    expect(store.listSessions()).toEqual([]);
    expect(store.countStimuli()).toBe(0);
    const ok = await bank(2);
    await importRecordedSession(store, { imagesPath: ok, responsesPath: npy([1, 2], [1, 2]), sessionName: "X" });
    await expect(
      importRecordedSession(store, { imagesPath: ok, responsesPath: npy([1, 2], [1, 2]), sessionName: "X" }),
    ).rejects.toThrow(/already exists/);
    expect(store.listSessions().length).toBe(1);
    store.close();
  });

  it("imports a real WE session from a zip when the shared data is present", async (ctx) => {
    const zip = path.join(shared, "data", "v4", "images", "images_190928.zip");
    if (!existsSync(zip)) {
      console.log(`skipped: ${zip} not found (set CORTEXLOOP_SHARED)`);
      ctx.skip();
    }
    const store = freshStore();
    const report = await importRecordedSession(store, {
      imagesPath: zip,
      responsesPath: path.join(shared, "data", "v4", "responses", "responses_190928.npy"),
      sessionName: "190928",
    });
    expect(report.shape).toEqual([24, 1200]);
    expect(report.presentations).toBe(1200);
    expect(report.units).toBe(24);
    store.close();
  });
});
