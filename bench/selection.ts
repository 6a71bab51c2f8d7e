// `npm run bench -- selection [options]`: selection rules for active learning compared offline, about
// ten times faster than `npm run bench -- active`, to screen a rule before running the full comparison.
//
// The campaign's design without the rig: session 1 shows natural images; each later session shows
// `--picks` images chosen by a rule from unused candidates, `--gaudy` gaudy versions of natural images
// and `--normal` natural images (the gaudy and natural ones the same for every rule). Responses are
// Poisson counts of the simulated compact-model neurons' rates over the count window (the rig's rate
// mapping, without its latencies and clock). After every session the campaign's ensemble (its training
// settings, warm-started from the last version, one readout pooled over sessions) is scored against
// the neurons' noise-free rates on `--truth` natural images never shown.
//
// The front-end features and rates of the image bank (natural and gaudy) are computed once into
// --cache. Results go, one line per seed and rule, to --out; rerunning reads finished ones back.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { paired } from "../src/main/campaign/paired.js";
import { campaignTrainingDefaults as T } from "../src/main/campaign/defaults.js";
import { defaultImagesDir, loadImageBank } from "../src/main/campaign/bank.js";
import { campaignFrontEnd, defaultCompactModelsDir } from "../src/main/campaign/setup.js";
import { f3, parseSeeds, signed } from "./active.js";
import {
  DeepEnsemble,
  disagreement,
  extractFeatures,
  featureStandardization,
  kCenterGreedy,
  loadEnsemble,
  median,
  powerSample,
  r2Raw,
  saveEnsemble,
  SeededRandom,
  selectBackend,
  trainEnsemble,
  zscoreTargets,
  type TrainingSession,
} from "../src/models/index.js";
import { gaudy, Random } from "../src/stimulus/index.js";

const usage = `usage: npm run bench -- selection [--seeds 1-16] [--rules random,active] [--units 12] [--panel 24]
  [--sessions 4] [--first 150] [--picks 75] [--gaudy 38] [--normal 37] [--candidates 600] [--truth 500]
  [--members ${T.members}] [--window-ms 100] [--bank 2000] [--cache selection-cache] [--out selection-bench.jsonl]
rules: random, active (top k by ensemble disagreement), coreset<F> (k-centre over the top k×F),
  power<P> (k drawn without replacement with chance ∝ disagreement^P, P default 4)`;

/** A selection rule by name; throws a clear error for an unknown one. */
export function parseRule(name: string): { kind: "random" | "active" | "coreset" | "power"; factor: number } {
  if (name === "random" || name === "active") return { kind: name, factor: 1 };
  const m = /^(coreset|power)(\d+(?:\.\d+)?)?$/.exec(name);
  if (m === null) throw new Error(`--rules: "${name}" is not a rule (random, active, coreset<F>, power<P>)`);
  const factor = m[2] === undefined ? (m[1] === "coreset" ? 3 : 4) : Number(m[2]);
  if (m[1] === "coreset" && !(factor >= 1)) throw new Error(`--rules: ${name}: the pool factor must be at least 1`);
  return { kind: m[1] as "coreset" | "power", factor };
}

interface Cache {
  n: number;
  units: string[];
  shape: [number, number, number];
  features: Float32Array;
  gaudyFeatures: Float32Array;
  rates: Float32Array;
  gaudyRates: Float32Array;
  spont: number[];
}

const f32 = (path: string): Float32Array => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/** Front-end features and the panel's rates for every bank image and its gaudy version (computed once). */
async function buildCache(dir: string, bankSize: number, panel: number, say: (line: string) => void): Promise<Cache> {
  const metaFile = join(dir, "meta.json");
  const want = { bank: bankSize, panel, bankSeed: 12345, panelSeed: 99 };
  if (existsSync(metaFile)) {
    const meta = JSON.parse(readFileSync(metaFile, "utf8")) as typeof want & {
      units: string[];
      shape: [number, number, number];
      spont: number[];
    };
    if (
      meta.bank === want.bank &&
      meta.panel === want.panel &&
      meta.bankSeed === want.bankSeed &&
      meta.panelSeed === want.panelSeed
    ) {
      say(`cache: ${dir} (${meta.bank} images, ${meta.units.length} neurons)`);
      const read = (f: string): Float32Array => f32(join(dir, f));
      return {
        n: meta.bank,
        units: meta.units,
        shape: meta.shape,
        spont: meta.spont,
        features: read("features.f32"),
        gaudyFeatures: read("gaudy-features.f32"),
        rates: read("rates.f32"),
        gaudyRates: read("gaudy-rates.f32"),
      };
    }
    say(
      `cache: ${dir} was built for other options (${JSON.stringify({ bank: meta.bank, panel: meta.panel })}); ` +
        `rebuilding it`,
    );
  }
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const since = (): string => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const bank = await loadImageBank({
    imagesDir: resolve(defaultImagesDir()),
    count: bankSize,
    size: 112,
    seed: want.bankSeed,
    log: say,
  });
  say(`cache: ${bank.description}`);
  const images = bank.images.map((b) => b.image);
  const gaudyImages = images.map((im) => gaudy(im));
  const frontEnd = await campaignFrontEnd("default", say, 112);
  const features = await extractFeatures(
    frontEnd,
    images.map((im) => im.pixels0to255),
    112,
    { batchSize: 32 },
  );
  const gaudyFeatures = await extractFeatures(
    frontEnd,
    gaudyImages.map((im) => im.pixels0to255),
    112,
    { batchSize: 32 },
  );
  say(`cache: front-end features ${frontEnd.outputShape.join("×")} of ${2 * images.length} pictures (${since()})`);
  const { compactNeurons } = await import("../src/main/sim/compact-neurons.js");
  const neurons = await compactNeurons({ dir: resolve(defaultCompactModelsDir()), count: panel, seed: want.panelSeed });
  const u = neurons.units.length;
  const ratesOf = async (set: typeof images, label: string): Promise<Float32Array> => {
    const out = new Float32Array(set.length * u);
    for (const [i, im] of set.entries()) {
      out.set(await neurons.rates(im), i * u);
      if ((i + 1) % 500 === 0 || i + 1 === set.length) say(`cache: ${label} rates ${i + 1}/${set.length} (${since()})`);
    }
    return out;
  };
  const rates = await ratesOf(images, "natural");
  const gaudyRates = await ratesOf(gaudyImages, "gaudy");
  const spont = await neurons.rates({ width: 112, height: 112, pixels0to255: new Uint8Array(112 * 112 * 3).fill(128) });
  neurons.dispose?.();
  const units = neurons.units.map((x) => x.electrode);
  const shape = frontEnd.outputShape as [number, number, number];
  writeFileSync(join(dir, "features.f32"), features);
  writeFileSync(join(dir, "gaudy-features.f32"), gaudyFeatures);
  writeFileSync(join(dir, "rates.f32"), rates);
  writeFileSync(join(dir, "gaudy-rates.f32"), gaudyRates);
  writeFileSync(metaFile, JSON.stringify({ ...want, units, shape, spont }));
  return { n: images.length, units, shape, spont, features, gaudyFeatures, rates, gaudyRates };
}

interface Design {
  units: number;
  sessions: number;
  first: number;
  picks: number;
  gaudy: number;
  normal: number;
  candidates: number;
  truth: number;
  members: number;
  windowS: number;
}

/** An image of the bank (by index), natural or its gaudy version. */
interface Pic {
  i: number;
  g: boolean;
}

/** One rule's curve on one seed: per session, the median over units and the per-unit squared correlations. */
async function runRule(
  cache: Cache,
  d: Design,
  seed: number,
  ruleName: string,
  firstModels: Map<number, Uint8Array>,
): Promise<{ median: number; perUnit: number[] }[]> {
  const rule = parseRule(ruleName);
  const [h, w, c] = cache.shape;
  const per = h * w * c;
  const U = cache.units.length;
  const feat = (p: Pic): Float32Array =>
    (p.g ? cache.gaudyFeatures : cache.features).subarray(p.i * per, (p.i + 1) * per);
  const rate = (p: Pic, u: number): number => (p.g ? cache.gaudyRates : cache.rates)[p.i * U + u]!;
  // Everything but the rule's own picks is drawn from the seed alone: the same for every rule.
  const rng = new SeededRandom(seed * 1000 + 17);
  const units = rng.shuffle(Array.from({ length: U }, (_, u) => u)).slice(0, d.units);
  const order = rng.shuffle(Array.from({ length: cache.n }, (_, i) => i));
  const need = d.truth + d.first + (d.sessions - 1) * (d.gaudy + d.normal) + d.candidates;
  if (need > cache.n)
    throw new Error(
      `this design needs ${need} bank images and the cache holds ${cache.n}; use a larger --bank (the cache is ` +
        `rebuilt) or fewer images`,
    );
  let at = 0;
  const take = (k: number, g = false): Pic[] => order.slice(at, (at += k)).map((i) => ({ i, g }));
  const truth = take(d.truth);
  const first = take(d.first);
  const fixed = Array.from({ length: d.sessions - 1 }, () => [...take(d.gaudy, true), ...take(d.normal)]);
  const candidates = take(d.candidates);
  // Spike counts: one stream per session for the shared pictures, one per rule for its picks.
  const counts = (p: Pic, r: Random): number[] =>
    units.map((u) => r.poisson(d.windowS * Math.max(cache.spont[u]!, rate(p, u))));
  const shown: Pic[] = [...first];
  const responses: number[][] = first.map((p) => counts(p, new Random(seed * 101)));
  const source: number[] = first.map(() => 0);
  const pickRng = new Random(seed * 31 + 5);

  const trainingSet = (): TrainingSession => {
    const n = shown.length;
    const trainIdx: number[] = [];
    const valIdx: number[] = [];
    for (let s = 0; s < d.sessions; s++) {
      const own = source.flatMap((x, i) => (x === s ? [i] : []));
      if (own.length === 0) continue;
      const shuffled = new SeededRandom(seed + s).shuffle(own);
      const nVal = Math.max(2, Math.round(own.length * 0.1));
      valIdx.push(...shuffled.slice(0, nVal));
      trainIdx.push(...shuffled.slice(nVal));
    }
    const mean = new Float64Array(d.units * n);
    responses.forEach((r, i) => r.forEach((v, u) => (mean[u * n + i] = v)));
    const z = zscoreTargets(
      mean,
      d.units,
      n,
      units.map(() => true),
      [...trainIdx, ...valIdx],
    );
    const features = new Float32Array(n * per);
    shown.forEach((p, i) => features.set(feat(p), i * per));
    return {
      key: "pooled",
      features,
      targets: z.values,
      units: d.units,
      trainIdx: trainIdx.sort((a, b) => a - b),
      valIdx: valIdx.sort((a, b) => a - b),
    };
  };
  /** Calls `f` with the ensemble's input for each batch of 128 pictures and the batch's first index. */
  const batches = (pics: Pic[], f: (x: tf.Tensor4D, start: number, n: number) => void): void => {
    for (let start = 0; start < pics.length; start += 128) {
      const chunk = pics.slice(start, start + 128);
      const x = new Float32Array(chunk.length * per);
      chunk.forEach((p, i) => x.set(feat(p), i * per));
      tf.tidy(() => f(tf.tensor4d(x, [chunk.length, h, w, c]), start, chunk.length));
    }
  };
  const predict = (ens: DeepEnsemble, pics: Pic[]): Float32Array => {
    const out = new Float32Array(pics.length * d.units);
    batches(pics, (x, start) => out.set(ens.predict("pooled", x).dataSync() as Float32Array, start * d.units));
    return out;
  };
  // Disagreement is per picture: scored batch by batch, as the campaign does.
  const disagreementOf = (ens: DeepEnsemble, pics: Pic[]): Float64Array => {
    const out = new Float64Array(pics.length);
    batches(pics, (x, start, n) =>
      out.set(disagreement(ens.predictMembers("pooled", x).dataSync() as Float32Array, d.members, n, d.units), start),
    );
    return out;
  };
  const score = (ens: DeepEnsemble): { median: number; perUnit: number[] } => {
    const p = predict(ens, truth);
    const perUnit = units.map((u, j) =>
      r2Raw(
        Float64Array.from(truth, (_, i) => p[i * d.units + j]!),
        Float64Array.from(truth, (t) => rate(t, u)),
      ),
    );
    return { median: median(perUnit), perUnit };
  };
  let checkpoint: Uint8Array | undefined;
  let ensemble: DeepEnsemble | undefined;
  const retrain = async (): Promise<void> => {
    const set = trainingSet();
    ensemble?.dispose();
    ensemble =
      checkpoint !== undefined
        ? loadEnsemble(checkpoint, "previous version").ensemble
        : new DeepEnsemble({
            inputShape: [h, w, c],
            members: d.members,
            width: T.width,
            blocks: T.blocks,
            kernelSize: 3,
            seed,
            ...featureStandardization([set], [h, w, c]),
          });
    await trainEnsemble(ensemble, [set], {
      maxCycles: T.maxCycles,
      stepsPerVisit: T.stepsPerVisit,
      batchSize: 32,
      learningRate: T.learningRate,
      patience: T.patience,
      stopOn: T.stopOn,
      minCycles: T.minCycles,
      readoutL2: T.readoutL2,
      seed,
    });
    checkpoint = await saveEnsemble(ensemble, "selection bench");
  };
  // Session 1 is the same for every rule of a seed: trained once, then read back.
  const first1 = firstModels.get(seed);
  if (first1 === undefined) {
    await retrain();
    firstModels.set(seed, checkpoint!);
  } else {
    checkpoint = first1;
    ensemble = loadEnsemble(first1, "session 1").ensemble;
  }
  const curve = [score(ensemble!)];
  const used = new Set<number>();
  for (let s = 1; s < d.sessions; s++) {
    const pool = candidates.filter((p) => !used.has(p.i));
    let picked: Pic[];
    if (rule.kind === "random") picked = new SeededRandom(seed * 7 + s).shuffle([...pool]).slice(0, d.picks);
    else {
      const sc = disagreementOf(ensemble!, pool);
      const ranked = Array.from(sc, (v, i) => ({ v, i })).sort((a, b) => b.v - a.v);
      if (rule.kind === "active") picked = ranked.slice(0, d.picks).map((x) => pool[x.i]!);
      else if (rule.kind === "power")
        picked = powerSample(sc, d.picks, rule.factor, new SeededRandom(seed * 13 + s)).map((i) => pool[i]!);
      else {
        const top = ranked.slice(0, Math.max(d.picks, Math.ceil(d.picks * rule.factor))).map((x) => x.i);
        // Embedding: front-end features averaged over space, as the campaign's --coreset does.
        const points = new Float32Array(top.length * c);
        top.forEach((i, r) => {
          const f = feat(pool[i]!);
          for (let q = 0; q < h * w; q++)
            for (let ch = 0; ch < c; ch++) points[r * c + ch]! += f[q * c + ch]! / (h * w);
        });
        picked = kCenterGreedy(points, top.length, c, d.picks, 0).map((r) => pool[top[r]!]!);
      }
    }
    for (const p of picked) used.add(p.i);
    const sessionRng = new Random(seed * 101 + s);
    for (const p of fixed[s - 1]!) {
      shown.push(p);
      responses.push(counts(p, sessionRng));
      source.push(s);
    }
    for (const p of picked) {
      shown.push(p);
      responses.push(counts(p, pickRng));
      source.push(s);
    }
    await retrain();
    curve.push(score(ensemble!));
  }
  ensemble?.dispose();
  return curve;
}

interface ResultLine {
  design: Design;
  seed: number;
  rule: string;
  curve: { median: number; perUnit: number[] }[];
  seconds: number;
}

/**
 * Per rule other than random: per session, mean curves and the paired difference from random over the seeds both ran.
 */
export function selectionReport(lines: readonly ResultLine[], rules: readonly string[]): string[] {
  const by = new Map(lines.map((l) => [`${l.seed}/${l.rule}`, l]));
  const out: string[] = [];
  for (const rule of rules.filter((r) => r !== "random")) {
    const seeds = [...new Set(lines.map((l) => l.seed))]
      .filter((s) => by.has(`${s}/${rule}`) && by.has(`${s}/random`))
      .sort((a, b) => a - b);
    if (seeds.length === 0) continue;
    const a = seeds.map((s) => by.get(`${s}/${rule}`)!.curve.map((p) => p.median));
    const r = seeds.map((s) => by.get(`${s}/random`)!.curve.map((p) => p.median));
    const sessions = Math.min(...a.map((x) => x.length), ...r.map((x) => x.length));
    out.push(
      "",
      `${rule} against random over ${seeds.length} seeds: median squared correlation with the true rates (mean ± ` +
        `SE; difference paired within seeds)`,
    );
    out.push(
      `session  ${rule.padEnd(14)}  random          ${rule} − random`.trimEnd() +
        "   seeds ahead  sign p  signed-rank p",
    );
    const row = (label: string, x: number[], y: number[], shared = false): string => {
      const px = paired(x);
      const py = paired(y);
      const dd = paired(x.map((v, i) => v - y[i]!));
      const head = `${label.padStart(7)}  ${f3(px.mean)} ± ${f3(px.se)}   ${f3(py.mean)} ± ${f3(py.se)}   `;
      return (
        head +
        (shared
          ? "same session"
          : `${signed(dd.mean)} ± ${f3(dd.se)}   ${`${dd.above} of ${dd.n}`.padStart(8)}     ` +
            `${dd.signP.toFixed(3)}   ${dd.signedRankP.toFixed(3)}`)
      );
    };
    // Session 1 is the same for every rule: its difference is no comparison.
    for (let s = 0; s < sessions; s++)
      out.push(
        row(
          String(s + 1),
          a.map((x) => x[s]!),
          r.map((x) => x[s]!),
          s === 0,
        ),
      );
    if (sessions > 2) {
      const later = (x: number[][]): number[] =>
        x.map((c) => c.slice(1, sessions).reduce((t, v) => t + v, 0) / (sessions - 1));
      out.push(row(`2–${sessions}`, later(a), later(r)));
    }
  }
  return out;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      seeds: { type: "string", default: "1-16" },
      rules: { type: "string", default: "random,active" },
      units: { type: "string", default: "12" },
      panel: { type: "string", default: "24" },
      sessions: { type: "string", default: "4" },
      first: { type: "string", default: "150" },
      picks: { type: "string", default: "75" },
      gaudy: { type: "string", default: "38" },
      normal: { type: "string", default: "37" },
      candidates: { type: "string", default: "600" },
      truth: { type: "string", default: "500" },
      members: { type: "string", default: String(T.members) },
      "window-ms": { type: "string", default: "100" },
      bank: { type: "string", default: "2000" },
      cache: { type: "string", default: "selection-cache" },
      out: { type: "string", default: "selection-bench.jsonl" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const int = (name: string, text: string, min: number): number => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < min)
      throw new Error(`--${name} must be a whole number ≥ ${min}, got "${text}"\n${usage}`);
    return v;
  };
  const seeds = parseSeeds(values.seeds);
  const rules = values.rules.split(",").map((r) => r.trim());
  for (const r of rules) parseRule(r);
  if (!rules.includes("random")) rules.unshift("random");
  const panel = int("panel", values.panel, 1);
  const design: Design = {
    units: int("units", values.units, 1),
    sessions: int("sessions", values.sessions, 2),
    first: int("first", values.first, 8),
    picks: int("picks", values.picks, 1),
    gaudy: int("gaudy", values.gaudy, 0),
    normal: int("normal", values.normal, 0),
    candidates: int("candidates", values.candidates, 1),
    truth: int("truth", values.truth, 2),
    members: int("members", values.members, 2),
    windowS: int("window-ms", values["window-ms"], 1) / 1000,
  };
  if (design.units > panel) throw new Error(`--units ${design.units} is more than the --panel of ${panel} neurons`);
  if (design.candidates < (design.sessions - 1) * design.picks)
    throw new Error(
      `--candidates ${design.candidates} cannot supply ${design.sessions - 1} sessions of ${design.picks} picks`,
    );
  const say = (line: string): void => console.log(line);
  await selectBackend({ prefer: "wasm", log: say });
  const cache = await buildCache(resolve(values.cache), int("bank", values.bank, 1), panel, say);
  const outFile = resolve(values.out);
  const same = (x: Design): boolean => JSON.stringify(x) === JSON.stringify(design);
  const earlier = existsSync(outFile)
    ? readFileSync(outFile, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as ResultLine)
        .filter((l) => same(l.design) && seeds.includes(l.seed))
    : [];
  const results = [...earlier];
  const have = new Set(earlier.map((l) => `${l.seed}/${l.rule}`));
  if (earlier.length > 0) say(`read from ${values.out}: ${earlier.length} seed × rule runs of this design`);
  for (const seed of seeds) {
    const firstModels = new Map<number, Uint8Array>();
    for (const rule of rules) {
      if (have.has(`${seed}/${rule}`)) continue;
      const t0 = performance.now();
      const curve = await runRule(cache, design, seed, rule, firstModels);
      const line: ResultLine = { design, seed, rule, curve, seconds: (performance.now() - t0) / 1000 };
      appendFileSync(outFile, JSON.stringify(line) + "\n");
      results.push(line);
      say(`seed ${seed} ${rule}: ${curve.map((p) => p.median.toFixed(3)).join(" ")} (${line.seconds.toFixed(0)} s)`);
    }
  }
  for (const l of selectionReport(results, rules)) say(l);
}
