// `cortexloop evaluate --heldout S`: the held-out-session evaluation from the command line.
import type { FrontEndSpec } from "../models/frontend/index.js";
import { evaluateHeldOut, heldOutDefaults } from "./jobs/heldout.js";
import { heldOutSummaryLines, writeHeldOutOutput } from "./jobs/heldout-output.js";
import { SessionStore } from "./store/index.js";

export interface HeldOutFlags {
  heldout: string;
  pretrain: string[];
  folds?: number;
  db: string;
  frontEnd: FrontEndSpec;
  members?: number;
  width?: number;
  blocks?: number;
  cycles?: number;
  patience?: number;
  lr?: number;
  readoutL2?: number;
  seed: number;
  backend?: string;
  out?: string;
  featureCache: boolean;
  save?: boolean;
}

export async function runHeldOutEvaluation(flags: HeldOutFlags, say: (line: string) => void): Promise<void> {
  const store = SessionStore.open(flags.db);
  const abort = new AbortController();
  const onSignal = (): void => {
    say("\nstopping: nothing is stored by an evaluation; run it again to finish.");
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  try {
    const report = await evaluateHeldOut(store, {
      heldout: flags.heldout,
      pretrain: flags.pretrain.length > 0 ? flags.pretrain : undefined,
      frontEnd: flags.frontEnd,
      folds: flags.folds ?? heldOutDefaults.folds,
      members: flags.members,
      width: flags.width,
      blocks: flags.blocks,
      maxCycles: flags.cycles,
      patience: flags.patience,
      learningRate: flags.lr,
      readoutL2: flags.readoutL2,
      seed: flags.seed,
      backend: flags.backend,
      featureCache: flags.featureCache,
      save: flags.save,
      log: say,
      signal: abort.signal,
    });
    for (const line of heldOutSummaryLines(report)) console.log(line);
    const s = report.seconds;
    console.log(
      `time: features ${s.features.toFixed(1)} s, pretraining ${s.pretrain.toFixed(1)} s, readouts ` +
        `${(s.ensemble ?? 0).toFixed(1)} s, skip ${(s.skip ?? 0).toFixed(1)} s, ridge ${(s.ridge ?? 0).toFixed(1)} ` +
        `s, factorized ${(s.factorized ?? 0).toFixed(1)} s; ${s.total.toFixed(0)} s in all (backend ` +
        `${report.backend}, training on ${report.trainingBackend})`,
    );
    if (report.modelVersionId !== undefined)
      say(
        `stored the pretrained ensemble as model version ${report.modelVersionId}; fit the held-out session's ` +
          `readout on all its images with \`cortexloop readout --model ${report.modelVersionId} --session ` +
          `${report.heldout.name}\``,
      );
    if (flags.out !== undefined) {
      const files = writeHeldOutOutput(report, flags.out);
      say(`wrote ${files.join(", ")}`);
    }
  } finally {
    process.off("SIGINT", onSignal);
    store.close();
  }
}
