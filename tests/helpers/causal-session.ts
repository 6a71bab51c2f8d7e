/**
 * A lab database with a designed and recorded causal-test session, small enough for a test: a causal design from
 * two units that are linear filters on 32-pixel images (designCausal and storeCausalDesign, as `cortexloop design
 * causal` runs them), the session that showed its images twice (each unit's response to an image is the model's
 * prediction plus `shift`, −0.5 on the first repeat and +0.5 on the second), the same recording with its units
 * named as a simulated rig names electrodes (Electrode 1#0 for e0#0, Electrode 2#0 for e1#0), and a plain session
 * of other images and the bank images the design also uses (as a session before the design may have shown them).
 */
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  designCausal,
  storeCausalDesign,
  type CausalDesignOptions,
  type DesignModel,
} from "../../src/main/causal/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { populationResponseModel } from "../../src/models/response/index.js";
import { generateImages, type NamedImage } from "../../src/stimulus/index.js";
import { encodePng } from "../../src/stimulus/index.js";

const size = 32;

export interface CausalSessionFixture {
  db: string;
  modelVersionId: number;
  designId: number;
  causalSessionId: number;
  /** The same recording, its units named Electrode 1#0 and Electrode 2#0. */
  renamedSessionId: number;
  plainSessionId: number;
  /** Recorded response = predicted response of the image's unit + shift (± 0.5 by repeat). */
  shift: number;
  units: string[];
}

/** Unit u: 10 exp(w_u · (pixels − 128) / 2000), w_u an oriented luminance grating in a Gaussian (unit norm). */
function linearModel(): DesignModel["model"] {
  const filters = [0, Math.PI / 2].map((theta) => {
    const w = new Float32Array(size * size * 3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const u = (x - size / 2) * Math.cos(theta) + (y - size / 2) * Math.sin(theta);
        const env = Math.exp(-((x - size / 2) ** 2 + (y - size / 2) ** 2) / (2 * 8 * 8));
        for (let c = 0; c < 3; c++) w[(y * size + x) * 3 + c] = env * Math.cos((2 * Math.PI * u) / 10);
      }
    const n = Math.sqrt(w.reduce((a, v) => a + v * v, 0));
    return w.map((v) => v / n);
  });
  const w = tf.keep(
    tf.tensor2d(
      Float32Array.from({ length: size * size * 3 * 2 }, (_, i) => filters[i % 2]![Math.floor(i / 2)]!),
      [size * size * 3, 2],
    ),
  );
  return populationResponseModel(
    // exp keeps every prediction positive, so every predicted %Δr is defined.
    (x) => tf.mul(10, tf.exp(tf.mul(5e-4, tf.matMul(tf.reshape(tf.sub(x, 128), [x.shape[0], -1]), w)))) as tf.Tensor2D,
    2,
    size,
  );
}

async function* bankOf(images: NamedImage[]): AsyncGenerator<NamedImage> {
  for (const im of images) yield im;
}

export const causalFixtureOptions: CausalDesignOptions = {
  restarts: 1,
  steps: 3,
  normalPerUnit: 1,
  adversarialPerUnit: 1,
  adversarialBases: [0.5, 0.8],
  budget: { norm: "l2", value: 400 },
  smoothPerUnit: 1,
  smoothCandidates: 1,
  smoothKeepBy: "contrast",
  smoothPatches: 2,
  smoothBlurPx: 4,
  patchPx: 8,
  stridePx: 8,
  randomNormal: 3,
  saliency: false,
  seed: 4,
  priors: { jitterPx: 1, gradientBlurPx: 1 },
  maximizingFrom: "normal",
  maximizingCandidates: 3,
};

export async function writeCausalSession(dir: string): Promise<CausalSessionFixture> {
  // The plain JavaScript backend: a 32-pixel linear model needs no more, and every test machine has it.
  await tf.setBackend("cpu");
  const db = join(dir, "causal-lab.db");
  const store = SessionStore.open(db);
  try {
    const modelVersionId = store.putModelVersion({ name: "linear units", kind: "deep-ensemble", sessionIds: [] });
    const units = ["e0#0", "e1#0"];
    const dm: DesignModel = {
      model: linearModel(),
      units: units.map((name) => ({
        name,
        electrode: name.split("#")[0]!,
        sortedId: 0,
        source: "ensemble" as const,
        modelVersionId,
      })),
      imageSize: size,
      scale: "responses",
      dispose() {},
    };
    const bank = [...generateImages("gratings", 6, size, 11), ...generateImages("dots", 6, size, 12)].map(
      (im, i): NamedImage => ({ ...im, name: `bank${String(i).padStart(2, "0")}.png` }),
    );
    const design = await designCausal(dm, bankOf(bank), causalFixtureOptions);
    const stored = await storeCausalDesign(store, dm, design, {
      modelVersionId,
      out: join(dir, "causal-protocol.json"),
      repeats: 2,
      name: "causal-fixture",
      design: causalFixtureOptions,
    });
    const rows = store.db
      .prepare("SELECT stimulus_sha256 AS sha, unit, kind, predicted FROM causal_images WHERE design_id = ?")
      .all(stored.designId) as { sha: string; unit: string; kind: string; predicted: number }[];
    const hashes = [...new Set(rows.map((r) => r.sha))];
    const predictedOf = new Map(rows.map((r) => [`${r.sha}|${r.unit}`, r.predicted]));
    const shift = 10 - Math.min(0, ...rows.map((r) => r.predicted));
    // [unit][image][repeat]; an image shown to a unit it was not designed for gets the shift alone.
    const values = new Float64Array(units.length * hashes.length * 2).map((_, k) => {
      const r = k % 2;
      const i = Math.floor(k / 2) % hashes.length;
      const u = Math.floor(k / (2 * hashes.length));
      return (predictedOf.get(`${hashes[i]}|${units[u]}`) ?? 0) + shift + (r === 0 ? -0.5 : 0.5);
    });
    const recording = (name: string, electrode: (u: number) => string) =>
      store.importRecordedSession({
        name,
        provenanceText: "test: responses are the design model's predictions plus a shift",
        countWindow: { startMs: 50, endMs: 150, bins: 1 },
        durationMs: 100,
        stimuli: hashes.map((h) => ({ png: store.getStimulusPng(h)!, width: size, height: size })),
        units: units.map((_, u) => ({ electrode: electrode(u), sortedId: 0, flags: [] })),
        repeats: 2,
        averaged: false,
        values,
      });
    const causal = recording("causal-test", (u) => units[u]!.split("#")[0]!);
    const renamed = recording("causal-electrodes", (u) => `Electrode ${u + 1}`);
    const plainImages = generateImages("noise", 4, size, 13);
    const plainStimuli = [];
    for (const im of plainImages) plainStimuli.push({ png: await encodePng(im), width: size, height: size });
    const bankKinds = ["random-normal", "maximizing-normal", "adversarial-base", "smooth-base"];
    for (const sha of new Set(rows.filter((r) => bankKinds.includes(r.kind)).map((r) => r.sha)))
      plainStimuli.push({ png: store.getStimulusPng(sha)!, width: size, height: size });
    const plain = store.importRecordedSession({
      name: "plain",
      provenanceText: "test: a session without causal images",
      countWindow: { startMs: 50, endMs: 150, bins: 1 },
      durationMs: 100,
      stimuli: plainStimuli,
      units: units.map((u) => ({ electrode: u.split("#")[0]!, sortedId: 0, flags: [] })),
      repeats: 1,
      averaged: false,
      values: new Float64Array(units.length * plainStimuli.length).fill(3),
    });
    return {
      db,
      modelVersionId,
      designId: stored.designId,
      causalSessionId: causal.session.id,
      renamedSessionId: renamed.session.id,
      plainSessionId: plain.session.id,
      shift,
      units,
    };
  } finally {
    store.close();
  }
}
