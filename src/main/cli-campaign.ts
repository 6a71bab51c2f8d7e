import type { Command } from "commander";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import type { BackendName } from "../models/backend.js";
import type { DistillSettingsInput } from "../models/compact/index.js";
import type { CausalDesignOptions } from "./causal/index.js";
import type { CausalStepResult } from "./campaign/causal-step.js";
import { SessionStore } from "./store/index.js";
import {
  campaignCompactSteps,
  campaignTrainingDefaults as training,
  readoutOption,
  scheduleOption,
  STOP_ON_HELP,
  stopCriterion,
} from "./campaign/defaults.js";
// Types only: the campaign code (tfjs) is loaded when the command runs, not by every cortexloop command.
import type { CampaignResult, CampaignRigKind, CurvePoint, Proposal, Selection, TrueRates } from "./campaign/index.js";
import type { SimNeurons } from "./sim/sim-rig.js";
import type { RgbImage } from "../stimulus/index.js";
import type { MaximizeOptions } from "../stimulus/synthesis/index.js";
import { defaultDb } from "./paths.js";
import { LiveHub } from "./live/hub.js";
import { writeLiveEndpoint, type LiveEndpointHandle } from "./live/endpoint-file.js";
import { liveProposal, liveRetrained } from "./live/campaign-events.js";
import { studyToResume, summarizeStudies } from "./campaign/study-resume.js";
import { findStudy, type StudyRow } from "./store/studies.js";

export interface CampaignFlags {
  sessions: string;
  imagesPerSession: string;
  testImages: string;
  testRepeats: string;
  trainRepeats: string;
  db: string;
  out: string;
  neurons: string;
  compactModels?: string;
  units: string;
  selection: string;
  compare?: boolean;
  seed: string;
  members: string;
  width: string;
  cycles: string;
  steps: string;
  blocks: string;
  lr: string;
  patience: string;
  stopOn: string;
  minCycles: string;
  readoutL2: string;
  readouts: string;
  /** "interleaved" (default) or "visits"; a study stored before the option existed resumes with "visits". */
  schedule?: string;
  /** "skip" (default) or "factorized"; a study stored before the option existed resumes with "factorized". */
  readout?: string;
  warmStart: boolean;
  candidates: string;
  coreset?: string;
  power?: string;
  bankSize?: string;
  imagesDir?: string;
  activeFraction: string;
  gaudyFraction: string;
  rig: string;
  /**
   * Record on the rig this file names (a real rig, or `cortexloop sim-rig` running as its own process) instead of
   * --rig.
   */
  rigFile?: string;
  /** Ask the experimenter before each designed session runs. */
  approve?: boolean;
  /** Serve the web API while the campaign runs, so proposals can be approved from the app (approveProposal). */
  serve?: boolean;
  /** Programs and tests: told the server's address once it listens. */
  onServing?: (server: { url: string; token: string }) => void;
  /** The study's name (default "campaign <seed>", numbered if the database has one already). */
  study?: string;
  /** Resume this stored study (id or name) with its own settings, after the controller was stopped. */
  resume?: string;
  frontEnd: string;
  frontEndInput?: string;
  stimulusMs: string;
  interStimulusMs: string;
  propose: boolean;
  truthImages?: string;
  /** Distil compact models after each retrain (`--no-compact` turns it off). */
  compact?: boolean;
  /** After which retrains: "all" (default) or "last" (only after the last session's, the causal test's models). */
  compactAfter?: string;
  compactSteps?: string;
  compactLaterSteps?: string;
  compactBank?: string;
  /** Programs and tests: distillation settings of the compact-model step (the command line sets only steps). */
  compactSettings?: DistillSettingsInput;
  backend?: string;
  /** Maximizing synthesized images per unit in each designed session (default 1 with --compact, else 0). */
  synthesizedPerUnit?: string;
  /** Programs and tests: the synthesis' settings (campaign/synthesized.ts; the command line sets only the count). */
  synthesizedSettings?: Partial<MaximizeOptions>;
  /** After the sessions, design, record and analyze a causal-test session (campaign/causal-step.ts). */
  causal?: boolean;
  causalRepeats?: string;
  /** Natural images the causal-test session chooses from (the bank, then never-shown images). */
  causalBank?: string;
  /** Programs and tests: the causal design's settings (the command line sets only --causal-repeats). */
  causalSettings?: Partial<CausalDesignOptions>;
}

/** What `campaign.json` (in the campaign's --out folder) holds: each arm's curve and turnarounds. */
export interface CampaignSummary {
  seed: number;
  units: number;
  neurons: "builtin" | "compact";
  imagesPerSession: number;
  sessions: number;
  /** How the "active" arm picked: "top-k", "coreset F" or "power P" (absent in files written before --power). */
  activeRule?: string;
  results: { selection: Selection; curve: CurvePoint[]; turnarounds: CampaignResult["turnarounds"] }[];
}

function int(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${flag} must be a whole number ≥ ${min}, got "${value}"; nothing was run.`);
  return n;
}

function fraction(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new Error(`--${flag} must be between 0 and 1, got "${value}"; nothing was run.`);
  return n;
}

function nonNegative(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag} must be a number ≥ 0, got "${value}"; nothing was run.`);
  return n;
}

function curveText(label: string, curve: CurvePoint[]): string {
  // Session 1's readout is fitted on the same data in both arms of --compare: its score moves only with the cores.
  return (
    `${label}: ` +
    `${curve
      .map(
        (p) =>
          `session ${p.session}: ${p.imagesShown} images → r²_ER ${p.r2er.toFixed(3)} (session 1's ` +
          `readout ${p.r2erPerSession[0]?.toFixed(3) ?? "-"})` +
          `${
            p.compact === undefined
              ? ""
              : `; compact models: R² with the ensemble ${p.compact.r2Teacher.toFixed(3)}, ` +
                `filters [${p.compact.filters.join(",")}], ${p.compact.metric === "r2er" ? "r²_ER" : "raw R²"} ` +
                `${p.compact.recordedStudent.toFixed(3)} (ensemble ` +
                `${p.compact.recordedTeacher.toFixed(3)})`
          }`,
      )
      .join("; ")}`
  );
}

/** Simulation only: the simulated neurons' noise-free rates on pictures the campaign never shows. */
async function trueRates(neurons: SimNeurons, images: RgbImage[], say: (line: string) => void): Promise<TrueRates> {
  const units = neurons.units.length;
  const rates = new Float64Array(images.length * units);
  const t0 = performance.now();
  for (const [i, image] of images.entries()) {
    rates.set(await neurons.rates(image), i * units);
    if ((i + 1) % 250 === 0 || i + 1 === images.length)
      say(`true rates: ${i + 1}/${images.length} pictures (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  return { images, unitNames: neurons.units.map((u) => `${u.electrode}#${u.sortedId}`), rates };
}

// What the command line gives a resumed study; everything else is the study's own.
const RUNTIME_FLAGS = ["db", "serve", "approve", "onServing", "backend", "resume"] as const;

/** The settings a study is stored with (what `--resume` runs it with again): paths made absolute. */
function studySettings(flags: CampaignFlags): Record<string, unknown> {
  const settings: Record<string, unknown> = { ...flags };
  for (const key of RUNTIME_FLAGS) delete settings[key];
  delete settings.compactSettings;
  const paths = ["out", "rigFile", "imagesDir", "compactModels"] as const;
  for (const key of paths) if (flags[key] !== undefined) settings[key] = resolve(flags[key]);
  return settings;
}

/** `--resume`: the stored study and the flags it runs with again (refused before anything loads). */
function resumeFlags(flags: CampaignFlags, say: (line: string) => void): { flags: CampaignFlags; study: StudyRow } {
  if (flags.compare)
    throw new Error("--compare runs are not stored as studies and cannot be resumed; nothing was done.");
  if (!existsSync(flags.db))
    throw new Error(`There is no database at ${flags.db}; nothing was done. Name the study's database with --db.`);
  const store = SessionStore.open(flags.db);
  try {
    const study = studyToResume(store, flags.resume!, flags.rigFile);
    const runtime = Object.fromEntries(RUNTIME_FLAGS.map((k) => [k, flags[k]]));
    const merged = {
      // Studies stored before --schedule and --readout existed trained by visits with factorized readouts.
      schedule: "visits",
      readout: "factorized",
      ...(study.settings as unknown as CampaignFlags),
      ...runtime,
      compactSettings: flags.compactSettings,
      rigFile: study.rigFile === null ? undefined : resolve(flags.rigFile ?? study.rigFile),
      study: study.name,
    } as CampaignFlags;
    say(`resuming study ${study.id} "${study.name}" (started ${study.createdAt}) with the settings it started with`);
    return { flags: merged, study };
  } finally {
    store.close();
  }
}

/** A new study's name: --study, else "campaign <seed>" (numbered when the database has one of that name). */
function newStudyName(store: SessionStore, flags: CampaignFlags, seed: number): string {
  if (flags.study !== undefined) return flags.study;
  const base = `campaign ${seed}`;
  let name = base;
  for (let k = 2; findStudy(store.db, name) !== undefined; k++) name = `${base} (${k})`;
  return name;
}

/** `cortexloop campaign` without commander: what the command runs (tests call it directly). */
export async function runCampaignCommand(
  given: CampaignFlags,
  say: (line: string) => void,
  approve?: (proposal: Proposal) => Promise<boolean>,
): Promise<{ results: CampaignResult[]; causal?: CausalStepResult }> {
  const t0 = performance.now();
  const resumed = given.resume === undefined ? undefined : resumeFlags(given, say);
  const flags = resumed?.flags ?? given;
  const sessions = int("sessions", flags.sessions, 1);
  const imagesPerSession = int("images-per-session", flags.imagesPerSession, 4);
  const testImages = int("test-images", flags.testImages, 2);
  const testRepeats = int("test-repeats", flags.testRepeats, 2);
  const trainRepeats = int("train-repeats", flags.trainRepeats, 1);
  const learningRate = Number(flags.lr);
  if (!(learningRate > 0 && learningRate < 1))
    throw new Error(`--lr must be a learning rate between 0 and 1, got "${flags.lr}"; nothing was run.`);
  const units = int("units", flags.units, 1);
  const seed = int("seed", flags.seed, 0);
  const candidates = int("candidates", flags.candidates, 1);
  const causalRepeats = int("causal-repeats", flags.causalRepeats ?? "5", 1);
  const selection = flags.selection as Selection;
  if (selection !== "active" && selection !== "random")
    throw new Error(`--selection must be active or random, got "${flags.selection}"; nothing was run.`);
  const rigKind = flags.rig as CampaignRigKind;
  if (rigKind !== "sim" && rigKind !== "fake")
    throw new Error(`--rig must be sim or fake, got "${flags.rig}"; nothing was run.`);
  if (flags.rigFile !== undefined && (flags.truthImages ?? "0") !== "0") {
    throw new Error(
      "--truth-images needs the simulated neurons' true rates, which a rig file's rig does not have; nothing was " +
        "run. Leave out --truth-images with --rig-file.",
    );
  }
  const activeFraction = fraction("active-fraction", flags.activeFraction);
  const gaudyFraction = fraction("gaudy-fraction", flags.gaudyFraction);
  const readouts = flags.readouts;
  if (readouts !== "per-session" && readouts !== "pooled")
    throw new Error(`--readouts must be per-session or pooled, got "${flags.readouts}"; nothing was run.`);
  if (flags.compactAfter !== undefined && flags.compactAfter !== "all" && flags.compactAfter !== "last")
    throw new Error(`--compact-after must be all or last, got "${flags.compactAfter}"; nothing was run.`);
  const schedule = scheduleOption(flags.schedule ?? training.schedule);
  const readoutKind = readoutOption(flags.readout ?? training.readout);
  const coresetPoolFactor = flags.coreset === undefined ? undefined : Number(flags.coreset);
  if (coresetPoolFactor !== undefined && !(coresetPoolFactor >= 1))
    throw new Error(`--coreset must be a pool factor ≥ 1, got "${flags.coreset}"; nothing was run.`);
  const samplingPower = flags.power === undefined ? undefined : Number(flags.power);
  if (samplingPower !== undefined && !(samplingPower >= 0))
    throw new Error(`--power must be a number ≥ 0, got "${flags.power}"; nothing was run.`);
  if (samplingPower !== undefined && coresetPoolFactor !== undefined)
    throw new Error("Choose --coreset or --power, not both; nothing was run.");
  const { selectBackend, isBackendName } = await import("../models/backend.js");
  const {
    Campaign,
    campaignFrontEnd,
    campaignFrontEndSpec,
    campaignNeurons,
    createCampaignRig,
    defaultCompactModelsDir,
    campaignNeuronSeed,
    defaultImagesDir,
    formatCurves,
    loadImageBank,
  } = await import("./campaign/index.js");
  const { compactAfterSessions, compactStep } = await import("./campaign/compact-step.js");
  if (flags.backend !== undefined && !isBackendName(flags.backend))
    throw new Error(
      `--backend must be one of tfjs-node-gpu, tfjs-node, wasm, cpu, got "${flags.backend}"; nothing was run.`,
    );
  await selectBackend({ log: say, prefer: flags.backend as BackendName | undefined });
  const outDir = resolve(flags.out);
  const compactDir = resolve(flags.compactModels ?? defaultCompactModelsDir());
  const population = await campaignNeurons(flags.neurons, units, campaignNeuronSeed(seed), compactDir, say);
  say(`neurons: ${population.description}`);
  const store = SessionStore.open(flags.db);
  let server: { close(): Promise<void> } | undefined;
  let endpointRecord: LiveEndpointHandle | undefined;
  // --serve: the live view's feed and controls (each session, each retrain, each proposal), pushed to the app.
  const live = flags.serve === true ? new LiveHub({ log: say }) : undefined;
  try {
    const frontEndInput =
      flags.frontEndInput === undefined ? undefined : int("front-end-input", flags.frontEndInput, 16);
    const frontEnd = await campaignFrontEnd(flags.frontEnd, say, frontEndInput);
    say(`front end: ${frontEnd.name}`);
    const nActive = Math.round(imagesPerSession * activeFraction);
    const nOther = imagesPerSession - nActive;
    const bankSize =
      flags.bankSize !== undefined
        ? int("bank-size", flags.bankSize, 1)
        : testImages + imagesPerSession + sessions * nOther + Math.max(candidates, sessions * nActive);
    const truthImages = int("truth-images", flags.truthImages ?? "0", 0);
    // The true-rate pictures come after the bank's: a V4 image bank is a prefix of one seeded order, so it
    // (and so the whole campaign) is the same with or without them.
    const compactOn = flags.compact === true;
    const compactAfter = flags.compactAfter ?? "all";
    const compactBank = compactOn ? int("compact-bank", flags.compactBank ?? "2000", 0) : 0;
    // The causal session chooses its normal images from the bank and then from images never shown, as many
    // as it is given: the more it ranks, the stronger the maximizing normal images (the bench ranks 10,000).
    const causalBank = flags.causal === true ? int("causal-bank", flags.causalBank ?? "10000", 1) : 0;
    const synthesizedPerUnit = int("synthesized-per-unit", flags.synthesizedPerUnit ?? (compactOn ? "1" : "0"), 0);
    // The compact models' extra natural images come after those too, so nothing else changes with them.
    const loaded = await loadImageBank({
      imagesDir: resolve(flags.imagesDir ?? defaultImagesDir()),
      count: bankSize + truthImages + Math.max(compactBank, causalBank - bankSize),
      size: 112,
      seed,
      log: say,
    });
    const bank = { ...loaded, images: loaded.images.slice(0, bankSize) };
    // Images no session shows and the true rates do not use: the compact models' and the causal design's extra.
    const neverShown = loaded.images.slice(bankSize + truthImages);
    const uses = [
      truthImages > 0 ? `${truthImages} never shown, scored against the neurons' true rates` : "",
      compactBank > 0 ? `${Math.min(compactBank, neverShown.length)} never shown for the compact models` : "",
      causalBank > bankSize ? `${Math.min(causalBank, bankSize + neverShown.length)} ranked by the causal design` : "",
    ].filter((u) => u !== "");
    say(
      `image bank: ${loaded.description}${uses.length > 0 ? `; ${bankSize} for the campaign, ${uses.join(", ")}` : ""}`,
    );
    const truth =
      truthImages > 0
        ? await trueRates(
            population.neurons,
            loaded.images.slice(bankSize, bankSize + truthImages).map((b) => b.image),
            say,
          )
        : undefined;
    const countWindow = { startMs: 50, endMs: 150, bins: 1 };
    const { rigFromFile } = await import("./campaign/rig-file-rig.js");
    const rig =
      flags.rigFile !== undefined
        ? rigFromFile({ file: resolve(flags.rigFile), countWindow, outDir, log: say, live: live?.runnerHooks })
        : await createCampaignRig({
            kind: rigKind,
            neurons: population.neurons,
            neuronsKind: population.kind,
            seed: seed + 7,
            countWindow,
            outDir,
            log: say,
            live: live?.runnerHooks,
          });
    const rigText =
      flags.rigFile !== undefined
        ? `${rig.config.name} from ${flags.rigFile}`
        : rigKind === "sim"
          ? `simulated Open Ephys rig on loopback (${rig.file})`
          : "in-process fake rig";
    say(`rig: ${rigText}`);
    const { terminalApproval } = await import("./campaign/approve-prompt.js");
    const { StoredApproval } = await import("./campaign/stored-approval.js");
    // --serve: proposals are stored and decided in the app or (with --approve) on the terminal, whichever answers
    // first.
    const stored =
      flags.serve === true
        ? new StoredApproval(store, {
            log: say,
            onProposal: (row) => live?.publish(liveProposal(row)),
            terminal:
              flags.approve === true && process.stdin.isTTY === true
                ? { input: process.stdin, output: process.stderr }
                : undefined,
          })
        : undefined;
    if (stored !== undefined) {
      const { startServer } = await import("./api/server.js");
      const { projectRoot } = await import("./paths.js");
      const running = await startServer({
        store,
        rendererDir: join(projectRoot, "dist-renderer"),
        port: 0,
        log: say,
        context: { proposals: stored, live },
      });
      server = running;
      say(`approve proposals in the app: ${running.openUrl}`);
      say(`watch it live (sessions, retraining, proposals): ${running.url}/#/live&token=${running.token}`);
      // The desktop app open on the same database attaches to the campaign through this record.
      endpointRecord = writeLiveEndpoint(flags.db, { url: running.url, token: running.token, kind: "campaign" }, say);
      flags.onServing?.({ url: running.url, token: running.token });
    }
    const { StudyJournal } = await import("./campaign/study-journal.js");
    // A --compare run (two arms of one simulated study) is a comparison, not a study to resume.
    const journal = flags.compare
      ? undefined
      : resumed !== undefined
        ? StudyJournal.resume(store, resumed.study, say)
        : StudyJournal.start(
            store,
            {
              name: newStudyName(store, flags, seed),
              rigFile: flags.rigFile === undefined ? null : resolve(flags.rigFile),
              rigText: rig.text,
              settings: studySettings({ ...flags, schedule, readout: readoutKind }),
            },
            say,
          );
    if (journal !== undefined)
      say(
        `study ${journal.study.id} "${journal.name}": if the controller stops, resume it with ` +
          `\`cortexloop campaign --resume ${journal.study.id} --db ${flags.db}\``,
      );
    const campaign = new Campaign({
      store,
      rig,
      bank,
      frontEnd,
      frontEndSpec: campaignFrontEndSpec(flags.frontEnd, frontEndInput),
      outDir,
      sessions,
      imagesPerSession,
      testImages,
      testRepeats,
      trainRepeats,
      activeFraction,
      gaudyFraction,
      candidates,
      coresetPoolFactor,
      samplingPower,
      readouts,
      timing: { fixationMs: 300, stimulusMs: Number(flags.stimulusMs), interStimulusMs: Number(flags.interStimulusMs) },
      countWindow,
      training: {
        members: int("members", flags.members, 2),
        width: int("width", flags.width, 1),
        blocks: int("blocks", flags.blocks, 0),
        maxCycles: int("cycles", flags.cycles, 1),
        stepsPerVisit: int("steps", flags.steps, 1),
        schedule,
        readout: readoutKind,
        batchSize: 32,
        learningRate,
        patience: int("patience", flags.patience, 1),
        stopOn: stopCriterion(flags.stopOn),
        minCycles: int("min-cycles", flags.minCycles, 1),
        readoutL2: nonNegative("readout-l2", flags.readoutL2),
        warmStart: flags.warmStart,
      },
      seed,
      name: journal?.name ?? `campaign ${seed}`,
      proposeNext: flags.propose,
      approve: approve ?? stored?.approve ?? (flags.approve === true ? terminalApproval(say) : undefined),
      approvalVia: approve === undefined && stored === undefined ? "terminal" : "program",
      journal,
      // With --causal the study is finished once its causal test is: a stop before then resumes to it.
      finishLater: flags.causal === true,
      truth,
      afterRetrain: liveRetrained(
        live?.publish,
        store,
        compactOn
          ? compactAfterSessions(
              compactAfter === "last" ? sessions : 1,
              compactStep({
                store,
                frontEnd,
                bank: [...bank.images, ...neverShown.slice(0, compactBank)].map((b) => ({
                  key: b.id,
                  pixels: b.image.pixels0to255,
                })),
                settings: {
                  steps: campaignCompactSteps,
                  ...flags.compactSettings,
                  ...(flags.compactSteps === undefined ? {} : { steps: int("compact-steps", flags.compactSteps, 0) }),
                },
                laterSteps:
                  flags.compactLaterSteps === undefined
                    ? undefined
                    : int("compact-later-steps", flags.compactLaterSteps, 0),
                log: say,
              }),
            )
          : undefined,
      ),
      synthesizedPerUnit,
      ...(flags.synthesizedSettings === undefined ? {} : { synthesizedSettings: flags.synthesizedSettings }),
      live: live?.publish,
      log: say,
    });
    const results: CampaignResult[] = [];
    if (flags.compare) {
      const { active, random } = await campaign.compare();
      results.push(active, random);
      say("");
      say("median held-out r²_ER against training images shown (same session 1, same seed):");
      for (const line of formatCurves(active.curve, random.curve).split("\n")) say(line);
    } else {
      const result = await campaign.run(selection);
      results.push(result);
      say("");
      say(curveText(`${selection} selection`, result.curve));
    }
    for (const r of results) {
      for (const t of r.turnarounds)
        say(
          `${r.selection}: turnaround after session ${t.afterSession}: ${t.totalSeconds.toFixed(1)} s (retrain ` +
            `${t.retrainSeconds.toFixed(1)} s, score ${t.candidatesScored} candidates + select ` +
            `${t.scoreSelectSeconds.toFixed(1)} s)`,
        );
    }
    let causal: CausalStepResult | undefined;
    if (flags.causal === true) {
      const { campaignCausalTest } = await import("./campaign/causal-step.js");
      causal = await campaignCausalTest(results[0]!, sessions, {
        store,
        rig,
        bank: [...bank.images, ...neverShown].slice(0, causalBank),
        outDir,
        name: journal?.name ?? `campaign ${seed}`,
        stimulusMs: Number(flags.stimulusMs),
        repeats: causalRepeats,
        design: flags.causalSettings,
        log: say,
      });
      if (causal !== undefined)
        journal?.noteFinished({
          sessions: results[0]!.sessions.length,
          causalSessionId: causal.sessionId,
          ...(results[0]!.proposedProtocolFile === undefined
            ? {}
            : { proposedProtocolFile: results[0]!.proposedProtocolFile }),
        });
    }
    // The figures again, for programs (`npm run bench -- active` reads them): JSON writes NaN as null.
    const summary: CampaignSummary = {
      seed,
      units: population.neurons.units.length,
      neurons: population.kind,
      imagesPerSession,
      sessions,
      activeRule: campaign.activeRule,
      results: results.map((r) => ({ selection: r.selection, curve: r.curve, turnarounds: r.turnarounds })),
    };
    writeFileSync(join(outDir, "campaign.json"), `${JSON.stringify(summary, null, 1)}\n`);
    say(
      `campaign finished in ${((performance.now() - t0) / 60_000).toFixed(1)} min; sessions, model versions and ` +
        `protocols are in ${flags.db}; protocol files in ${outDir}`,
    );
    frontEnd.dispose();
    return { results, causal };
  } finally {
    endpointRecord?.remove();
    live?.flush();
    await server?.close();
    population.neurons.dispose?.();
    store.close();
  }
}

/** `cortexloop campaign`: K closed-loop sessions against the simulated rig; `cortexloop studies` lists them. */
export function registerCampaignCommand(program: Command): void {
  program
    .command("studies")
    .description("list the studies of a database: state, sessions recorded, models trained, last step (--resume)")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((flags: { db: string }) => {
      if (!existsSync(flags.db)) throw new Error(`There is no database at ${flags.db}; nothing was read.`);
      const store = SessionStore.open(flags.db, { readonly: true });
      try {
        const rows = summarizeStudies(store);
        if (rows.length === 0) console.log(`no studies in ${flags.db}`);
        else console.table(rows);
      } finally {
        store.close();
      }
    });
  program
    .command("campaign")
    .description(
      "closed-loop campaign against the simulated rig: session 1 natural images, then retrain the ensemble and " +
        "design each next session (active learning, gaudy, natural)",
    )
    .option("--sessions <k>", "sessions in all", "4")
    .option("--images-per-session <n>", "distinct training images per session (the test set comes on top)", "200")
    .option("--test-images <n>", "held-out natural images shown in every session, never trained on", "30")
    .option("--test-repeats <n>", "repeats of each test image per session (for r²_ER)", "4")
    .option(
      "--train-repeats <n>",
      "presentations of each training image per session (repeats average out spike-count noise)",
      "1",
    )
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .option("--out <dir>", "folder for the rig file and every session's protocol file", "campaign")
    .option(
      "--neurons <kind>",
      "auto (compact when shared/data/v4/compact_models loads, else builtin) | compact | builtin",
      "auto",
    )
    .option("--compact-models <dir>", "folder of compact_model_*.npy (default ../shared/data/v4/compact_models)")
    .option("--units <n>", "simulated units", "16")
    .option("--selection <rule>", "active (ensemble disagreement) | random", "active")
    .option("--compare", "run twice from the same session 1: active and random selection; print both curves")
    .option("--seed <n>", "seed of the bank split, neurons, schedules and training", "1")
    .option("--members <n>", "ensemble members", String(training.members))
    .option("--width <n>", "channels inside each member", String(training.width))
    .option("--cycles <n>", "training cycles over the sessions (at most)", String(training.maxCycles))
    .option("--steps <n>", "optimizer steps per session visit (--schedule visits only)", String(training.stepsPerVisit))
    .option(
      "--schedule <kind>",
      "interleaved (a cycle is one pass over every session's images, as train and evaluate do) | visits (one " +
        "session at a time for --steps steps)",
      training.schedule,
    )
    .option(
      "--readout <kind>",
      "skip (a ridge over the front end's features, the cores' outputs and the other sessions' predictions, fitted " +
        "for the new session before the retrain and for every session after it, as cortexloop readout does) | " +
        "factorized (the readout the cores train with)",
      training.readout,
    )
    .option("--blocks <n>", "residual blocks per member", String(training.blocks))
    .option("--lr <rate>", "Adam learning rate", String(training.learningRate))
    .option(
      "--patience <n>",
      "cycles without a better validation score before training stops",
      String(training.patience),
    )
    .option("--stop-on <criterion>", STOP_ON_HELP, training.stopOn)
    .option("--min-cycles <n>", "train at least this many cycles before early stopping", String(training.minCycles))
    .option("--readout-l2 <x>", "L2 penalty on the readout weights", String(training.readoutL2))
    .option(
      "--readouts <kind>",
      "per-session (a readout per session, as in the paper) | pooled (the sessions record the same units, as the " +
        "simulated rig does: one readout on every session's images, test repeats pooled over sessions)",
      "per-session",
    )
    .option(
      "--no-warm-start",
      "retrain from random weights after every session instead of continuing from the previous model",
    )
    .option("--candidates <n>", "candidates scored for active learning", "1500")
    .option("--coreset <poolFactor>", "k-centre thinning over the top k × poolFactor candidates")
    .option(
      "--power <p>",
      "power sampling: the active picks drawn with chance ∝ disagreement^p instead of the top k (4 is a usual choice)",
    )
    .option("--bank-size <n>", "images taken into the bank (default: what the campaign needs)")
    .option(
      "--images-dir <dir>",
      "folder of V4 images_*.zip (default ../shared/data/v4/images; generated images when absent)",
    )
    .option("--active-fraction <x>", "share of a later session's images picked by the ensemble (or at random)", "0.5")
    .option("--gaudy-fraction <x>", "share of gaudy versions of natural images", "0.25")
    .option(
      "--rig <kind>",
      "sim (real-socket simulated rig, in this process) | fake (in-process fake rig, builtin neurons)",
      "sim",
    )
    .option(
      "--rig-file <file>",
      "record on the rig this file names instead: a real rig, or `cortexloop sim-rig --rig <file>` running as its " +
        "own process",
    )
    .option(
      "--approve",
      "show each designed session and ask before running it (y runs it; anything else stops with the proposal kept)",
    )
    .option(
      "--serve",
      "serve the web API while the campaign runs and print its URL: each designed session is stored as a proposal " +
        "and waits for approval in the app (approveProposal), or on the terminal too with --approve",
    )
    .option(
      "--front-end <kind>",
      "default (MobileNetV2 when installed) | mobilenet | gabor | gabor-small | model.json path",
      "default",
    )
    .option("--front-end-input <px>", "side of the image the front end sees (default: the front end's own)")
    .option("--stimulus-ms <ms>", "stimulus duration", "50")
    .option("--inter-stimulus-ms <ms>", "blank between stimuli", "50")
    .option("--no-propose", "do not design the session after the last one")
    .option(
      "--truth-images <n>",
      "simulation only: also score every retrain against the simulated neurons' noise-free rates on n natural " +
        "images never shown (squared correlation; what r²_ER estimates, without its noise)",
      "0",
    )
    .option("--no-compact", "do not distil compact models after each retrain")
    .option(
      "--compact-after <all|last>",
      "distil after every retrain, or only after the last session's (what --causal designs through)",
      "all",
    )
    .option(
      "--compact-steps <n>",
      `steps of the first compact-model distillation's shared model (default ${campaignCompactSteps})`,
    )
    .option(
      "--compact-later-steps <n>",
      "steps of later distillations, which continue from the previous shared model (default a third)",
    )
    .option(
      "--compact-bank <n>",
      "natural images beyond the campaign's bank for the compact models to learn from (never shown)",
      "2000",
    )
    .option("--backend <name>", "tfjs backend (default: the best that loads)")
    .option(
      "--causal",
      "after the sessions, a causal-test session: designed from the newest models (cortexloop design causal), " +
        "recorded on the same rig and analyzed (the table of analyze causal)",
    )
    .option(
      "--synthesized-per-unit <n>",
      "maximizing synthesized images per unit in each designed session, through the unit's compact model (else " +
        "the ensemble); 0 turns them off (default 1 with --compact, else 0)",
    )
    .option("--causal-repeats <n>", "times each image of the causal-test session is shown", "5")
    .option(
      "--causal-bank <n>",
      "natural images the causal-test session ranks for its maximizing normal, random normal and adversarial " +
        "base images: the campaign's bank, then images never shown, up to n (default 10000, or all there are)",
    )
    .option("--study <name>", 'name of the study (default "campaign <seed>")')
    .option(
      "--resume <study>",
      "go on with a stored study (id or name) after the controller was stopped, with the settings it started with " +
        "(only --db, --rig-file, --serve, --approve and --backend are read from this command line)",
    )
    .action(async (flags: CampaignFlags) => {
      await runCampaignCommand(flags, (line) => void process.stderr.write(`${line}\n`));
    });
}
