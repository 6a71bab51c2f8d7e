// Commands for models that learn between sessions: import recorded data, evaluate, list versions.
import type { Command } from "commander";
import { SessionStore } from "./store/index.js";
import { importRecordedSession } from "./import/recorded.js";
import { evaluateDefaults, evaluateSessions } from "./jobs/evaluate.js";
import { heldOutDefaults } from "./jobs/heldout.js";
import { selectFromBank } from "./jobs/select.js";
import { startRetrainJob } from "./jobs/start-retrain.js";
import type { Preprocess } from "../models/frontend/index.js";
import { defaultEnsembleConfig, validationText } from "../models/ensemble/index.js";
import { STOP_ON_HELP, stopCriterion } from "./campaign/defaults.js";
import { runHeldOutEvaluation } from "./cli-heldout.js";
import { predictImages } from "./jobs/predict.js";
import { trainableSessions } from "./jobs/heldout.js";
import { fitNewSessionReadout } from "./jobs/readout.js";
import { defaultDb } from "./paths.js";
import { collect } from "./cli-options.js";

interface ReadoutFlags {
  model: number;
  session: string;
  kind: string;
  readoutL2: number;
  thenRetrain?: boolean;
  db: string;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function fmt(v: number): string {
  return Number.isNaN(v) ? "NaN" : v.toFixed(3);
}

export function registerModelCommands(program: Command): void {
  program
    .command("import")
    .description(
      "import a session recorded elsewhere: an image bank (image%04d.jpg, number k = column k-1) and a responses .npy",
    )
    .requiredOption("--images <zip|dir>", "images: a zip or a folder of image0001.jpg ...")
    .requiredOption(
      "--responses <npy>",
      "responses: (units, images) repeat-averaged, or (units, images, repeats) NaN-padded",
    )
    .requiredOption("--session <name>", "name of the new session")
    .option("--duration-ms <ms>", "presentation duration to record", (v) => Number(v), 100)
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action(async (flags: { images: string; responses: string; session: string; durationMs: number; db: string }) => {
      const store = SessionStore.open(flags.db);
      try {
        const r = await importRecordedSession(store, {
          imagesPath: flags.images,
          responsesPath: flags.responses,
          sessionName: flags.session,
          durationMs: flags.durationMs,
          log: say,
        });
        say(
          `imported session "${flags.session}" (id ${r.session.id}): responses (${r.shape.join(", ")}), ` +
            `${r.presentations} presentations of ${r.stimuli} distinct images, ` +
            (`${r.units} units` +
              `${
                r.flaggedUnits.length
                  ? ` (${r.flaggedUnits.length} flagged, excluded from fitting: ` + `${r.flaggedUnits.join(", ")})`
                  : ""
              }; stored in ${flags.db}`),
        );
      } finally {
        store.close();
      }
    });

  program
    .command("evaluate")
    .description(
      "train the deep ensemble across the given sessions and report held-out r²_ER (or raw R²) per session next to " +
        "a ridge baseline; " +
        ("or, with --heldout S, pretrain on other sessions and cross-validate a readout for S (the paper's " +
          "held-out-session test)"),
    )
    .option("--session <name|id>", "session(s) to train on and evaluate (repeat or comma-separate)", collect, [])
    .option(
      "--heldout <name|id>",
      "evaluate this session as one the ensemble never trained on: pretrain, freeze, k-fold readouts",
    )
    .option(
      "--pretrain <name|id>",
      "with --heldout: sessions to pretrain on (default: every other session in the store)",
      collect,
      [],
    )
    .option("--folds <k>", "with --heldout: cross-validation folds of the held-out session", (v) => Number(v), 5)
    .option("--out <dir>", "with --heldout: write units.csv, folds.csv, predictions.csv and report.json here")
    .option("--readout-l2 <x>", "with --heldout: L2 penalty of the readouts", (v) => Number(v))
    .option("--no-feature-cache", "compute front-end features again instead of reusing those kept beside the database")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .option(
      "--frontend <kind>",
      "default | mobilenet | inception | gabor | path/to/model.json (tensorflowjs_converter output)",
      "default",
    )
    .option(
      "--frontend-layer <name>",
      "layer to cut the front end at (ResNet50: conv4_block4_out; default: the front end's own)",
    )
    .option("--frontend-input <px>", "side of the image the front end sees (default: the front end's own)", (v) =>
      Number(v),
    )
    .option("--frontend-preprocess <kind>", "for a converted model: caffe | scale-minus-one-to-one | none", "caffe")
    .option("--members <n>", "ensemble members", (v) => Number(v), evaluateDefaults.members)
    .option("--width <n>", "channels inside each member", (v) => Number(v), defaultEnsembleConfig.width)
    .option("--blocks <n>", "residual blocks per member", (v) => Number(v), defaultEnsembleConfig.blocks)
    .option(
      "--cycles <n>",
      `most training cycles over the sessions (default ${evaluateDefaults.maxCycles}; ${heldOutDefaults.maxCycles} ` +
        `with --heldout, whose pretraining on many sessions kept improving past 30)`,
      (v) => Number(v),
    )
    .option(
      "--patience <n>",
      "stop after this many cycles without a better validation score",
      (v) => Number(v),
      evaluateDefaults.patience,
    )
    .option("--stop-on <criterion>", STOP_ON_HELP, evaluateDefaults.stopOn)
    .option(
      "--min-cycles <n>",
      "train at least this many cycles before early stopping",
      (v) => Number(v),
      evaluateDefaults.minCycles,
    )
    .option("--readout-steps <n>", "steps to fit each evaluation readout (cores frozen)", (v) => Number(v), 300)
    .option(
      "--validation-session <name|id>",
      "early stopping watches only this session's validation images (default: all sessions)",
    )
    .option("--lr <rate>", "Adam learning rate for ensemble training", (v) => Number(v), 6e-3)
    .option("--test-fraction <f>", "held-out fraction of each session's images", (v) => Number(v), 0.2)
    .option("--seed <n>", "seed for splits and initialization", (v) => Number(v), 1)
    .option("--backend <name>", "tfjs-node-gpu | tfjs-node | wasm | cpu (default: best available)")
    .option("--save", "store the trained ensemble as a model version")
    .option("--json <file>", "also write the full report (per-unit scores) as JSON")
    .action(
      async (flags: {
        session: string[];
        heldout?: string;
        pretrain: string[];
        folds: number;
        out?: string;
        readoutL2?: number;
        featureCache: boolean;
        db: string;
        frontend: string;
        frontendLayer?: string;
        frontendInput?: number;
        frontendPreprocess: Preprocess;
        members: number;
        width: number;
        blocks: number;
        cycles?: number;
        patience: number;
        stopOn: string;
        minCycles: number;
        readoutSteps: number;
        lr: number;
        validationSession?: string;
        testFraction: number;
        seed: number;
        backend?: string;
        save?: boolean;
        json?: string;
      }) => {
        const frontEnd = {
          kind: flags.frontend,
          outputLayer: flags.frontendLayer,
          inputSize: flags.frontendInput,
          preprocess: flags.frontendPreprocess,
        };
        if (flags.heldout !== undefined) {
          if (flags.session.length > 0)
            throw new Error(
              "--heldout and --session do not go together: name the sessions to pretrain on with --pretrain.",
            );
          await runHeldOutEvaluation(
            { ...flags, heldout: flags.heldout, frontEnd, members: flags.members, cycles: flags.cycles },
            say,
          );
          return;
        }
        if (flags.session.length === 0)
          throw new Error("Name the sessions to evaluate (--session), or a session to hold out (--heldout).");
        const store = SessionStore.open(flags.db);
        const abort = new AbortController();
        const onSignal = (): void => {
          say("\nstopping after the current step; the best weights so far are evaluated.");
          abort.abort();
        };
        process.on("SIGINT", onSignal);
        try {
          const report = await evaluateSessions(store, {
            sessions: flags.session,
            frontEnd,
            members: flags.members,
            width: flags.width,
            blocks: flags.blocks,
            maxCycles: flags.cycles ?? evaluateDefaults.maxCycles,
            patience: flags.patience,
            stopOn: stopCriterion(flags.stopOn),
            minCycles: flags.minCycles,
            readoutSteps: flags.readoutSteps,
            learningRate: flags.lr,
            validationSession: flags.validationSession,
            testFraction: flags.testFraction,
            seed: flags.seed,
            backend: flags.backend,
            save: flags.save,
            log: say,
            signal: abort.signal,
          });
          console.log(
            `front end: ${report.frontEnd}${report.taskDriven ? "" : " (NOT task-driven fallback)"}; backend ` +
              `${report.backend}, training on ${report.trainingBackend}; ${report.seconds.toFixed(0)} s`,
          );
          console.table(
            report.sessions.map((s) => ({
              session: s.session,
              units: `${s.usableUnits}/${s.units}`,
              "train/test images": `${s.trainImages}/${s.testImages}`,
              metric: s.metric,
              "ensemble median": fmt(s.ensembleMedian),
              "ridge median": fmt(s.ridgeMedian),
            })),
          );
          if (report.modelVersionId !== undefined)
            say(`stored as model version ${report.modelVersionId} in ${flags.db}`);
          if (flags.json) {
            const { writeFileSync } = await import("node:fs");
            writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
            say(`wrote ${flags.json}`);
          }
        } finally {
          process.off("SIGINT", onSignal);
          store.close();
        }
      },
    );

  program
    .command("train")
    .description(
      "retrain the deep ensemble across sessions in a worker thread; checkpoints every cycle (Ctrl-C cancels, " +
        "--resume continues)",
    )
    .option(
      "--session <name|id>",
      "session(s) to train on (repeat or comma-separate; default: every session in the database)",
      collect,
      [],
    )
    .option(
      "--from <modelVersion>",
      "continue from this model version's weights (e.g. after `cortexloop readout`)",
      (v) => Number(v),
    )
    .option("--resume <jobId>", "continue a cancelled or crashed job from its last checkpoint", (v) => Number(v))
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .option("--frontend <kind>", "default | mobilenet | inception | gabor | path/to/model.json", "default")
    .option("--frontend-layer <name>", "layer to cut the front end at")
    .option("--frontend-input <px>", "side of the image the front end sees", (v) => Number(v))
    .option("--members <n>", "ensemble members", (v) => Number(v), 4)
    .option("--cycles <n>", "most training cycles", (v) => Number(v), 8)
    .option("--seed <n>", "seed", (v) => Number(v), 1)
    .option("--backend <name>", "tfjs-node-gpu | tfjs-node | wasm | cpu")
    .action(
      async (flags: {
        session: string[];
        from?: number;
        resume?: number;
        db: string;
        frontend: string;
        frontendLayer?: string;
        frontendInput?: number;
        members: number;
        cycles: number;
        seed: number;
        backend?: string;
      }) => {
        const store = SessionStore.open(flags.db);
        try {
          // The lab model learns from every session the store holds unless told otherwise.
          const sessions = flags.session.length > 0 ? flags.session : trainableSessions(store).map((s) => String(s.id));
          if (flags.resume === undefined && sessions.length === 0)
            throw new Error(
              `${flags.db} holds no session with units and at least 10 images to train on; import or record one first.`,
            );
          if (flags.resume === undefined && flags.session.length === 0)
            say(
              `training on every session in ${flags.db}: ${trainableSessions(store)
                .map((s) => s.name)
                .join(", ")}`,
            );
          const handle = startRetrainJob(
            store,
            flags.resume !== undefined
              ? { resumeJobId: flags.resume }
              : {
                  sessions,
                  frontEnd: { kind: flags.frontend, outputLayer: flags.frontendLayer, inputSize: flags.frontendInput },
                  warmStartFrom: flags.from,
                  members: flags.members,
                  maxCycles: flags.cycles,
                  seed: flags.seed,
                  backend: flags.backend,
                },
            (m) => {
              if (m.type === "log") say(m.line);
              else if (m.type === "progress" && m.validation !== undefined)
                say(`cycle ${m.cycle}/${m.maxCycles}: ${validationText(m.validationLoss, m.validation)}`);
              else if (m.type === "checkpoint") say(`checkpoint: model version ${m.modelVersionId} (cycle ${m.cycle})`);
            },
          );
          say(`job ${handle.jobId} started`);
          const onSignal = (): void => {
            say(
              `\ncancelling job ${handle.jobId}; it keeps its last checkpoint (resume with --resume ${handle.jobId}).`,
            );
            handle.cancel();
          };
          process.on("SIGINT", onSignal);
          const final = await handle.done;
          process.off("SIGINT", onSignal);
          if (final.type === "done")
            say(
              `job ${handle.jobId} done: model version ${final.modelVersionId}, best validation median ` +
                `${fmt(final.bestValidation)}`,
            );
          else if (final.type === "cancelled")
            say(
              `job ${handle.jobId} cancelled; resume with \`cortexloop train --resume ${handle.jobId} --db ` +
                `${flags.db}\``,
            );
          else {
            say(`job ${handle.jobId} failed: ${final.type === "failed" ? final.message : final.type}`);
            process.exitCode = 1;
          }
        } finally {
          store.close();
        }
      },
    );

  program
    .command("select")
    .description("active learning: pick the k images of a bank the ensemble disagrees on most")
    .requiredOption("--model <id>", "model version (deep-ensemble) to score with", (v) => Number(v))
    .requiredOption("--bank <zip|dir>", "candidate images")
    .requiredOption("-o, --out <dir>", "folder for the selected images (image0001.png ...) and selection.json")
    .option("--k <n>", "images to keep", (v) => Number(v), 100)
    .option("--gaudy [sigmaPx]", "score gaudy versions of the bank images, blurred first by sigma px (default 0)")
    .option("--coreset <poolFactor>", "greedy k-centre among the top k×poolFactor (diversity)", (v) => Number(v))
    .option(
      "--power <p>",
      "power sampling: draw k with chance ∝ disagreement^p instead of taking the top k (4 is a usual choice)",
      (v) => Number(v),
    )
    .option("--seed <n>", "seed of --power's draws", (v) => Number(v), 1)
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action(
      async (flags: {
        model: number;
        bank: string;
        out: string;
        k: number;
        gaudy?: string | boolean;
        coreset?: number;
        power?: number;
        seed: number;
        db: string;
      }) => {
        const store = SessionStore.open(flags.db);
        try {
          const sigma = flags.gaudy === undefined ? undefined : flags.gaudy === true ? 0 : Number(flags.gaudy);
          const picked = await selectFromBank(store, {
            modelVersionId: flags.model,
            bank: flags.bank,
            k: flags.k,
            gaudySigmaPx: sigma,
            coresetPoolFactor: flags.coreset,
            power: flags.power,
            seed: flags.seed,
            outDir: flags.out,
            log: say,
          });
          const scores = picked.map((p) => p.score);
          say(
            `wrote ${picked.length} images and selection.json to ${flags.out} (disagreement ` +
              `${fmt(scores.length > 0 ? Math.max(...scores) : Number.NaN)} … ` +
              `${fmt(scores.length > 0 ? Math.min(...scores) : Number.NaN)})`,
          );
        } finally {
          store.close();
        }
      },
    );

  program
    .command("readout")
    .description(
      "fit a new session's readout against a frozen deep ensemble (seconds); stores the ensemble with it as a new " +
        "model version",
    )
    .requiredOption("--model <id>", "model version (deep-ensemble) to keep frozen", (v) => Number(v))
    .requiredOption("--session <name|id>", "the new session")
    .option(
      "--kind <kind>",
      "skip (ridge over the front end's features, the cores' outputs and the other sessions' predicted " +
        "responses) or factorized (the readout the cores were trained with)",
      "skip",
    )
    .option("--readout-l2 <x>", "factorized: L2 penalty of the readout", (v) => Number(v), 1e-2)
    .option(
      "--then-retrain",
      "then retrain the whole ensemble on every session, starting from the new model version (a worker-thread job)",
    )
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action(async (flags: ReadoutFlags) => {
      if (flags.kind !== "skip" && flags.kind !== "factorized")
        throw new Error(`--kind must be skip or factorized, got "${flags.kind}"; nothing was fitted.`);
      const store = SessionStore.open(flags.db);
      try {
        const r = await fitNewSessionReadout(store, {
          modelVersionId: flags.model,
          session: flags.session,
          kind: flags.kind,
          readoutL2: flags.readoutL2,
          log: say,
        });
        console.log(
          `model version ${r.modelVersionId}: model version ${flags.model} with a ${r.kind} readout of ` +
            `${r.sessionName} (` +
            `${r.units} units, ${r.images} images) fitted in ${r.seconds.fit.toFixed(1)} s; validation median ` +
            `${r.metric === "r2er" ? "r²_ER" : "raw R²"} ${fmt(r.validationMedian)}`,
        );
        if (flags.thenRetrain) {
          const version = store.getModelVersion(r.modelVersionId)!;
          const spec = version.config.frontEndSpec as { kind?: string; outputLayer?: string; inputSize?: number };
          const handle = startRetrainJob(
            store,
            {
              sessions: trainableSessions(store).map((s) => String(s.id)),
              frontEnd: spec,
              warmStartFrom: r.modelVersionId,
              members: version.config.members as number,
              width: version.config.width as number,
              blocks: version.config.blocks as number,
            },
            (m) => {
              if (m.type === "log") say(m.line);
              else if (m.type === "progress" && m.validation !== undefined)
                say(`cycle ${m.cycle}/${m.maxCycles}: ${validationText(m.validationLoss, m.validation)}`);
            },
          );
          say(
            `retrain job ${handle.jobId} started from model version ${r.modelVersionId} (Ctrl-C cancels; ` +
              `\`cortexloop train --resume ${handle.jobId}\` continues)`,
          );
          const onSignal = (): void => handle.cancel();
          process.on("SIGINT", onSignal);
          const final = await handle.done;
          process.off("SIGINT", onSignal);
          const detail =
            final.type === "done"
              ? `, model version ${final.modelVersionId}`
              : final.type === "failed"
                ? `: ${final.message}`
                : "";
          say(`retrain job ${handle.jobId}: ${final.type}${detail}`);
          if (final.type === "failed") process.exitCode = 1;
        }
      } finally {
        store.close();
      }
    });

  program
    .command("predict")
    .description(
      "a stored ensemble's predicted responses of one session's units to images: CSV (a row per image) or .npy " +
        "(units × images)",
    )
    .requiredOption("--model <id>", "model version (deep-ensemble)", (v) => Number(v))
    .requiredOption("--images <zip|dir>", "PNG/JPEG images of the size the model was trained on (112×112 by default)")
    .requiredOption("-o, --out <file>", "preds.csv or preds.npy")
    .option("--session <name|id>", "whose readout (units) to predict with; needed when the model has several")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action(async (flags: { model: number; images: string; out: string; session?: string; db: string }) => {
      const store = SessionStore.open(flags.db);
      try {
        const r = await predictImages(store, {
          modelVersionId: flags.model,
          images: flags.images,
          session: flags.session,
          out: flags.out,
          log: say,
        });
        say(
          `wrote ${flags.out}: ${r.images.length} images × ${r.units.length} units of session ${r.sessionName} (` +
            `${
              r.scale === "responses"
                ? "in response units"
                : "z-scored: this model version did not record its " + "response statistics"
            })`,
        );
      } finally {
        store.close();
      }
    });

  program
    .command("models")
    .description("list model versions stored in a database")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((flags: { db: string }) => {
      const store = SessionStore.open(flags.db);
      try {
        const rows = store.listModelVersions();
        if (rows.length === 0) console.log(`no model versions in ${flags.db}`);
        else
          console.table(
            rows.map((r) => ({
              id: r.id,
              name: r.name,
              kind: r.kind,
              created: r.createdAt,
              sessions: r.sessionIds.join(","),
              metrics: JSON.stringify(r.metrics).slice(0, 80),
            })),
          );
      } finally {
        store.close();
      }
    });
}
