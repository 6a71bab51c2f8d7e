// `npm run bench -- sim-transfer --db <campaign lab.db>`: do the images designed through a campaign's
// models move the simulated neurons they model? The campaign's neurons are published compact models
// (`campaign --neurons compact`, the default where ../shared is present), rebuilt here from the study's
// stored settings, so each design can be scored on the neuron's noise-free rate, what a causal session
// would measure without its spike-count noise. Prints, per design and the model it was made through,
// the design model's response in SDs of its responses to natural images and the neurons' %Δr: against the
// mean over those natural images (maximizing) or against the design's base (adversarial ±, smooth−).
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SessionStore, listStudies } from "../src/main/store/index.js";
import { loadDesignModel } from "../src/main/causal/model-units.js";
import {
  campaignNeurons,
  campaignNeuronSeed,
  defaultCompactModelsDir,
  defaultImagesDir,
} from "../src/main/campaign/index.js";
import { ENSEMBLE_KINDS } from "../src/main/compact/versions.js";
import { consensusResponseModel, type UnitResponseModel } from "../src/models/response/index.js";
import {
  adversarialPairs,
  randomSmoothing,
  smoothMinus,
  synthesizeMaximizing,
  type GradientPriors,
  type MaximizeOptions,
} from "../src/stimulus/synthesis/index.js";
import { decodeImage, isImageName, readZipEntries, type RgbImage } from "../src/stimulus/index.js";
import { meanSd, predictions, storeModelOptions, summary, unitColumn } from "./transfer-stats.js";

const usage = `usage: npm run bench -- sim-transfer --db <campaign lab.db> [--model <version>] [--steps 100]
  [--random 200] [--budget 4000] [--zip <images_*.zip>] [--through ensemble,compact,consensus]
The store must hold a campaign's study (cortexloop campaign) with compact-model neurons.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...storeModelOptions,
      steps: { type: "string", default: "100" },
      budget: { type: "string", default: "4000" },
      zip: { type: "string", default: join(defaultImagesDir(), "images_210322.zip") },
      through: { type: "string", default: "ensemble,compact,consensus" },
    },
  });
  if (values.db === undefined) {
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  const store = SessionStore.open(values.db);
  const study = listStudies(store.db).at(-1);
  const settings = study?.settings ?? {};
  const ensembles = store.listModelVersions().filter((v) => ENSEMBLE_KINDS.includes(v.kind));
  const teacher = values.model === undefined ? ensembles.at(-1)?.id : Number(values.model);
  if (study === undefined || teacher === undefined) {
    console.error(`${values.db} holds no campaign study or no ensemble; run cortexloop campaign first.\n${usage}`);
    process.exitCode = 1;
    return;
  }
  const seed = Number(settings.seed ?? 1);
  const ensemble = await loadDesignModel(store, teacher, [], { ensembleOnly: true });
  const routed = await loadDesignModel(store, teacher, []);
  const { neurons } = await campaignNeurons(
    "compact",
    Number(settings.units ?? 16),
    campaignNeuronSeed(seed),
    String(settings.compactModels ?? defaultCompactModelsDir()),
    () => {},
  );
  const hasCompact = routed.units.some((u) => u.source === "compact");
  const names = neurons.units.map((u) => `${u.electrode}#${u.sortedId}`);
  const neuronOf = ensemble.units.map((u) => names.indexOf(u.name));
  if (neuronOf.some((i) => i < 0)) {
    console.error(`The model's units (${ensemble.units.map((u) => u.name).join(", ")}) are not the study's neurons.`);
    process.exitCode = 1;
    return;
  }
  const n = ensemble.units.length;
  const units = Array.from({ length: n }, (_, j) => j);
  const random: RgbImage[] = [];
  for (const e of (await readZipEntries(values.zip!, isImageName)).slice(0, Number(values.random)))
    random.push(await decodeImage(e.data, e.name));
  /** Unit j's neuron's rate for image j (images per unit) or for every unit (one image). */
  const rates = async (images: readonly RgbImage[]): Promise<number[]> => {
    const out: number[] = [];
    for (const [j, im] of images.entries()) out.push((await neurons.rates(im))[neuronOf[j]!]!);
    return out;
  };
  const byImage: number[][] = [];
  for (const im of random) byImage.push(await neurons.rates(im));
  const randomRates = units.map((j) => byImage.map((r) => r[neuronOf[j]!]!));
  const meanRate = randomRates.map((r) => meanSd(r).mean);

  // Each design model with its units' scale on the natural images.
  type Through = {
    name: string;
    model: UnitResponseModel;
    scale: { mean: number; sd: number }[];
    onRandom: Float32Array;
  };
  const scaled = (name: string, model: UnitResponseModel): Through => {
    const onRandom = predictions(model, random);
    return { name, model, onRandom, scale: units.map((j) => meanSd(unitColumn(onRandom, n, j))) };
  };
  const all: Through[] = [scaled("ensemble", ensemble.model)];
  if (hasCompact) {
    all.push(scaled("compact", routed.model));
    all.push(
      scaled("consensus", consensusResponseModel([all[0]!.model, all[1]!.model], [all[0]!.scale, all[1]!.scale])),
    );
  }
  const through = all.filter((t) => values.through!.split(",").includes(t.name));
  const r2 = (t: Through): number[] =>
    units.map((j) => {
      const p = unitColumn(t.onRandom, n, j);
      const r = randomRates[j]!;
      const [mp, mr] = [meanSd(p).mean, meanRate[j]!];
      const cov = p.reduce((a, v, i) => a + (v - mp) * (r[i]! - mr), 0);
      return cov ** 2 / (p.reduce((a, v) => a + (v - mp) ** 2, 0) * r.reduce((a, v) => a + (v - mr) ** 2, 0));
    });
  console.log(
    `sim-transfer: model version ${teacher} of study "${study.name}", ${n} units; ${random.length} natural images ` +
      `from ${values.zip}; %Δr of the neurons' noise-free rates (mean ± s.e. over units)`,
  );
  for (const t of through) console.log(`  r² of ${t.name.padEnd(9)} with the neurons' rates: ${summary(r2(t))}`);
  const pct = (a: number, b: number): number => (100 * (a - b)) / b;
  const againstRandom = (r: number[]): number[] => r.map((v, j) => pct(v, meanRate[j]!));
  const inSd = (t: Through, images: RgbImage[]): number[] => {
    const p = predictions(t.model, images);
    return units.map((j) => (p[j * n + j]! - t.scale[j]!.mean) / t.scale[j]!.sd);
  };
  const best = (t: Through): RgbImage[] =>
    units.map((j) => {
      const p = unitColumn(t.onRandom, n, j);
      return random[p.indexOf(Math.max(...p))]!;
    });
  const priors: [string, GradientPriors][] = [
    ["no priors", { jitterPx: 0, gradientBlurPx: 0 }],
    ["jitter 4, blur 2", { jitterPx: 4, gradientBlurPx: 2 }],
  ];
  for (const t of through) {
    const top = best(t);
    console.log(`through ${t.name}:`);
    console.log(
      `  maximizing normal (best of ${String(random.length).padEnd(4)})        neurons ` +
        summary(againstRandom(await rates(top))),
    );
    for (const [name, p] of priors) {
      const started = performance.now();
      const o: Partial<MaximizeOptions> = { restarts: 1, steps: Number(values.steps), ...p };
      const made = (await synthesizeMaximizing(t.model, units, o)).map((m) => m.image);
      console.log(
        `  maximizing synthesized, ${name.padEnd(16)} neurons ${summary(againstRandom(await rates(made)))}` +
          `  model ${summary(inSd(t, made))} SD  (${((performance.now() - started) / 1000).toFixed(0)} s)`,
      );
    }
    // Adversarial pairs from a natural image per unit that is not its best (the design picks random bases).
    const items = units.map((j) => ({ unit: j, base: random[(7 * j + 3) % random.length]! }));
    for (const [name, p] of priors) {
      const pairs = await adversarialPairs(t.model, items, {
        budget: { norm: "l2", value: Number(values.budget) },
        ...p,
      });
      const bases = await rates(pairs.map((q) => q.base));
      const change = async (side: "plus" | "minus"): Promise<number[]> =>
        (await rates(pairs.map((q) => q[side].image))).map((r, j) => pct(r, bases[j]!));
      console.log(
        `  adversarial l2 ${values.budget}, ${name.padEnd(16)} neurons + ${summary(await change("plus"))}` +
          `  − ${summary(await change("minus"))}`,
      );
    }
    const minus = await smoothMinus(
      t.model,
      units.map((j) => ({ unit: j, image: top[j]! })),
      { patches: 25 },
    );
    const control = await randomSmoothing(
      t.model,
      minus.map((m, j) => ({ unit: j, image: top[j]!, patches: m.patches.length })),
      { seed: 1 },
    );
    const topRates = await rates(top);
    const drop = async (images: RgbImage[]): Promise<number[]> =>
      (await rates(images)).map((r, j) => pct(r, topRates[j]!));
    console.log(
      `  smooth− of the best image, 25 patches    neurons ${summary(await drop(minus.map((m) => m.image)))}` +
        `  random smoothing ${summary(await drop(control.map((c) => c.image)))}`,
    );
  }
  ensemble.dispose();
  routed.dispose();
  neurons.dispose?.();
  store.close();
}
