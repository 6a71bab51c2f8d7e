// `cortexloop readout` on a real SQLite store: the skip readout by default, stored as a model version
// whose predictions (cortexloop predict) are the ones the fit made in memory; --kind factorized as before.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { importRecordedSession } from "../../src/main/import/recorded.js";
import { evaluateSessions } from "../../src/main/jobs/evaluate.js";
import { predictImages } from "../../src/main/jobs/predict.js";
import { fitNewSessionReadout, ReadoutError, type NewReadoutKind } from "../../src/main/jobs/readout.js";
import { SessionStore } from "../../src/main/store/index.js";
import { loadEnsemble } from "../../src/models/ensemble/index.js";
import { stripesSession } from "../helpers/stripes-session.js";
import { tempDir } from "../helpers/tmp.js";

describe("cortexloop readout (skip and factorized) on a SQLite store", () => {
  it("stores a version whose predict output is the fit's own prediction; refuses an unknown kind", async () => {
    const tmp = tempDir("cl-skip-readout-");
    const store = SessionStore.open(path.join(tmp.dir, "lab.db"));
    try {
      const sessions = {
        a: await stripesSession(tmp.dir, "a", 30, 3, 1),
        b: await stripesSession(tmp.dir, "b", 30, 2, 2),
        c: await stripesSession(tmp.dir, "c", 60, 4, 3),
      };
      for (const [name, s] of Object.entries(sessions))
        await importRecordedSession(store, { imagesPath: s.images, responsesPath: s.responses, sessionName: name });
      const trained = await evaluateSessions(store, {
        frontEnd: { kind: "gabor", inputSize: 32 },
        imageSize: 32,
        members: 2,
        width: 4,
        blocks: 1,
        maxCycles: 2,
        readoutSteps: 20,
        backend: "cpu",
        sessions: ["a", "b"],
        save: true,
        testFraction: 0.2,
      });
      const parent = trained.modelVersionId!;
      const versions = store.listModelVersions().length;
      await expect(
        fitNewSessionReadout(store, { modelVersionId: parent, session: "c", kind: "ridge" as NewReadoutKind }),
      ).rejects.toThrow(ReadoutError);
      expect(store.listModelVersions().length).toBe(versions);

      for (const kind of ["skip", "factorized"] as const) {
        const lines: string[] = [];
        const r = await fitNewSessionReadout(store, {
          modelVersionId: parent,
          session: "c",
          ...(kind === "skip" ? {} : { kind }),
          steps: 200,
          log: (l) => lines.push(l),
        });
        expect(r.kind).toBe(kind);
        expect(r.units).toBe(4);
        expect(Number.isFinite(r.validationMedian)).toBe(true);
        expect(lines.join("\n")).toMatch(new RegExp(`${kind} readout of c: 4 units`));
        if (kind === "skip") {
          expect(r.steps).toBe(0);
          // Colour is linear in the Gabor front end's features: the skip readout (ridge among its weightings) reads it.
          expect(r.validationMedian).toBeGreaterThan(0.5);
        } else expect(r.steps).toBeGreaterThan(0);
        const version = store.getModelVersion(r.modelVersionId)!;
        expect(version.parentId).toBe(parent);
        expect((version.metrics.newReadout as { kind: string }).kind).toBe(kind);
        const loaded = loadEnsemble(version.checkpoint!, "stored");
        const key = loaded.ensemble.sessionKeys().find((k) => store.findSession(Number(k))?.name === "c")!;
        expect(loaded.ensemble.readoutKind(key)).toBe(kind);
        loaded.ensemble.dispose();
        // predict, from the stored version, on the session's images (store order = file order here).
        const out = await predictImages(store, {
          modelVersionId: r.modelVersionId,
          images: sessions.c.images,
          session: "c",
          out: path.join(tmp.dir, `${kind}.csv`),
        });
        expect(out.scale).toBe("responses");
        const stats = (version.config.targetStats as Record<string, { mean: number[]; std: number[] }>)[key]!;
        r.validation.idx.forEach((i, row) => {
          for (let u = 0; u < 4; u++) {
            const inMemory = r.validation.predictions[row * 4 + u]! * stats.std[u]! + stats.mean[u]!;
            expect(out.predictions[i * 4 + u]!).toBeCloseTo(inMemory, 4);
          }
        });
      }
    } finally {
      store.close();
      tmp.cleanup();
    }
  }, 300_000);
});
