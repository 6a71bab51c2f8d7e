// `npm run bench -- turnaround [options]`: one between-session turnaround of the closed loop on the real
// V4 recordings. Measured (and summed into the turnaround): retrain = front-end features of every recorded
// image + deep-ensemble training across the sessions; score = decoding a candidate bank batch by batch and
// scoring each image by ensemble disagreement; select = the k-centre coreset over the top k × 3 (timed from
// the last scored batch). Importing the recordings into a fresh temporary SQLite file is printed but not
// counted. Target (issue): under 10 minutes on 2 cores for 4 sessions × 1,200 images × 30-90 units.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { sharedDir } from "../src/main/paths.js";
import { campaignTrainingDefaults as training } from "../src/main/campaign/defaults.js";
import { importRecordedSession } from "../src/main/import/recorded.js";
import { ensureTrainableBackend, prepareSessions } from "../src/main/jobs/prepare.js";
import { SessionStore } from "../src/main/store/index.js";
import { selectByDisagreement, type Candidate } from "../src/models/active/index.js";
import { selectBackend } from "../src/models/backend.js";
import { encodeNumericNpy, parseNumericNpy } from "../src/models/data/npy-numeric.js";
import {
  DeepEnsemble,
  defaultEnsembleConfig,
  featureStandardization,
  trainEnsemble,
  validationText,
} from "../src/models/ensemble/index.js";
import { loadFrontEnd } from "../src/models/frontend/index.js";
import { decodeImage, gaudy, isImageName, readZipEntries, resizeImage } from "../src/stimulus/index.js";

const usage = `usage: npm run bench -- turnaround [--sessions 190925,190929,210322,210621] [--bank 10000] [--k 600]
  [--cycles 30] [--steps 20] [--members 4] [--width 32] [--blocks 2] [--front-end default] [--images-per-session n]
Reads $CORTEXLOOP_SHARED/data/v4 (default ../shared beside the project).`;

const log = (line: string): void => console.log(`  ${line}`);
const rssMb = (): number => process.resourceUsage().maxRSS / 1024;
const numbered = /^image(\d+)\.(jpe?g|png)$/i;

/** Writes the first n images and response columns of a recording to `dir` (importRecordedSession takes a folder). */
async function subsetRecording(
  images: string,
  responses: string,
  n: number,
  dir: string,
): Promise<{ images: string; responses: string }> {
  const folder = join(dir, "images");
  mkdirSync(folder);
  for (const e of await readZipEntries(images, isImageName)) {
    const k = Number(numbered.exec(basename(e.name))?.[1] ?? NaN);
    if (k <= n) writeFileSync(join(folder, basename(e.name)), e.data);
  }
  const array = parseNumericNpy(readFileSync(responses), responses);
  const [units, all, ...rest] = array.shape as [number, number, ...number[]];
  const repeats = rest.reduce((a, b) => a * b, 1);
  const keep = Math.min(n, all);
  const data = new Float64Array(units * keep * repeats);
  for (let u = 0; u < units; u++)
    data.set(array.data.subarray(u * all * repeats, (u * all + keep) * repeats), u * keep * repeats);
  const npy = join(dir, "responses.npy");
  writeFileSync(npy, encodeNumericNpy([units, keep, ...rest], data));
  return { images: folder, responses: npy };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sessions: { type: "string", default: "190925,190929,210322,210621" },
      bank: { type: "string", default: "10000" },
      k: { type: "string", default: "600" },
      cycles: { type: "string", default: String(training.maxCycles) },
      steps: { type: "string", default: String(training.stepsPerVisit) },
      members: { type: "string", default: String(training.members) },
      width: { type: "string", default: String(training.width) },
      blocks: { type: "string", default: String(training.blocks) },
      "front-end": { type: "string", default: "default" },
      "images-per-session": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const names = values.sessions
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const [bankSize, k, cycles, steps, members, width, blocks] = [
    values.bank,
    values.k,
    values.cycles,
    values.steps,
    values.members,
    values.width,
    values.blocks,
  ].map(Number) as number[];
  const perSession = values["images-per-session"] === undefined ? undefined : Number(values["images-per-session"]);
  for (const [flag, v] of Object.entries({
    bank: bankSize,
    k,
    cycles,
    steps,
    members,
    width,
    blocks,
    "images-per-session": perSession ?? 1,
  })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`turnaround bench: --${flag} must be a positive integer`);
  }
  const frontEndKind = values["front-end"];
  const imageSize = 112;

  const shared = sharedDir();
  const hint =
    "Set CORTEXLOOP_SHARED to the shared folder that holds data/v4/images and data/v4/responses (default: " +
    "../shared beside the project).";
  if (shared === undefined) {
    console.log(
      `turnaround: no shared data folder (${process.env.CORTEXLOOP_SHARED ?? "../shared"} does not exist); nothing ` +
        `was measured. ${hint}`,
    );
    return;
  }
  const v4 = join(shared, "data", "v4");
  const files = names.map((s) => ({
    name: s,
    images: join(v4, "images", `images_${s}.zip`),
    responses: join(v4, "responses", `responses_${s}.npy`),
  }));
  const missing = files.flatMap((f) => [f.images, f.responses]).filter((p) => !existsSync(p));
  if (missing.length > 0) {
    console.log(`turnaround: missing ${missing.join(", ")}; nothing was measured. ${hint}`);
    return;
  }

  const info = await selectBackend({ log });
  console.log(
    `turnaround: backend ${info.name} (${info.threads} threads, simd ${info.simd}); ${members} members × width ` +
      `${width} × ${blocks} blocks, ≤${cycles} cycles × ${steps} steps; bank ${bankSize}, k ${k}, front end ` +
      `${frontEndKind}`,
  );
  const dir = mkdtempSync(join(tmpdir(), "cortexloop-turnaround-"));
  const store = SessionStore.open(join(dir, "lab.db"));
  const phases: { phase: string; seconds: number; counted: boolean; rss: number }[] = [];
  let t = performance.now();
  const phaseDone = (phase: string, counted = true, now = performance.now()): void => {
    phases.push({ phase, seconds: (now - t) / 1000, counted, rss: rssMb() });
    console.log(`phase ${phase}: ${((now - t) / 1000).toFixed(1)} s${counted ? "" : " (not part of the turnaround)"}`);
    t = now;
  };
  try {
    // 0. Import (not counted).
    let totalUnits = 0;
    for (const [i, f] of files.entries()) {
      const src =
        perSession === undefined
          ? f
          : await subsetRecording(f.images, f.responses, perSession, mkdtempSync(join(dir, `subset${i}-`)));
      const r = await importRecordedSession(store, {
        imagesPath: src.images,
        responsesPath: src.responses,
        sessionName: f.name,
        log,
      });
      totalUnits += r.units;
      console.log(`session ${f.name}: ${r.units} units, ${r.stimuli} images`);
    }
    console.log(`${files.length} sessions, ${totalUnits} units in all`);
    phaseDone("import", false);

    // 1. Retrain: front-end features, then the ensemble across every session.
    const { sessions, featureShape } = await prepareSessions(store, {
      sessions: names,
      frontEnd: { kind: frontEndKind, inputSize: imageSize },
      seed: 1,
      log,
    });
    phaseDone("retrain: features");
    const trainingBackend = await ensureTrainableBackend(log);
    const ensemble = new DeepEnsemble({
      ...defaultEnsembleConfig,
      members,
      width,
      blocks,
      inputShape: featureShape,
      seed: 1,
      ...featureStandardization(sessions, featureShape),
    });
    try {
      const tTrain = performance.now();
      const result = await trainEnsemble(ensemble, sessions, {
        maxCycles: cycles,
        stepsPerVisit: steps,
        batchSize: 32,
        // The campaign's training settings (cortexloop campaign defaults).
        learningRate: training.learningRate,
        patience: training.patience,
        stopOn: training.stopOn,
        minCycles: training.minCycles,
        readoutL2: training.readoutL2,
        seed: 1,
        onProgress: (p) => {
          if (p.validation !== undefined)
            log(
              `cycle ${p.cycle}/${p.maxCycles}: ${validationText(p.validationLoss, p.validation)} (` +
                `${((performance.now() - tTrain) / 1000).toFixed(0)} s training)`,
            );
        },
      });
      log(
        `ensemble: ${result.cycles} cycle(s), best ${result.bestCycle} (` +
          `${validationText(result.bestValidationLoss, result.bestValidation)}) on ${trainingBackend}`,
      );
      phaseDone("retrain: ensemble");

      // 2. Score: every recorded image of the shared folder, topped up with gaudy versions, decoded per batch.
      const zips = readdirSync(join(v4, "images"))
        .filter((n) => /^images_.*\.zip$/.test(n))
        .sort();
      const refs: { id: string; data: Buffer; gaudy: boolean }[] = [];
      for (const z of zips) {
        const entries = (await readZipEntries(join(v4, "images", z), isImageName)).sort((a, b) =>
          a.name < b.name ? -1 : 1,
        );
        for (const e of entries) refs.push({ id: `${z}:${e.name}`, data: e.data, gaudy: false });
      }
      const natural = refs.length;
      for (let i = 0; refs.length < bankSize && i < natural; i++)
        refs.push({ ...refs[i]!, id: `gaudy:${refs[i]!.id}`, gaudy: true });
      refs.splice(bankSize);
      log(
        `bank: ${refs.length} candidates (${Math.min(natural, refs.length)} recorded images from ${zips.length} ` +
          `zips, ${Math.max(0, refs.length - natural)} gaudy)`,
      );
      async function* batches(): AsyncGenerator<Candidate[]> {
        for (let i = 0; i < refs.length; i += 64) {
          const out: Candidate[] = [];
          for (const r of refs.slice(i, i + 64)) {
            const img = await resizeImage(await decodeImage(r.data, r.id), imageSize, imageSize);
            out.push({ id: r.id, pixels: (r.gaudy ? gaudy(img) : img).pixels0to255 });
          }
          yield out;
        }
      }
      const frontEnd = await loadFrontEnd({ kind: frontEndKind, inputSize: imageSize, log });
      try {
        const tScore = performance.now();
        let scoredAt = tScore;
        let reported = 0;
        const picked = await selectByDisagreement(batches(), {
          ensemble,
          frontEnd,
          imageSize,
          k,
          coreset: { poolFactor: 3 },
          onProgress: (n) => {
            scoredAt = performance.now();
            if (Math.floor(n / 1000) > reported || n === refs.length) {
              reported = Math.floor(n / 1000);
              log(`scored ${n}/${refs.length} (${(n / ((scoredAt - tScore) / 1000)).toFixed(1)} images/s)`);
            }
          },
        });
        // The coreset runs after the last batch: the phase is split there.
        phaseDone("score", true, scoredAt);
        phaseDone("select");
        log(
          `selected ${picked.length} images; disagreement ` +
            `${
              picked.length
                ? `${Math.min(...picked.map((p) => p.score)).toFixed(4)}..` +
                  `${Math.max(...picked.map((p) => p.score)).toFixed(4)}`
                : "-"
            }`,
        );
      } finally {
        frontEnd.dispose();
      }
    } finally {
      ensemble.dispose();
    }
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const turnaround = phases.filter((p) => p.counted).reduce((a, p) => a + p.seconds, 0);
  const rows = [
    ["phase", "seconds", "peak RSS so far MB"],
    ...phases.map((p) => [p.counted ? p.phase : `(${p.phase})`, p.seconds.toFixed(1), p.rss.toFixed(0)]),
  ];
  rows.push(["turnaround", turnaround.toFixed(1), rssMb().toFixed(0)]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  console.log("");
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join("  "));
  console.log(
    `\nturnaround ${turnaround.toFixed(1)} s (retrain + score + select; import not counted), peak RSS ` +
      `${rssMb().toFixed(0)} MB: ${turnaround < 600 ? "under" : "OVER"} the 10-minute target`,
  );
}
