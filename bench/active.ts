// `npm run bench -- active [options] [-- campaign options]`: active-learning against random selection
// over many seeds. Each seed is one `cortexloop campaign --compare` (its own neurons, bank split, session
// 1 and training seed; both arms share session 1, the test, gaudy and normal images), run as a child
// process, `--parallel` at a time with one compute thread each (a simulated session spends most of its
// time waiting on the presentation clock, so several campaigns share 2 cores well). A seed whose campaign.json is
// already in
// --out is read, not rerun: an interrupted run continues where it stopped. Prints each seed's curves and,
// per session, both mean curves and the paired difference (mean ± standard error over seeds).
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { CurvePoint } from "../src/main/campaign/campaign.js";
import { paired, pairedDifference } from "../src/main/campaign/paired.js";
import type { CampaignSummary } from "../src/main/cli-campaign.js";

const usage = `usage: npm run bench -- active [--seeds 1-16] [--parallel 3] [--out active-bench] [-- campaign options]
  campaign options default to: ${defaultCampaignArgs().join(" ")}`;

/** The comparison the README reports: the main job's campaign over 4 sessions, both arms. */
export function defaultCampaignArgs(): string[] {
  return [
    "--sessions",
    "4",
    "--images-per-session",
    "150",
    "--test-images",
    "30",
    "--test-repeats",
    "3",
    "--units",
    "12",
    "--candidates",
    "600",
    "--readouts",
    "pooled",
    "--no-propose",
    "--truth-images",
    "500",
  ];
}

/** "1-4,7" → [1, 2, 3, 4, 7]. */
export function parseSeeds(text: string): number[] {
  const seeds: number[] = [];
  for (const part of text.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (m === null) throw new Error(`--seeds: "${part}" is not a seed or a range like 1-16`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`--seeds: the range "${part}" runs backwards`);
    for (let s = lo; s <= hi; s++) if (!seeds.includes(s)) seeds.push(s);
  }
  if (seeds.length === 0) throw new Error("--seeds: no seeds given");
  return seeds;
}

const num = (x: number | null | undefined): number => (typeof x === "number" ? x : Number.NaN);
/** Three decimals (NaN spelled out), and the same with a sign: the reports' figures. */
export const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : "NaN");
export const signed = (x: number): string => `${x >= 0 ? "+" : ""}${f3(x)}`;

interface Metric {
  /** What the figures are, for the headings. */
  name: string;
  value: (p: CurvePoint) => number;
  perUnit: (p: CurvePoint) => number[];
}

const metrics: Metric[] = [
  { name: "median held-out r²_ER", value: (p) => num(p.r2er), perUnit: (p) => p.r2erPerUnit.map(num) },
  {
    name: "median squared correlation with the simulated neurons' true rates on pictures never shown",
    value: (p) => num(p.trueR2),
    perUnit: (p) => (p.trueR2PerUnit ?? []).map(num),
  },
];

/** One arm's figures on one metric, sessions 1..sessions, as the per-seed rows print them. */
function curveRow(m: Metric, curve: readonly CurvePoint[], sessions: number): string {
  return curve
    .slice(0, sessions)
    .map((p) => f3(m.value(p)).padStart(6))
    .join(" ");
}

/**
 * The figures of several seeds' comparisons: one row per seed, then per session both means and the paired difference.
 */
export function comparisonReport(summaries: readonly CampaignSummary[]): string[] {
  const arms = summaries.map((s) => {
    const active = s.results.find((r) => r.selection === "active");
    const random = s.results.find((r) => r.selection === "random");
    if (active === undefined || random === undefined)
      throw new Error(`seed ${s.seed}: campaign.json has no active and random arms (was it run with --compare?)`);
    return { seed: s.seed, active: active.curve, random: random.curve };
  });
  const sessions = Math.min(...arms.map((a) => Math.min(a.active.length, a.random.length)));
  const lines: string[] = [];
  // The true rates are there only when every seed's campaign ran with --truth-images.
  const shown = metrics.filter((m) =>
    arms.every((a) => [...a.active, ...a.random].slice(0, sessions).every((p) => Number.isFinite(m.value(p)))),
  );
  for (const m of shown) {
    if (lines.length > 0) lines.push("");
    lines.push(
      `${m.name} per seed, sessions 1–${sessions} (session 1 is shared by both arms):`,
      "seed  active" + " ".repeat(Math.max(1, 7 * sessions - 5)) + "random",
    );
    for (const a of arms) {
      lines.push(
        `${String(a.seed).padStart(4)}  ${curveRow(m, a.active, sessions)}  ${curveRow(m, a.random, sessions)}`,
      );
    }
    lines.push(
      "",
      `${m.name}, over ${arms.length} seeds (mean ± standard error; active − random paired within each seed):`,
      "session  images  active          random          active − random   seeds active ahead  sign test p  " +
        "signed-rank p  unit by unit (mean of seeds)",
    );
    // Per seed and session: each arm's figure, and the mean over units of the unit-by-unit difference.
    const perSession = Array.from({ length: sessions }, (_, s) => ({
      a: arms.map((x) => m.value(x.active[s]!)),
      r: arms.map((x) => m.value(x.random[s]!)),
      units: arms.map((x) => pairedDifference(m.perUnit(x.active[s]!), m.perUnit(x.random[s]!)).mean),
    }));
    const row = (
      label: string,
      images: string,
      a: number[],
      r: number[],
      units: number[],
      sharedSession: boolean,
    ): string => {
      const pa = paired(a);
      const pr = paired(r);
      const d = paired(a.map((v, i) => v - r[i]!));
      const u = paired(units);
      const shared = sharedSession && d.n > 0 && d.mean === 0 && d.se === 0;
      return (
        `${label.padStart(7)}  ${images.padStart(6)}  ${f3(pa.mean)} ± ${f3(pa.se)}   ${f3(pr.mean)} ± ` +
        `${f3(pr.se)}   ` +
        (shared
          ? "same session"
          : `${signed(d.mean)} ± ${f3(d.se)}    ${`${d.above} of ${d.n}`.padStart(8)}            ` +
            `${d.signP.toFixed(3).padStart(5)}        ${d.signedRankP.toFixed(3).padStart(5)}          ` +
            `${signed(u.mean)} ± ${f3(u.se)}`)
      );
    };
    perSession.forEach((p, s) =>
      lines.push(row(String(s + 1), String(arms[0]!.active[s]!.imagesShown), p.a, p.r, p.units, s === 0)),
    );
    if (sessions > 2) {
      // The area between the curves: each seed's figures averaged over the sessions after the shared
      // first, then compared across seeds as one paired figure per seed.
      const later = perSession.slice(1);
      const mean = (pick: (p: (typeof later)[number]) => number[]): number[] =>
        arms.map((_, i) => later.reduce((t, p) => t + pick(p)[i]!, 0) / later.length);
      lines.push(
        row(
          `2–${sessions}`,
          "mean",
          mean((p) => p.a),
          mean((p) => p.r),
          mean((p) => p.units),
          false,
        ),
      );
    }
  }
  return lines;
}

function runSeed(
  root: string,
  seed: number,
  campaignArgs: string[],
  outDir: string,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  const log = createWriteStream(join(outDir, "log.txt"));
  // Selection rules are compared on the ensemble alone: no compact-model step.
  const args = [
    join(root, "bin", "cortexloop.js"),
    "campaign",
    "--compare",
    "--seed",
    String(seed),
    "--db",
    join(outDir, "lab.db"),
    "--out",
    join(outDir, "campaign"),
    "--no-compact",
    ...campaignArgs,
  ];
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on("error", fail);
    child.on("close", (code) => {
      log.end();
      done(code ?? 1);
    });
  });
}

export async function run(args: string[]): Promise<void> {
  const split = args.indexOf("--");
  const own = split < 0 ? args : args.slice(0, split);
  const { values } = parseArgs({
    args: own,
    options: {
      seeds: { type: "string", default: "1-16" },
      parallel: { type: "string", default: "3" },
      out: { type: "string", default: "active-bench" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const seeds = parseSeeds(values.seeds);
  const parallel = Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new Error(`--parallel must be a whole number ≥ 1, got "${values.parallel}"`);
  const campaignArgs = split < 0 ? defaultCampaignArgs() : args.slice(split + 1);
  for (const flag of ["--seed", "--db", "--out", "--compare"]) {
    if (campaignArgs.includes(flag))
      throw new Error(`${flag} is set by the benchmark for each seed; leave it out of the campaign options`);
  }
  const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  // A folder holds one comparison: refuse to mix seeds run with other campaign options.
  const argsFile = join(out, "campaign-args.json");
  if (existsSync(argsFile)) {
    const before = JSON.parse(readFileSync(argsFile, "utf8")) as string[];
    if (JSON.stringify(before) !== JSON.stringify(campaignArgs)) {
      throw new Error(
        `${out} holds seeds run with other campaign options (${before.join(" ")}); nothing was run. Use another ` +
          `--out, or the same options.`,
      );
    }
  } else writeFileSync(argsFile, `${JSON.stringify(campaignArgs)}\n`);
  // Several campaigns at once: one compute thread each (unless CORTEXLOOP_THREADS says otherwise), since
  // campaigns with a thread pool each on the same cores wait on each other's threads.
  const env = { ...process.env, CORTEXLOOP_THREADS: process.env.CORTEXLOOP_THREADS ?? (parallel > 1 ? "1" : "") };
  console.log(
    `active against random: seeds ${seeds.join(", ")}, ${parallel} at a time` +
      `${
        env.CORTEXLOOP_THREADS
          ? `, ${env.CORTEXLOOP_THREADS} compute thread` + `${env.CORTEXLOOP_THREADS === "1" ? "" : "s"} each`
          : ""
      }, in ${out}`,
  );
  console.log(`campaign options: ${campaignArgs.join(" ")}`);
  const summaryOf = (seed: number): string => join(out, `seed-${seed}`, "campaign", "campaign.json");
  const todo = seeds.filter((s) => !existsSync(summaryOf(s)));
  if (todo.length < seeds.length)
    console.log(`read from earlier runs: seeds ${seeds.filter((s) => !todo.includes(s)).join(", ")}`);
  const t0 = Date.now();
  const failed: number[] = [];
  let next = 0;
  let finished = 0;
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const seed = todo[next++]!;
      const started = Date.now();
      const dir = join(out, `seed-${seed}`);
      const code = await runSeed(root, seed, campaignArgs, dir, env);
      finished++;
      const minutes = ((Date.now() - started) / 60_000).toFixed(1);
      if (code !== 0 || !existsSync(summaryOf(seed))) {
        failed.push(seed);
        console.log(
          `[${finished}/${todo.length}] seed ${seed} FAILED (exit ${code}) after ${minutes} min; its log: ` +
            `${join(dir, "log.txt")}`,
        );
        continue;
      }
      // This seed's curves on each metric it measured (r²_ER, then the true rates).
      const summary = JSON.parse(readFileSync(summaryOf(seed), "utf8")) as CampaignSummary;
      const arm = (selection: string): CurvePoint[] =>
        summary.results.find((r) => r.selection === selection)?.curve ?? [];
      const sessions = Math.min(arm("active").length, arm("random").length);
      const rows = metrics
        .filter((m) => [...arm("active"), ...arm("random")].every((p) => Number.isFinite(m.value(p))))
        .map((m) => `${curveRow(m, arm("active"), sessions).trim()}  ${curveRow(m, arm("random"), sessions)}`);
      console.log(
        `[${finished}/${todo.length}] seed ${seed} done in ${minutes} min: active, random ` +
          `${rows.join(" | true rates ")}`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, worker));
  if (todo.length > 0)
    console.log(
      `ran ${todo.length - failed.length} of ${todo.length} seeds in ${((Date.now() - t0) / 60_000).toFixed(1)} min`,
    );
  const done = seeds
    .filter((s) => existsSync(summaryOf(s)))
    .map((s) => JSON.parse(readFileSync(summaryOf(s), "utf8")) as CampaignSummary);
  if (done.length === 0) throw new Error("no seed finished; see the logs above");
  console.log("");
  const rules = [...new Set(done.map((d) => d.activeRule ?? "top-k"))];
  console.log(`the active arm picked by: ${rules.join(", ")}`);
  for (const line of comparisonReport(done)) console.log(line);
  if (failed.length > 0) {
    console.log(
      `\nseeds ${failed.join(", ")} failed and are left out; rerun the same command to retry them (finished seeds ` +
        `are kept).`,
    );
    process.exitCode = 1;
  }
}
