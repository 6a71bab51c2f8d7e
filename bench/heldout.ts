// `npm run bench -- heldout [options]`: leave-one-session-out over the real V4 recordings, as Cowley
// et al. 2023 evaluate held-out sessions. For each session S and each front end: the ensemble trains
// on every other session (its own readouts), is frozen, and S gets a readout fitted by k-fold
// cross-validation; ridge and a factorized readout on the same front end's features get the same
// folds. Prints per session and overall the median raw R² of each model and the paired per-unit
// tests (ensemble against each baseline). Results go one line per (front end, session) to --out and
// are read back on a rerun, so an interrupted run continues with the same command.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { importRecordedSession } from "../src/main/import/recorded.js";
import { evaluateHeldOut, heldOutDefaults } from "../src/main/jobs/heldout.js";
import { paired } from "../src/main/campaign/paired.js";
import { sharedDir, projectRoot } from "../src/main/paths.js";
import { SessionStore } from "../src/main/store/index.js";
import type { CrossValidatedModel } from "../src/models/ensemble/index.js";
import { onEnsemble } from "../src/main/jobs/heldout-scores.js";
import type { FrontEndSpec } from "../src/models/frontend/index.js";

const usage = `usage: npm run bench -- heldout [--sessions all|190925,...] [--front-ends
default,mobilenet:block_9_add:112]
  [--models ensemble,skip,ridge,factorized] [--folds 5] [--members 8] [--width 32] [--blocks 2] [--cycles 60]
  [--readout-l2 0.01] [--seed 1] [--out .cache/heldout-bench] [--db <file>]
A front end is kind[:layer[:input px]], kind one of default, mobilenet, inception, gabor or a model.json path.
Reads $CORTEXLOOP_SHARED/data/v4 (default ../shared beside the project).`;

interface Row {
  frontEndSpec: string;
  frontEnd: string;
  session: string;
  units: number;
  images: number;
  medians: Partial<Record<CrossValidatedModel, number>>;
  /** Per usable unit, raw R² per model. */
  unitScores: Partial<Record<CrossValidatedModel, number[]>>;
  seconds: Record<string, number>;
  training?: { cycles: number; bestCycle: number };
  settings: Record<string, number>;
  /** The pretrained ensemble stored in the bench database (npm run bench -- readout uses it). */
  modelVersionId?: number;
}

function parseFrontEnd(text: string): FrontEndSpec {
  const [kind, layer, input] = text.split(":");
  return {
    kind,
    outputLayer: layer === undefined || layer === "" ? undefined : layer,
    inputSize: input === undefined ? undefined : Number(input),
  };
}

const f3 = (v: number | undefined): string =>
  v === undefined || Number.isNaN(v) ? "   -  " : v.toFixed(3).padStart(6);
const p3 = (p: number): string => (p < 0.001 ? p.toExponential(0) : p.toFixed(3));
const signed = (v: number): string => `${v >= 0 ? "+" : ""}${v.toFixed(3)}`;

/** The bench's store of the shared recordings (imported once) and its results so far. */
export async function benchStore(
  out: string,
  db: string | undefined,
  names: readonly string[],
  v4: string,
): Promise<SessionStore> {
  mkdirSync(out, { recursive: true });
  const store = SessionStore.open(db ?? join(out, "v4.db"));
  for (const name of names) {
    if (store.findSessionsByName(name).length > 0) continue;
    const r = await importRecordedSession(store, {
      imagesPath: join(v4, "images", `images_${name}.zip`),
      responsesPath: join(v4, "responses", `responses_${name}.npy`),
      sessionName: name,
    });
    console.log(`imported ${name}: ${r.units} units, ${r.stimuli} images`);
  }
  return store;
}

export function readResults(out: string): Row[] {
  const file = join(out, "results.jsonl");
  return existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Row)
    : [];
}

/** The recordings in ../shared/data/v4 that have both images and responses. */
export function sharedRecordings(): { v4: string; names: string[] } | undefined {
  const shared = sharedDir();
  if (shared === undefined) return undefined;
  const v4 = join(shared, "data", "v4");
  const names = readdirSync(join(v4, "responses"))
    .map((f) => /^responses_(.+)\.npy$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined && existsSync(join(v4, "images", `images_${s}.zip`)))
    .sort();
  return { v4, names };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sessions: { type: "string", default: "all" },
      "front-ends": { type: "string", default: "default,mobilenet:block_9_add:112" },
      models: { type: "string", default: "ensemble,skip,ridge,factorized" },
      folds: { type: "string", default: String(heldOutDefaults.folds) },
      members: { type: "string", default: String(heldOutDefaults.members) },
      width: { type: "string", default: String(heldOutDefaults.width) },
      blocks: { type: "string", default: String(heldOutDefaults.blocks) },
      cycles: { type: "string", default: String(heldOutDefaults.maxCycles) },
      "readout-l2": { type: "string", default: String(heldOutDefaults.readoutL2) },
      seed: { type: "string", default: "1" },
      out: { type: "string", default: join(projectRoot, ".cache", "heldout-bench") },
      db: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const recordings = sharedRecordings();
  if (recordings === undefined) {
    console.log(
      `heldout: no shared data folder (${process.env.CORTEXLOOP_SHARED ?? "../shared"} does not exist); nothing ` +
        `was measured. Set CORTEXLOOP_SHARED to the folder that holds data/v4.`,
    );
    return;
  }
  const { v4, names: available } = recordings;
  const names =
    values.sessions === "all"
      ? available
      : values.sessions
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length > 0)
    throw new Error(`heldout bench: no recording ${unknown.join(", ")} in ${v4} (have ${available.join(", ")})`);
  if (names.length < 2) throw new Error("heldout bench: leave-one-session-out needs at least 2 sessions");
  const models = values.models.split(",").map((m) => m.trim()) as CrossValidatedModel[];
  const settings = {
    folds: Number(values.folds),
    members: Number(values.members),
    width: Number(values.width),
    blocks: Number(values.blocks),
    cycles: Number(values.cycles),
    readoutL2: Number(values["readout-l2"]),
    seed: Number(values.seed),
  };
  const resultsFile = join(values.out, "results.jsonl");
  const done = readResults(values.out);
  const sameSettings = (r: Row): boolean => Object.entries(settings).every(([k, v]) => r.settings[k] === v);
  // One database of the recordings, kept between runs; front-end features are cached beside it.
  const store = await benchStore(values.out, values.db, names, v4);
  try {
    const frontEnds = values["front-ends"]
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    console.log(
      `heldout: ${names.length} sessions × ${frontEnds.length} front end(s); ${settings.members} members × width ` +
        `${settings.width} × ${settings.blocks} blocks, ≤${settings.cycles} cycles; ${settings.folds}-fold ` +
        `readouts, L2 ${settings.readoutL2}; results in ${resultsFile}`,
    );
    for (const feText of frontEnds) {
      for (const name of names) {
        if (
          done.some(
            (r) =>
              r.frontEndSpec === feText &&
              r.session === name &&
              sameSettings(r) &&
              models.every((m) => r.medians[m] !== undefined),
          )
        )
          continue;
        const t0 = performance.now();
        const report = await evaluateHeldOut(store, {
          heldout: name,
          pretrain: names.filter((n) => n !== name),
          frontEnd: parseFrontEnd(feText),
          models,
          folds: settings.folds,
          members: settings.members,
          width: settings.width,
          blocks: settings.blocks,
          maxCycles: settings.cycles,
          readoutL2: settings.readoutL2,
          seed: settings.seed,
          save: models.some(onEnsemble),
          log: (line) => console.log(`  ${line}`),
        });
        const usable = report.units.filter((u) => u.usable);
        const row: Row = {
          frontEndSpec: feText,
          frontEnd: report.frontEnd,
          session: name,
          units: usable.length,
          images: report.heldout.images,
          medians: report.medians.r2raw,
          unitScores: Object.fromEntries(models.map((m) => [m, usable.map((u) => u.r2raw[m] ?? Number.NaN)])),
          seconds: report.seconds as unknown as Record<string, number>,
          training: report.training,
          settings,
          modelVersionId: report.modelVersionId,
        };
        appendFileSync(resultsFile, `${JSON.stringify(row)}\n`);
        done.push(row);
        console.log(
          `${feText} ${name}: ${models.map((m) => `${m} ${f3(row.medians[m])}`).join(", ")} (` +
            `${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
      }
    }
    for (const feText of frontEnds)
      printTable(
        feText,
        names,
        models,
        done.filter((r) => r.frontEndSpec === feText && sameSettings(r)),
      );
  } finally {
    store.close();
  }
}

function printTable(feText: string, names: string[], models: CrossValidatedModel[], rows: Row[]): void {
  const bySession = new Map(rows.map((r) => [r.session, r]));
  const have = names.filter((n) => bySession.has(n));
  if (have.length === 0) return;
  console.log(
    `\nfront end ${feText} = ${rows[0]!.frontEnd}: median raw R² over units, held-out sessions (5-fold readouts)`,
  );
  const baselines = models.filter((m) => !onEnsemble(m));
  const pairs = models
    .filter(onEnsemble)
    .flatMap((model) => baselines.map((b) => ({ model, b, key: `${model} − ${b}` })));
  console.log(
    `session  units images ${models.map((m) => m.padStart(10)).join(" ")}` +
      `${pairs.map((q) => `   ${q.key} (units ahead, signed-rank p)`.padEnd(46)).join("")}`,
  );
  const wins: Record<string, { ahead: number; significant: number; diffs: number[] }> = Object.fromEntries(
    pairs.map((q) => [q.key, { ahead: 0, significant: 0, diffs: [] }]),
  );
  for (const n of have) {
    const r = bySession.get(n)!;
    let line =
      `${n.padEnd(8)} ${String(r.units).padStart(5)} ${String(r.images).padStart(6)} ` +
      `${models.map((m) => f3(r.medians[m]).padStart(10)).join(" ")}`;
    for (const q of pairs) {
      const e = r.unitScores[q.model] ?? [];
      const x = r.unitScores[q.b] ?? [];
      const p = paired(e.map((v, i) => v - x[i]!));
      const d = (r.medians[q.model] ?? Number.NaN) - (r.medians[q.b] ?? Number.NaN);
      const w = wins[q.key]!;
      w.diffs.push(d);
      if (d > 0) w.ahead++;
      if (d > 0 && p.signedRankP < 0.05) w.significant++;
      line += `   ${signed(d)} median, ${p.above}/${p.n} units, p ${p3(p.signedRankP)}`.padEnd(46);
    }
    console.log(line);
  }
  const mean = (m: CrossValidatedModel): number =>
    have.reduce((s, n) => s + (bySession.get(n)!.medians[m] ?? Number.NaN), 0) / have.length;
  console.log(
    `${"mean".padEnd(8)} ${"".padStart(5)} ${"".padStart(6)} ${models.map((m) => f3(mean(m)).padStart(10)).join(" ")}`,
  );
  for (const q of pairs) {
    const w = wins[q.key]!;
    const avg = w.diffs.reduce((a, v) => a + v, 0) / w.diffs.length;
    console.log(
      `${q.model} ahead of ${q.b} on ${w.ahead} of ${have.length} held-out sessions (${w.significant} with ` +
        `per-unit signed-rank p < 0.05); mean difference of session medians ${signed(avg)}`,
    );
  }
  const secs = rows.map((r) => r.seconds);
  const avg = (k: string): number => secs.reduce((a, s) => a + (s[k] ?? 0), 0) / secs.length;
  console.log(
    `time per held-out session (mean): pretraining ${avg("pretrain").toFixed(0)} s, readouts ` +
      `${avg("ensemble").toFixed(0)} s (all folds), skip ${avg("skip").toFixed(0)} s, ridge ` +
      `${avg("ridge").toFixed(0)} s, factorized ${avg("factorized").toFixed(0)} s`,
  );
}
