// A lab database with one recorded session of generated pictures and a deep ensemble on the Gabor
// front end (random weights: any function will do as a teacher) stored as a model version.
import { join } from "node:path";
import { DeepEnsemble, defaultEnsembleConfig, saveEnsemble } from "../../src/models/ensemble/index.js";
import { loadFrontEnd } from "../../src/models/frontend/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { encodePng, generateImages } from "../../src/stimulus/index.js";

export interface CompactFixture {
  db: string;
  sessionId: number;
  teacherId: number;
  units: string[];
}

/**
 * `images` generated pictures (gratings, noise, dots), `units` units with repeat-averaged responses, and the teacher.
 */
export async function compactFixture(
  dir: string,
  options: { images?: number; units?: number } = {},
): Promise<CompactFixture> {
  const n = options.images ?? 48;
  const nUnits = options.units ?? 3;
  const third = Math.ceil(n / 3);
  const pictures = [
    ...generateImages("gratings", third, 112, 1),
    ...generateImages("noise", third, 112, 2),
    ...generateImages("dots", third, 112, 3),
  ].slice(0, n);
  const db = join(dir, "lab.db");
  const store = SessionStore.open(db);
  try {
    const stimuli = [];
    for (const p of pictures) stimuli.push({ png: await encodePng(p), width: 112, height: 112 });
    const values = new Float64Array(nUnits * n).map((_, k) => Math.abs(Math.sin(k * 0.37)) * 5);
    const imported = store.importRecordedSession({
      name: "S1",
      provenanceText: "test fixture",
      countWindow: { startMs: 50, endMs: 150, bins: 1 },
      durationMs: 100,
      stimuli,
      units: Array.from({ length: nUnits }, (_, u) => ({ electrode: `e${u}`, sortedId: 0, flags: [] })),
      repeats: 1,
      averaged: true,
      values,
    });
    const sessionId = imported.session.id;
    const frontEnd = await loadFrontEnd({ kind: "gabor", inputSize: 112 });
    const ensemble = new DeepEnsemble({
      ...defaultEnsembleConfig,
      members: 2,
      width: 8,
      blocks: 1,
      inputShape: [...frontEnd.outputShape],
      seed: 3,
    });
    ensemble.resetReadout(String(sessionId), nUnits);
    const teacherId = store.putModelVersion({
      name: "teacher",
      kind: "deep-ensemble",
      config: {
        ...ensemble.config,
        frontEnd: frontEnd.name,
        frontEndSpec: { kind: "gabor", inputSize: 112 },
        imageSize: 112,
      },
      checkpoint: await saveEnsemble(ensemble, frontEnd.name),
      sessionIds: [sessionId],
    });
    ensemble.dispose();
    frontEnd.dispose();
    return { db, sessionId, teacherId, units: Array.from({ length: nUnits }, (_, u) => `e${u}#0`) };
  } finally {
    store.close();
  }
}

/** Distillation settings small enough for a test (a few seconds a unit). */
export const tinySettings = {
  filters: [4, 4, 3, 3, 3],
  sharedLayers: 3,
  steps: 6,
  batchSize: 8,
  learningRate: 2e-3,
  recalibrateBatches: 2,
  prune: { keepVariance: 0.9, minFilters: 2, images: 8, validation: 8 },
  retrain: { steps: 4, batchSize: 8, images: 16, learningRate: 1e-3 },
  seed: 1,
};
