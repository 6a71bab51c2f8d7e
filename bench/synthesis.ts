// `npm run bench -- synthesis [options]`: designing a causal-test session as `cortexloop design causal`
// does, for the published compact models of ../shared/data/v4 as units: per unit 4 maximizing
// synthesized restarts, 10 maximizing normal images from a 10,000-image bank (the recordings' images,
// then their gaudy versions), 10 adversarial pairs, 10 smooth− images with their random-smoothing
// controls and a saliency map. Target (issue 20): 16 units in ≤ 10 minutes on 2 cores. Prints the
// split by kind, the maximizing steps/s next to the compute bench's synth_step (one image), and the
// model's predicted %Δr per kind (what the causal test would expect of the neurons).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/models/backend.js";
import { compactModelFromArrays, FastCompactModel, readNpy, type NpyValue } from "../src/models/compact/index.js";
import { compactResponseModel, routedResponseModel } from "../src/models/response/index.js";
import { designCausal, type CausalDesign, type DesignModel } from "../src/main/causal/index.js";
import { withDesignWorkers } from "../src/main/causal/model-units.js";
import { sharedDir } from "../src/main/paths.js";
import {
  decodeImage,
  gaudy,
  isImageName,
  readZipEntries,
  resultsAhead,
  type NamedImage,
} from "../src/stimulus/index.js";

const usage =
  `usage: npm run bench -- synthesis [--units 16] [--session 190923] [--bank-size 10000] ` +
  `[--restarts 4] [--steps 150]
  [--normal 10] [--adversarial 10] [--smooth 10] [--synth-seconds 10] [--bank-workers N] [--synthesis-workers N]
--bank-workers: worker threads that score the bank, each with one wasm thread and its share of the
  units' models (default: the cores; 0: the main thread's backend).
--synthesis-workers: worker threads that run the maximizing, adversarial and smooth− work at once, each
  with one wasm thread and every unit's model (default: the cores; 0: one after another on the main
  thread's backend).
Reads $CORTEXLOOP_SHARED/data/v4 (default ../shared beside the project).`;

/**
 * The recordings' images, then their gaudy versions, until `count` have been given. Up to 64 images
 * are decoded ahead (on libuv's thread pool, while the main thread evaluates the models on the
 * images before).
 */
async function* bankOf(imagesDir: string, count: number): AsyncGenerator<NamedImage> {
  const zips = readdirSync(imagesDir)
    .filter((f) => f.endsWith(".zip"))
    .sort();
  async function* decodes(): AsyncGenerator<() => Promise<NamedImage | undefined>> {
    for (const pass of ["", "gaudy:"]) {
      for (const zip of zips) {
        for (const e of await readZipEntries(join(imagesDir, zip), isImageName)) {
          yield async () => {
            const image = await decodeImage(e.data, `${zip}:${e.name}`);
            if (image.width !== 112 || image.height !== 112) return undefined;
            return { ...(pass === "" ? image : gaudy(image)), name: `${pass}${zip}:${e.name}` };
          };
        }
      }
    }
  }
  if (count < 1) return;
  let given = 0;
  for await (const image of resultsAhead(decodes(), 64)) {
    if (image === undefined) continue;
    yield image;
    if (++given >= count) return;
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Mean over units of the predicted %Δr of each kind against its comparison. */
function predictedChanges(design: CausalDesign, units: number): [string, number][] {
  const byUnit = (u: number, kind: string): number[] =>
    design.images.filter((i) => i.unit === u && i.kind === kind).map((i) => i.predicted);
  const rows: [string, string][] = [
    ["maximizing-synthesized", "random-normal"],
    ["maximizing-normal", "random-normal"],
    ["adversarial-plus", "adversarial-base"],
    ["adversarial-minus", "adversarial-base"],
    ["smooth-minus", "smooth-base"],
    ["random-smoothed", "smooth-base"],
  ];
  return rows.map(([kind, base]) => {
    const changes = Array.from({ length: units }, (_, u) => {
      const b = mean(byUnit(u, base));
      return b > 0 ? (100 * (mean(byUnit(u, kind)) - b)) / b : Number.NaN;
    }).filter((v) => Number.isFinite(v));
    return [`${kind} vs ${base} (${changes.length} units with a positive base)`, mean(changes)];
  });
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      units: { type: "string", default: "16" },
      session: { type: "string", default: "190923" },
      "bank-size": { type: "string", default: "10000" },
      restarts: { type: "string", default: "4" },
      steps: { type: "string", default: "150" },
      normal: { type: "string", default: "10" },
      adversarial: { type: "string", default: "10" },
      smooth: { type: "string", default: "10" },
      "synth-seconds": { type: "string", default: "10" },
      "bank-workers": { type: "string" },
      "synthesis-workers": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const shared = sharedDir();
  const v4 = shared === undefined ? undefined : join(shared, "data", "v4");
  if (v4 === undefined || !existsSync(join(v4, "compact_models")) || !existsSync(join(v4, "images"))) {
    console.log(
      `synthesis: no shared data folder with data/v4/compact_models and images ` +
        `(${process.env.CORTEXLOOP_SHARED ?? "../shared"}); nothing was measured.`,
    );
    return;
  }
  const backend = await selectBackend({ log: () => {} });
  console.log(`synthesis: backend ${backend.name} (${backend.threads} threads, simd ${backend.simd})`);
  const nUnits = Number(values.units);
  const files = Array.from({ length: nUnits }, (_, i) =>
    join(v4, "compact_models", `compact_model_${values.session}_neuron${i}.npy`),
  );
  const fast: FastCompactModel[] = [];
  const arrays: NpyValue[] = [];
  for (const f of files) {
    if (!existsSync(f))
      throw new Error(`synthesis bench: ${f} does not exist; ask for fewer --units or another --session.`);
    arrays.push(await readNpy(f));
    const m = compactModelFromArrays(arrays[arrays.length - 1]!, f);
    fast.push(FastCompactModel.fromModel(m));
    m.dispose();
  }
  const workers = (flag: "bank-workers" | "synthesis-workers"): number =>
    values[flag] === undefined ? cpus().length : Number(values[flag]);
  const onMain: DesignModel = {
    model: routedResponseModel(fast.map((f) => ({ model: compactResponseModel(f), unit: 0 }))),
    units: files.map((_, i) => ({
      name: `${values.session}/neuron${i}`,
      electrode: `neuron${i}`,
      sortedId: 0,
      source: "compact",
      modelVersionId: 0,
    })),
    imageSize: 112,
    scale: "compact",
    dispose: () => fast.forEach((f) => f.dispose()),
  };
  const dm = await withDesignWorkers(onMain, arrays, (line) => console.log(`synthesis: ${line}`), {
    bankWorkers: workers("bank-workers"),
    synthesisWorkers: workers("synthesis-workers"),
  });
  // withDesignWorkers says what runs on workers; the rest runs here.
  if (dm.scoreBank === undefined || dm.synthesize === undefined)
    console.log(
      `synthesis: on the main thread's backend: ${[
        ...(dm.scoreBank === undefined ? ["the bank's scoring"] : []),
        ...(dm.synthesize === undefined ? ["the synthesis, one kind after another"] : []),
      ].join(", ")}`,
    );
  try {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const design = await designCausal(
      dm,
      bankOf(join(v4, "images"), Number(values["bank-size"])),
      {
        restarts: Number(values.restarts),
        steps: Number(values.steps),
        normalPerUnit: Number(values.normal),
        adversarialPerUnit: Number(values.adversarial),
        smoothPerUnit: Number(values.smooth),
      },
      (line) => console.log(`  ${line} (so far)`),
    );
    const total = (performance.now() - t0) / 1000;
    console.log(
      `\nsynthesis: ${nUnits} units of session ${values.session}, bank of ${design.bankImages} images, ` +
        `${design.images.length} designed images: ${total.toFixed(1)} s in all`,
    );
    const cpu = process.cpuUsage(cpu0);
    const cpuTotal = (cpu.user + cpu.system) / 1e6;
    const atOnce = dm.synthesize !== undefined;
    console.log(`  ${"kind".padEnd(24)} ${"s".padStart(7)}  share  ${"CPU s".padStart(7)}`);
    for (const [kind, s] of Object.entries(design.seconds)) {
      const cpu = design.cpuSeconds[kind] ?? Number.NaN;
      console.log(
        `  ${kind.padEnd(24)} ${s.toFixed(1).padStart(7)}  ` +
          `${`${((100 * s) / total).toFixed(0)}%`.padStart(5)}  ${cpu.toFixed(1).padStart(7)}`,
      );
    }
    const jobSeconds = ["maximizing synthesized", "adversarial", "smooth−", "random smoothing"]
      .map((k) => design.seconds[k] ?? 0)
      .reduce((a, b) => a + b, 0);
    console.log(
      atOnce
        ? `  maximizing synthesized, adversarial, smooth− and random smoothing ran at once on worker threads ` +
            `(each kind in two halves): ${design.synthesisWall.toFixed(1)} s of wall for the ` +
            `${jobSeconds.toFixed(1)} s above, each job's time on its one-thread worker (its CPU s: that time)`
        : `  maximizing synthesized, adversarial, smooth− and random smoothing one after another on the main ` +
            `thread: ${design.synthesisWall.toFixed(1)} s`,
    );
    console.log(
      `  CPU time of the process ${cpuTotal.toFixed(1)} s over ${total.toFixed(1)} s wall: ` +
        `${(cpuTotal / total).toFixed(2)} cores busy on average (2 would be the whole machine)`,
    );
    const maxSeconds = design.seconds["maximizing synthesized"] ?? Number.NaN;
    const rate = design.gradientImageSteps / maxSeconds;
    // synth_step as bench/compute.ts measures it: one image, one normalized ascent step, on unit 0's model.
    const img = tf.variable(tf.randomUniform([1, 112, 112, 3], 0, 255)) as tf.Variable<tf.Rank.R4>;
    let steps = 0;
    const s0 = performance.now();
    while (performance.now() - s0 < Number(values["synth-seconds"]) * 1000) {
      const next = fast[0]!.ascentStep(img);
      img.assign(next);
      next.dispose();
      await img.data();
      steps++;
    }
    const synthRate = steps / ((performance.now() - s0) / 1000);
    img.dispose();
    console.log(
      `maximizing synthesized: ${design.gradientImageSteps} image-steps (batches of up to 64 over units × restarts, ` +
        `best iterate checked every 5 steps) at ${rate.toFixed(1)} image-steps/s` +
        `${atOnce ? " on one thread" : ""}; synth_step on unit 0's ` +
        `model, one image: ${synthRate.toFixed(1)} steps/s`,
    );
    console.log("predicted %Δr, mean over units (the model's expectation of the causal test):");
    for (const [what, v] of predictedChanges(design, nUnits)) console.log(`  ${what}: ${v.toFixed(1)}%`);
  } finally {
    dm.dispose();
  }
}
