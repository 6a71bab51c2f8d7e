import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sessionTrainingData } from "../../src/main/campaign/dataset-from-session.js";
import { SessionStore, type UnitKey } from "../../src/main/store/index.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-pooled-");
afterAll(() => tmp.cleanup());

/** Count of unit `u` for the `r`-th showing of image `image`: distinct for every (unit, image, repeat). */
const count = (u: UnitKey, image: string, r: number): number =>
  (u.electrode === "E1" ? 1 : 100) + image.charCodeAt(0) * 3 + Number(image.slice(1)) + 7 * r;

/**
 * Stores one session: each image shown `repeats` times, every unit counting `count(...)` spikes. The
 * units are written in the order given (so their row ids differ between sessions).
 */
function storeSession(
  store: SessionStore,
  images: { name: string; repeats: number; firstRepeat: number }[],
  units: UnitKey[],
  sha: (name: string) => string,
): number {
  const id = store.createSession({
    name: "s",
    protocolId: store.putProtocol("p", "{}"),
    rigId: store.putRig("r", "{}"),
    seed: 1,
    countWindow: { startMs: 50, endMs: 150, bins: 1 },
  }).id;
  const w = store.writer(id);
  let idx = 0;
  for (const img of images) {
    for (let r = 0; r < img.repeats; r++, idx++) {
      w.addPresentation({
        idx,
        block: img.name.startsWith("T") ? "test" : "normal",
        stimulusSha256: sha(img.name),
        eventCode: idx + 1,
        scheduledMs: idx,
        shownMs: idx,
        durationMs: 50,
        status: "shown",
      });
      w.addCounts({
        presentationIdx: idx,
        onsetSample: idx * 100,
        complete: true,
        units: units.map((unit) => ({ unit, bins: [count(unit, img.name, img.firstRepeat + r)] })),
      });
    }
  }
  w.flush();
  w.close();
  return id;
}

describe("pooled training data: sessions that record the same units", () => {
  it(
    "pools the test images' repeats, matches units by name, keeps each session's own training/validation split, " +
      "and refuses sessions with other units",
    async () => {
      const store = SessionStore.open(join(tmp.dir, "pooled.db"));
      try {
        const shas = new Map<string, string>();
        const sha = (name: string): string => {
          let s = shas.get(name);
          if (s === undefined)
            shas.set(
              name,
              (s = store.putStimulus(new TextEncoder().encode(name), { width: 1, height: 1, channels: 3 })),
            );
          return s;
        };
        const e1 = { electrode: "E1", sortedId: 0 };
        const e2 = { electrode: "E2", sortedId: 0 };
        const test = ["T1", "T2", "T3"];
        const a = Array.from({ length: 10 }, (_, i) => `A${i}`);
        const b = Array.from({ length: 10 }, (_, i) => `B${i}`);
        // Session 2 writes its units in the other order: the columns must still line up by name.
        const s1 = storeSession(
          store,
          [
            ...test.map((name) => ({ name, repeats: 2, firstRepeat: 0 })),
            ...a.map((name) => ({ name, repeats: 1, firstRepeat: 0 })),
          ],
          [e1, e2],
          sha,
        );
        const s2 = storeSession(
          store,
          [
            ...test.map((name) => ({ name, repeats: 2, firstRepeat: 2 })),
            ...b.map((name) => ({ name, repeats: 1, firstRepeat: 0 })),
          ],
          [e2, e1],
          sha,
        );
        const heldOut = new Set(test.map(sha));
        const features = async (keys: readonly string[]): Promise<Float32Array> => new Float32Array(keys.length * 2);
        const options = { key: "k", heldOut, features, seed: 5 };

        const pooled = await sessionTrainingData(store, [s1, s2], options);
        expect(pooled.sessionIds).toEqual([s1, s2]);
        expect(pooled.unitNames).toEqual(["E1#0", "E2#0"]);
        expect(pooled.presentations).toBe(2 * (3 * 2 + 10));
        const name = (row: number): string => [...shas].find(([, s]) => s === pooled.imageKeys[row])![0];
        // Each test image appears once, with the repeats of both sessions (2 + 2), in showing order.
        expect(pooled.testIdx.map(name)).toEqual(test);
        for (const i of pooled.testIdx) expect(pooled.repeatsPerImage[i]).toBe(4);
        const rows = pooled.session.repeats!(1, pooled.testIdx);
        expect(rows).toHaveLength(4);
        expect(rows.map((r) => r[0])).toEqual([0, 1, 2, 3].map((r) => count(e2, "T1", r)));
        // Training + validation rows: every non-test image of both sessions, none twice.
        const fitRows = [...pooled.session.trainIdx, ...pooled.session.valIdx];
        expect(new Set(fitRows.map(name))).toEqual(new Set([...a, ...b]));
        expect(fitRows).toHaveLength(20);
        // Session 1's split is the one its own data has with the same seed; session 2's, with seed + 1.
        const own1 = await sessionTrainingData(store, s1, options);
        const own2 = await sessionTrainingData(store, s2, { ...options, seed: 6 });
        const names = (d: typeof own1, idx: number[]): string[] =>
          idx.map((i) => [...shas].find(([, s]) => s === d.imageKeys[i])![0]).sort();
        const pooledVal = names(pooled, pooled.session.valIdx);
        expect(pooledVal).toEqual([...names(own1, own1.session.valIdx), ...names(own2, own2.session.valIdx)].sort());
        // Targets: z-scored repeat means; the two units keep their own (very different) counts apart.
        const nU = pooled.session.units;
        const raw = (u: number, row: number): number => pooled.session.targets[row * nU + u]!;
        const a0 = pooled.imageKeys.indexOf(sha("A0"));
        const b0 = pooled.imageKeys.indexOf(sha("B0"));
        // E1 and E2 differ by a constant 99 spikes on every image, so their z-scores agree.
        expect(raw(0, a0)).toBeCloseTo(raw(1, a0), 6);
        expect(raw(0, b0)).toBeCloseTo(raw(1, b0), 6);
        expect(raw(0, b0)).toBeGreaterThan(raw(0, a0));

        // A session with another unit cannot share the readout: a clear error, nothing changed.
        const s3 = storeSession(
          store,
          [...a.map((name) => ({ name, repeats: 1, firstRepeat: 0 }))],
          [e1, { electrode: "E3", sortedId: 1 }],
          sha,
        );
        await expect(sessionTrainingData(store, [s1, s3], options)).rejects.toThrow(
          /record different units .*missing E2#0, extra E3#1.*Nothing was trained/,
        );
        expect(store.presentations(s1)).toHaveLength(16);
      } finally {
        store.close();
      }
    },
  );
});
