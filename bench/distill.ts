// `npm run bench -- distill [options]`: distil and prune the compact models of one recorded V4
// session's units (default 190925, its first 16 units) on this machine, the way `cortexloop distill`
// does (the same job, here in this process so its peak memory is this process's). Timed: everything
// from the job's start to its last stored model (stream, teacher predictions, shared model, pruning,
// retraining, scoring). Not timed: importing the recording and training the teacher ensemble
// (`cortexloop evaluate --save` on 80% of the session's images; its 20% test split is held out from the
// students too), both kept in --work so a second run reuses them. Target (issue): ≤ 20 min on 2 cores.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { sharedDir } from "../src/main/paths.js";
import { importRecordedSession } from "../src/main/import/recorded.js";
import { loadSessionDataset, resolveSession } from "../src/main/import/dataset.js";
import { evaluateSessions } from "../src/main/jobs/evaluate.js";
import { runDistillJob } from "../src/main/jobs/distill.js";
import type { DistillMessage, DistillSummary } from "../src/main/compact/distill-run.js";
import { formatDistillSummary } from "../src/main/cli-compact.js";
import { SessionStore } from "../src/main/store/index.js";
import { splitIndices, stableSeed } from "../src/models/data/random.js";
import { sessionIdentity } from "../src/main/jobs/prepare.js";
import { readNpy, filtersFromArrays, type NdArray } from "../src/models/compact/index.js";
import { median } from "../src/models/metrics/index.js";

const usage = `usage: npm run bench -- distill [--session 190925] [--units 16] [--bank 190927,190928,190929]
  [--work <dir>] [--db <file>] [--teacher <model version>] [--split-sessions a,b,c] [--teacher-members 8]
  [--steps n] [--lr x] [--filters k0,k1,k2,k3,k4] [--shared-layers n] [--hint w] [--keep-variance f]
  [--prune-tolerance r2] [--retrain-steps n] [--natural-weight k]
  [--json <file>]
--teacher with --db: an ensemble already stored (e.g. by cortexloop evaluate --save); --split-sessions: the
sessions that evaluate was given, so its test split of each is held out from the students.
Reads $CORTEXLOOP_SHARED/data/v4 (default ../shared beside the project). Default settings: those of cortexloop
distill.`;

const rssMb = (): number => process.resourceUsage().maxRSS / 1024;
const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : "NaN");

/**
 * The test images of `cortexloop evaluate` (its seed and test fraction; the split follows each session's identity):
 * never trained on.
 */
export async function evaluateTestHashes(
  store: SessionStore,
  sessionIds: readonly number[],
  seed: number,
  testFraction = 0.2,
): Promise<string[]> {
  const out: string[] = [];
  for (const id of sessionIds) {
    const ds = await loadSessionDataset(store, id, 112);
    out.push(
      ...splitIndices(ds.images.length, testFraction, stableSeed(sessionIdentity(ds), seed)).test.map(
        (i) => ds.imageKeys[i]!,
      ),
    );
  }
  return out;
}

/** Median filters per layer of the published compact models. */
export async function publishedFilters(dir: string): Promise<{ models: number; median: number[] }> {
  const files = readdirSync(dir).filter((f) => f.endsWith(".npy"));
  const filters: number[][] = [];
  for (const f of files) filters.push(filtersFromArrays((await readNpy(join(dir, f))) as NdArray[]));
  return { models: files.length, median: [0, 1, 2, 3, 4].map((l) => median(filters.map((k) => k[l]!))) };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      session: { type: "string", default: "190925" },
      units: { type: "string", default: "16" },
      bank: { type: "string", default: "190927,190928,190929" },
      work: { type: "string" },
      db: { type: "string" },
      "split-sessions": { type: "string" },
      teacher: { type: "string" },
      "teacher-members": { type: "string", default: "8" },
      steps: { type: "string" },
      filters: { type: "string" },
      "shared-layers": { type: "string" },
      hint: { type: "string" },
      lr: { type: "string" },
      "keep-variance": { type: "string" },
      "prune-tolerance": { type: "string" },
      "natural-weight": { type: "string" },
      "retrain-steps": { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const shared = sharedDir();
  if (shared === undefined)
    throw new Error(
      "distill bench: ../shared (or $CORTEXLOOP_SHARED) is not there; it needs the V4 recordings. Nothing was run.",
    );
  const v4 = join(shared, "data", "v4");
  const work = values.work ?? join(tmpdir(), "cortexloop-distill-bench");
  mkdirSync(work, { recursive: true });
  const db = values.db ?? join(work, "lab.db");
  const store = SessionStore.open(db);
  try {
    // Untimed set-up: the recording and the teacher.
    const name = values.session;
    if (store.findSessionsByName(name).length === 0) {
      console.log(`set-up: importing session ${name} into ${db}`);
      await importRecordedSession(store, {
        imagesPath: join(v4, "images", `images_${name}.zip`),
        responsesPath: join(v4, "responses", `responses_${name}.npy`),
        sessionName: name,
      });
    }
    const sessionId = resolveSession(store, name);
    const seed = 1;
    let teacher = values.teacher === undefined ? undefined : Number(values.teacher);
    if (teacher === undefined) {
      teacher = store
        .listModelVersions()
        .find((v) => v.kind === "deep-ensemble" && v.name === `deep-ensemble ${name}`)?.id;
      if (teacher === undefined) {
        console.log(
          `set-up: training the teacher (cortexloop evaluate --save on 80% of session ${name}'s images; not timed)`,
        );
        const t0 = performance.now();
        const report = await evaluateSessions(store, {
          sessions: [name],
          frontEnd: { kind: "default", inputSize: 112 },
          members: Number(values["teacher-members"]),
          seed,
          save: true,
          log: (l) => console.log(`  ${l}`),
        });
        teacher = report.modelVersionId!;
        console.log(
          `set-up: teacher model version ${teacher} (${report.frontEnd}; raw R² ensemble ` +
            `${f3(report.sessions[0]!.ensembleMedian)}, ridge ${f3(report.sessions[0]!.ridgeMedian)}) in ` +
            `${((performance.now() - t0) / 1000).toFixed(0)} s`,
        );
      } else console.log(`set-up: reusing teacher model version ${teacher} from ${db}`);
    }
    // The teacher's evaluation split of this session (and of the other sessions it was trained on, if named).
    const splitIds =
      values["split-sessions"] === undefined
        ? [sessionId]
        : values["split-sessions"].split(",").map((r) => resolveSession(store, r.trim()));
    const heldOutHashes = await evaluateTestHashes(store, splitIds, seed);
    const bank = values.bank
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => join(v4, "images", `images_${s}.zip`));
    const settings = {
      ...(values.steps === undefined ? {} : { steps: Number(values.steps) }),
      ...(values.filters === undefined ? {} : { filters: values.filters.split(",").map(Number) }),
      ...(values["shared-layers"] === undefined ? {} : { sharedLayers: Number(values["shared-layers"]) }),
      ...(values.hint === undefined ? {} : { hint: Number(values.hint) }),
      ...(values["natural-weight"] === undefined ? {} : { naturalWeight: Number(values["natural-weight"]) }),
      ...(values.lr === undefined ? {} : { learningRate: Number(values.lr) }),
      prune: {
        ...(values["keep-variance"] === undefined ? {} : { keepVariance: Number(values["keep-variance"]) }),
        ...(values["prune-tolerance"] === undefined ? {} : { tolerance: Number(values["prune-tolerance"]) }),
      },
      ...(values["retrain-steps"] === undefined ? {} : { retrain: { steps: Number(values["retrain-steps"]) } }),
    };
    const jobId = store.createJob("distill", {
      teacher,
      session: name,
      maxUnits: Number(values.units),
      bank,
      heldOutHashes,
      settings,
    });
    console.log(
      `distill: job ${jobId}, teacher ${teacher}, session ${name}, ${values.units} units, bank ${values.bank}; ` +
        `peak RSS before ${rssMb().toFixed(0)} MB`,
    );

    // Timed: the job, start to end.
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let streamReady = Number.NaN;
    const final = await runDistillJob(store, jobId, {
      emit: (m: DistillMessage) => {
        if (m.type === "log") {
          if (m.line.startsWith("images:")) streamReady = performance.now();
          if (!m.line.startsWith("teacher predictions:"))
            console.log(`  ${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s  ${m.line}`);
        }
      },
    });
    const wall = (performance.now() - t0) / 1000;
    const cpuUsed = process.cpuUsage(cpu0);
    const cpu = (cpuUsed.user + cpuUsed.system) / 1e6;
    if (final.type !== "done")
      throw new Error(`distill bench: the job ${final.type}${final.type === "failed" ? `: ${final.message}` : ""}`);
    const s: DistillSummary = final.summary;
    const prune = s.units.reduce((a, u) => a + u.seconds.prune, 0);
    const retrain = s.units.reduce((a, u) => a + u.seconds.retrain, 0);
    const evaluate = s.units.reduce((a, u) => a + u.seconds.evaluate, 0);
    const setup = (streamReady - t0) / 1000;
    const published = await publishedFilters(join(v4, "compact_models"));
    console.log("");
    console.log(formatDistillSummary(s));
    console.log("");
    console.log(
      `wall time ${(wall / 60).toFixed(1)} min (${wall.toFixed(0)} s) for ${s.units.length} units; peak RSS ` +
        `${rssMb().toFixed(0)} MB`,
    );
    // On a shared machine the wall time includes waiting for the cores; the CPU time (all threads) does not.
    console.log(
      `CPU time ${cpu.toFixed(0)} s, all threads (${(cpu / 120).toFixed(1)} min of 2 cores); load average now
      ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")} on ${availableParallelism()} cores`,
    );
    console.log("where the time went:");
    const rows: [string, number][] = [
      ["backend, front end, image stream (decode, gaudy)", setup],
      [`teacher predictions (${s.images.stream} images)`, s.seconds.teacher],
      [
        `shared model (${s.settings.steps} steps × ${s.settings.batchSize} images, layers 0-` +
          `${s.settings.sharedLayers - 1} shared)`,
        s.seconds.population,
      ],
      ["pruning (ablation, all units)", prune],
      ["retraining after pruning (all units)", retrain],
      ["scoring (held-out predictions, all units)", evaluate],
      [
        "other (storing, batchnorm statistics, shared model's held-out predictions)",
        wall - setup - s.seconds.teacher - s.seconds.population - prune - retrain - evaluate,
      ],
    ];
    for (const [what, sec] of rows)
      console.log(
        `  ${what.padEnd(80)} ${sec.toFixed(1).padStart(7)} s  ${((100 * sec) / wall).toFixed(0).padStart(3)}%`,
      );
    console.log(
      `pruning cost: median R² with the ensemble ${f3(s.medians.r2TeacherBeforePruning)} before, ` +
        `${f3(s.medians.r2Teacher)} after (${f3(s.medians.r2Teacher - s.medians.r2TeacherBeforePruning)})`,
    );
    const again = s.units.filter((u) => (u.pruneAttempts ?? 1) > 1).length;
    console.log(
      `pruned again, less hard, where the first pruning cost more than ${s.settings.prune.tolerance} of R² on ` +
        `${s.settings.prune.validation} validation images: ${again} of ${s.units.length} units`,
    );
    console.log(
      `filters per layer, median: ours [${s.medians.filters.join(", ")}] (from [` +
        `${s.medians.filtersBeforePruning.join(", ")}]); published ${published.models} models [` +
        `${published.median.join(", ")}]`,
    );
    if (values.json !== undefined) {
      writeFileSync(
        values.json,
        `${JSON.stringify(
          {
            wallSeconds: wall,
            cpuSeconds: cpu,
            peakRssMb: rssMb(),
            setupSeconds: setup,
            prune,
            retrain,
            evaluate,
            published,
            summary: s,
          },
          null,
          1,
        )}\n`,
      );
      console.log(`wrote ${values.json}`);
    }
  } finally {
    store.close();
  }
}
