// `npm run bench -- compute [--backend B] [--seconds S] [--threads N] [--rounds R] [--profile] [--no-torch] [--plain]`:
// the three compact-model workloads in TensorFlow.js, then the PyTorch reference on the same CPU,
// R times in turn (default 3): a shared machine's speed drifts by tens of per cent within a minute,
// so the table gives each figure's median over the rounds and the median of the rounds' ratios.
// compact_infer and synth_step run the eval-mode model with batchnorm folded into the convolutions
// (FastCompactModel: the same function torch's eval mode computes); compact_train runs compactTrainingForward
// (the same function and variable updates as model.apply(x, { training: true })); --plain runs the tf.layers model.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { type BackendName, createCompactModel, isBackendName, selectBackend } from "../src/models/index.js";
import { FastCompactModel } from "../src/models/compact/inference.js";
import { adamOptimizer } from "../src/models/kernels/adam.js";
import { compactTrainingForward } from "../src/models/compact/training.js";

interface Options {
  backend?: BackendName;
  seconds: number;
  threads: number;
  profile: boolean;
  torch: boolean;
  rounds: number;
  microBatch?: number;
  plain: boolean;
}

interface Result {
  workload: string;
  unit: string;
  perS: number;
  peakRssMb: number;
  peakTfMb: number;
  kernels?: [string, number][];
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sharedDir = process.env.CORTEXLOOP_SHARED ?? path.resolve(repoRoot, "..", "shared");

function parseArgs(args: string[]): Options {
  const opts: Options = { seconds: 5, threads: 2, profile: false, torch: true, plain: false, rounds: 3 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`compute bench: ${a} needs a value`);
      return v;
    };
    if (a === "--backend") {
      const b = value();
      if (!isBackendName(b))
        throw new Error(`compute bench: --backend ${b} is not one of tfjs-node-gpu, tfjs-node, wasm, cpu`);
      opts.backend = b;
    } else if (a === "--seconds") opts.seconds = Number(value());
    else if (a === "--threads") opts.threads = Number(value());
    else if (a === "--rounds") {
      opts.rounds = Number(value());
      if (!Number.isInteger(opts.rounds) || opts.rounds < 1)
        throw new Error(`compute bench: --rounds needs a whole number of at least 1`);
    } else if (a === "--profile") opts.profile = true;
    else if (a === "--no-torch") opts.torch = false;
    else if (a === "--plain") opts.plain = true;
    else if (a === "--micro-batch") opts.microBatch = Number(value());
    else throw new Error(`compute bench: unknown option ${a}`);
  }
  return opts;
}

function rssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Runs `step` once to warm up, then for `seconds`; also one profiled run for peak bytes and kernel times. */
async function measure(
  workload: string,
  unit: string,
  items: number,
  seconds: number,
  profile: boolean,
  step: () => Promise<void>,
): Promise<Result> {
  // The first (warm-up) step runs under tf.profile: peak bytes and per-kernel times.
  const info = await tf.profile(async () => {
    await step();
  });
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await step();
    n++;
  }
  const perS = (n * items) / ((performance.now() - t0) / 1000);
  const peakTfMb = info.peakBytes / 2 ** 20;
  let kernels: [string, number][] | undefined;
  if (profile) {
    const byName = new Map<string, number>();
    for (const k of info.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + Number(await k.kernelTimeMs));
    kernels = [...byName.entries()].sort((a, b) => b[1] - a[1]);
  }
  return { workload, unit, perS, peakRssMb: rssMb(), peakTfMb, kernels };
}

async function runTfjs(opts: Options, describe: boolean): Promise<Result[]> {
  const note = (m: string): void => {
    if (describe) console.log(m);
  };
  const results: Result[] = [];
  // Same data ranges as torch_reference.py; our model subtracts the channel means itself.
  {
    const model = createCompactModel([100, 100, 100, 100, 100], { seed: 0 });
    // The project's Adam (fused on wasm), as its training uses it.
    const optimizer = adamOptimizer(1e-4);
    // wasm's heap stops at 4 GiB: a batch of 64 at 100 filters needs more, so gradients are summed
    // over micro-batches (batchnorm then normalizes per micro-batch) and applied once per 64.
    const micro = opts.microBatch ?? (tf.getBackend() === "wasm" ? 16 : 64);
    const parts = Math.ceil(64 / micro);
    const xs = Array.from({ length: parts }, () => tf.randomUniform([micro, 112, 112, 3], 0, 255));
    const ys = Array.from({ length: parts }, () => tf.randomNormal([micro, 1]));
    note(
      `compact_train: batch 64 as ${parts} micro-batch(es) of ${micro}, ` +
        `${
          opts.plain
            ? "model.apply(training)"
            : "compactTrainingForward (no pixel gradient, fused BN+ReLU " + "gradient)"
        }`,
    );
    const forward = (x: tf.Tensor4D): tf.Tensor =>
      opts.plain ? (model.apply(x, { training: true }) as tf.Tensor) : compactTrainingForward(model, x);
    results.push(
      await measure("compact_train", "images/s", parts * micro, opts.seconds, opts.profile, async () => {
        let total: tf.NamedTensorMap | undefined;
        for (let p = 0; p < parts; p++) {
          const { value, grads } = tf.variableGrads(
            () => tf.losses.meanSquaredError(ys[p]!, forward(xs[p]! as tf.Tensor4D)) as tf.Scalar,
          );
          await value.data();
          value.dispose();
          if (total === undefined) total = grads;
          else {
            const prev: tf.NamedTensorMap = total;
            total = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.add(prev[k]!, g)]));
            tf.dispose([...Object.values(prev), ...Object.values(grads)]);
          }
        }
        const mean = tf.tidy(() => Object.fromEntries(Object.entries(total!).map(([k, g]) => [k, tf.div(g, parts)])));
        optimizer.applyGradients(Object.entries(mean).map(([name, tensor]) => ({ name, tensor })));
        tf.dispose([...Object.values(total!), ...Object.values(mean)]);
      }),
    );
    tf.dispose([...xs, ...ys]);
    optimizer.dispose();
    model.dispose();
  }
  const pruned = createCompactModel([47, 57, 3, 7, 3], { seed: 1 });
  // Eval mode, like torch_reference's p.eval(): BN uses the moving statistics, folded into the convs.
  const fast = opts.plain ? undefined : FastCompactModel.fromModel(pruned);
  note(
    opts.plain
      ? "compact_infer, synth_step: plain tf.layers model (inference-mode BN), input gradient by tf.grad"
      : "compact_infer, synth_step: eval-mode BN folded into conv weights/bias (same function as torch eval), " +
          "fused bias+ReLU; synth input gradient hand-written (no filter gradients)",
  );
  {
    const xb = tf.randomUniform([256, 112, 112, 3], 0, 255) as tf.Tensor4D;
    results.push(
      await measure("compact_infer", "images/s", 256, opts.seconds, opts.profile, async () => {
        const out = fast !== undefined ? fast.predict(xb) : (pruned.predict(xb) as tf.Tensor);
        await out.data();
        out.dispose();
      }),
    );
    xb.dispose();
  }
  {
    const img = tf.variable(tf.randomUniform([1, 112, 112, 3], 0, 255)) as tf.Variable<tf.Rank.R4>;
    const gradOf = tf.grad((x: tf.Tensor) => (pruned.apply(x) as tf.Tensor).sum());
    results.push(
      await measure("synth_step", "steps/s", 1, opts.seconds, opts.profile, async () => {
        // img + 10 * g / (sqrt(mean(g^2)) + 1e-5), g = d sum(model(img)) / d img, as torch_reference.
        const next =
          fast !== undefined
            ? fast.ascentStep(img)
            : tf.tidy(() => {
                const g = gradOf(img);
                return img.add(g.mul(10).div(g.square().mean().sqrt().add(1e-5)));
              });
        img.assign(next as tf.Tensor4D);
        next.dispose();
        await img.data();
      }),
    );
    img.dispose();
  }
  fast?.dispose();
  pruned.dispose();
  return results;
}

function findTorchPython(): string | undefined {
  for (const py of ["python3", "/usr/bin/python3"]) {
    const r = spawnSync(py, ["-c", "import torch"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return undefined;
}

function runTorch(opts: Options): Map<string, number> | string {
  const script = path.join(sharedDir, "bench", "torch_reference.py");
  if (!existsSync(script)) return `torch reference skipped: ${script} not found (set CORTEXLOOP_SHARED)`;
  const py = findTorchPython();
  if (py === undefined)
    return "torch reference skipped: no python3 can import torch (Debian: apt-get install -y python3-torch)";
  const out = execFileSync(py, [script, "--threads", String(opts.threads), "--seconds", String(opts.seconds)], {
    encoding: "utf8",
  });
  const rates = new Map<string, number>();
  for (const line of out.split("\n")) {
    if (!line.trim().startsWith("{")) continue;
    const row = JSON.parse(line) as { workload: string; per_s: number };
    rates.set(row.workload, row.per_s);
  }
  return rates;
}

function fmt(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits);
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function run(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const info = await selectBackend({ prefer: opts.backend, threads: opts.threads, log: (m) => console.log(m) });
  console.log(
    `tfjs ${tf.version.tfjs}, backend ${info.name} (${info.threads} threads, simd ${info.simd}), ${opts.seconds} s ` +
      `per workload, ${opts.rounds} round(s) of tfjs then torch`,
  );
  const rounds: { results: Result[]; torch: Map<string, number> | undefined }[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    const results = await runTfjs(opts, round === 1);
    const torch = opts.torch ? runTorch(opts) : "torch reference skipped: --no-torch";
    if (typeof torch === "string" && round === 1) console.log(torch);
    const torchRates = typeof torch === "string" ? undefined : torch;
    rounds.push({ results, torch: torchRates });
    if (opts.rounds > 1) {
      const parts = results.map((r) => {
        const t = torchRates?.get(r.workload);
        return `${r.workload} ${fmt(r.perS)}${t === undefined ? "" : ` / ${fmt(t)} (${fmt(r.perS / t)})`}`;
      });
      console.log(`round ${round}: ${parts.join(", ")}`);
    }
  }
  const rows = [["workload", "unit", "tfjs per_s", "torch per_s", "ratio", "peak RSS MB", "peak tf MB"]];
  for (const [i, r] of rounds[0]!.results.entries()) {
    const mine = rounds.map((x) => x.results[i]!);
    const theirs = rounds.flatMap((x) => (x.torch?.get(r.workload) === undefined ? [] : [x.torch.get(r.workload)!]));
    const ratios = rounds.flatMap((x) => {
      const t = x.torch?.get(r.workload);
      return t === undefined ? [] : [x.results[i]!.perS / t];
    });
    const t = median(theirs);
    rows.push([
      r.workload,
      r.unit,
      fmt(median(mine.map((m) => m.perS))),
      fmt(t),
      fmt(median(ratios)),
      fmt(Math.max(...mine.map((m) => m.peakRssMb)), 0),
      fmt(Math.max(...mine.map((m) => m.peakTfMb)), 0),
    ]);
  }
  if (opts.rounds > 1) console.log(`medians over ${opts.rounds} rounds (ratio: the median of the rounds' ratios):`);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join("  "));
  if (opts.profile) {
    for (const r of rounds[rounds.length - 1]!.results) {
      const total = (r.kernels ?? []).reduce((a, [, ms]) => a + ms, 0);
      console.log(`\n${r.workload}: kernel time per step ${total.toFixed(0)} ms`);
      for (const [name, ms] of (r.kernels ?? []).slice(0, 12))
        console.log(`  ${name.padEnd(36)} ${ms.toFixed(1).padStart(9)} ms  ${((100 * ms) / total).toFixed(1)}%`);
    }
  }
}
