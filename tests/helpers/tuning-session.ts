/**
 * A recorded tuning session, small enough for a test: a grating sweep (4 orientations × 2 frequencies × 2 phases on
 * 32-pixel images) designed for two units whose models are oriented energy detectors (designTuning and
 * storeTuningDesign, as `cortexloop design tuning` runs them; e0#0 predicted by an ensemble in z-scores, e1#0 by its
 * compact model), then the session that showed its images twice: each designed unit's response is 2 + 3 × its
 * prediction, ∓ 0.5 by repeat, and a third unit (e2#0, which no design named) responds 5 to everything.
 */
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { DesignModel } from "../../src/main/causal/index.js";
import { COMPACT_KIND } from "../../src/main/compact/versions.js";
import type { SessionStore } from "../../src/main/store/index.js";
import { designTuning, storeTuningDesign, type TuningSpec } from "../../src/main/tuning/index.js";
import { populationResponseModel } from "../../src/models/response/index.js";

const size = 32;

export interface TuningSessionFixture {
  designId: number;
  ensembleId: number;
  compactId: number;
  sessionId: number;
  /** The design's units, then the unit no design named. */
  units: string[];
  spec: TuningSpec;
}

/**
 * Unit u: 1 + ((c_u · (pixels − 128))² + (s_u · (pixels − 128))²) / 10⁸, c_u and s_u a quadrature pair of 4-cycle
 * gratings at 0° (u = 0) or 90° (u = 1): an energy model, so its tuning does not depend on the grating's phase.
 */
function energyModel(): DesignModel["model"] {
  const filters = [0, Math.PI / 2].flatMap((theta) =>
    [Math.cos, Math.sin].map((f) => {
      const w = new Float32Array(size * size * 3);
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const u = x * Math.cos(theta) + y * Math.sin(theta);
          for (let c = 0; c < 3; c++) w[(y * size + x) * 3 + c] = f((2 * Math.PI * 4 * u) / size);
        }
      return w;
    }),
  );
  const n = filters.length;
  const w = tf.keep(
    tf.tensor2d(
      Float32Array.from({ length: size * size * 3 * n }, (_, i) => filters[i % n]![Math.floor(i / n)]!),
      [size * size * 3, n],
    ),
  );
  const pairs = tf.keep(tf.tensor2d([1, 0, 1, 0, 0, 1, 0, 1], [n, 2]));
  return populationResponseModel(
    (x) => {
      const projected = tf.matMul(tf.reshape(tf.sub(x, 128), [x.shape[0], -1]), w);
      return tf.add(1, tf.div(tf.matMul(tf.square(projected), pairs), 1e8)) as tf.Tensor2D;
    },
    2,
    size,
  );
}

export async function writeTuningSession(store: SessionStore, dir: string): Promise<TuningSessionFixture> {
  await tf.setBackend("cpu");
  const ensembleId = store.putModelVersion({ name: "energy units", kind: "deep-ensemble", sessionIds: [] });
  const compactId = store.putModelVersion({ name: "compact e1#0", kind: COMPACT_KIND, sessionIds: [] });
  const designUnits = ["e0#0", "e1#0"];
  const dm: DesignModel = {
    model: energyModel(),
    units: designUnits.map((name, u) => ({
      name,
      electrode: name.split("#")[0]!,
      sortedId: 0,
      source: u === 0 ? ("ensemble" as const) : ("compact" as const),
      modelVersionId: u === 0 ? ensembleId : compactId,
    })),
    imageSize: size,
    scale: "z-scored",
    dispose() {},
  };
  const spec: TuningSpec = {
    kind: "gratings",
    sweep: { orientationsDeg: [0, 45, 90, 135], cyclesPerImage: [2, 4], phases: 2, contrast: 1 },
  };
  const design = await designTuning(dm, spec);
  const stored = await storeTuningDesign(store, dm, design, {
    modelVersionId: ensembleId,
    out: join(dir, "tuning-protocol.json"),
    repeats: 2,
    seed: 5,
    spec,
    name: "tuning-fixture",
  });
  const rows = store.db
    .prepare("SELECT stimulus_sha256 AS sha, predicted_json AS q FROM tuning_images WHERE design_id = ?")
    .all(stored.designId) as { sha: string; q: string }[];
  const hashes = [...new Set(rows.map((r) => r.sha))];
  const predictedOf = new Map(rows.map((r) => [r.sha, JSON.parse(r.q) as Record<string, number>]));
  const units = [...designUnits, "e2#0"];
  // [unit][image][repeat]
  const values = new Float64Array(units.length * hashes.length * 2).map((_, k) => {
    const r = k % 2;
    const i = Math.floor(k / 2) % hashes.length;
    const u = Math.floor(k / (2 * hashes.length));
    const p = predictedOf.get(hashes[i]!)![units[u]!];
    return (p === undefined ? 5 : 2 + 3 * p) + (r === 0 ? -0.5 : 0.5);
  });
  const session = store.importRecordedSession({
    name: "tuning-sweep",
    provenanceText: "test: responses are the tuning design's predictions, scaled",
    countWindow: { startMs: 50, endMs: 150, bins: 1 },
    durationMs: 100,
    stimuli: hashes.map((h) => ({ png: store.getStimulusPng(h)!, width: size, height: size })),
    units: units.map((name) => ({ electrode: name.split("#")[0]!, sortedId: 0, flags: [] })),
    repeats: 2,
    averaged: false,
    values,
  });
  return { designId: stored.designId, ensembleId, compactId, sessionId: session.session.id, units, spec };
}
