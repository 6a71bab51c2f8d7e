// The campaign's causal-test step (`cortexloop campaign --causal`): after the active-learning
// sessions, design a causal-test session from the newest models (each unit's compact model where the
// campaign distilled one, else the ensemble's prediction for it), record it on the same rig, and
// analyze it: the measured against the predicted %Δr per kind, as `analyze causal` prints it.
import { join } from "node:path";
import type { NamedImage } from "../../stimulus/index.js";
import {
  analyzeCausal,
  causalTable,
  defaultCausalDesignOptions,
  designCausal,
  loadDesignModel,
  storeCausalDesign,
  writeCausalCsv,
  type CausalAnalysis,
  type CausalDesignOptions,
  type DesignModel,
  type UnitScale,
} from "../causal/index.js";
import { parseProtocolText } from "../protocol/load.js";
import type { SessionStore } from "../store/index.js";
import type { BankImage } from "./bank.js";
import type { CampaignResult } from "./campaign.js";
import type { CampaignRig } from "./rig.js";
import { everyQuarter } from "./report.js";

export interface CausalStepOptions {
  store: SessionStore;
  rig: CampaignRig;
  /** Candidate normal images (the campaign's bank): maximizing normal, random normal and adversarial bases. */
  bank: readonly BankImage[];
  /** Where causal.json (the protocol) and causal.csv (the analysis) are written. */
  outDir: string;
  /** Prefix of the protocol's and session's names. */
  name: string;
  stimulusMs: number;
  repeats: number;
  design?: Partial<CausalDesignOptions>;
  log: (line: string) => void;
  signal?: AbortSignal;
}

export interface CausalStepResult {
  modelVersionId: number;
  designId: number;
  protocolFile: string;
  sessionId: number;
  csvFile: string;
  analysis: CausalAnalysis;
  /** The table `analyze causal` prints. */
  table: string[];
}

async function* bankStream(bank: readonly BankImage[]): AsyncGenerator<NamedImage> {
  for (const b of bank) yield { ...b.image, name: b.id };
}

/**
 * The design model of the campaign's newest model version, in spikes when the version predicts z-scores;
 * where every unit designs through its compact model, its synthesis on worker threads.
 */
async function campaignDesignModel(
  o: CausalStepOptions,
  result: CampaignResult,
  modelVersionId: number,
): Promise<DesignModel> {
  const newest = result.sessions[result.sessions.length - 1]!;
  // The newest session's training statistics: what its readout's targets were z-scored with (a pooled readout's
  // were z-scored over every session; the newest session's statistics stand in for them).
  const scaleTo = (dm: DesignModel): UnitScale | undefined => {
    if (dm.scale !== "z-scored" && dm.scale !== "compact") return undefined;
    const stats = newest.data.targetStats;
    const column = new Map(newest.data.unitNames.map((name, k) => [name, k]));
    const missing = dm.units.filter((u) => column.get(u.name) === undefined).map((u) => u.name);
    if (missing.length > 0) {
      o.log(
        `causal test: session ${newest.number} has no statistics for ${missing.join(", ")}; predictions stay ` +
          `z-scored, so the predicted %Δr is not in spikes`,
      );
      return undefined;
    }
    return {
      mean: dm.units.map((u) => stats.mean[column.get(u.name)!]!),
      std: dm.units.map((u) => stats.std[column.get(u.name)!]!),
    };
  };
  return loadDesignModel(o.store, modelVersionId, [], {
    session: String(newest.sessionId),
    log: (line) => o.log(`causal test: ${line}`),
    workers: true,
    scaleTo,
  });
}

/** Designs, records and analyzes the causal-test session after the campaign's last session. */
export async function causalStep(result: CampaignResult, o: CausalStepOptions): Promise<CausalStepResult> {
  const modelVersionId = result.modelVersionIds[result.modelVersionIds.length - 1];
  if (modelVersionId === undefined || result.sessions.length === 0)
    throw new Error("The campaign trained no model, so there is nothing to design a causal test from.");
  const dm = await campaignDesignModel(o, result, modelVersionId);
  const design = { ...defaultCausalDesignOptions, ...o.design };
  const protocolFile = join(o.outDir, "causal.json");
  let stored;
  let images;
  try {
    const viaEnsemble = dm.units.filter((u) => u.source === "ensemble").length;
    o.log(
      `causal test: designing from model version ${modelVersionId} for ${dm.units.length} units ` +
        `(${dm.units.length - viaEnsemble} through their compact models, ${viaEnsemble} through the ensemble's ` +
        `prediction) on a bank of ${o.bank.length} images`,
    );
    const made = await designCausal(dm, bankStream(o.bank), design, (line) => o.log(`causal test: ${line}`));
    images = made.images.map((im) => im.image);
    stored = await storeCausalDesign(o.store, dm, made, {
      modelVersionId,
      out: protocolFile,
      repeats: o.repeats,
      name: `${o.name} causal test`,
      stimulusMs: o.stimulusMs,
      design,
    });
  } finally {
    dm.dispose();
  }
  o.log(
    `causal test: design ${stored.designId}: ${stored.images} images, ${stored.presentations} presentations; ` +
      `wrote ${protocolFile}`,
  );
  const loaded = parseProtocolText(protocolFile, stored.protocolText);
  await o.rig.prepare(images);
  const recorded = await o.rig.run(
    o.store,
    loaded,
    loaded.protocol.name,
    everyQuarter((shown, all) => o.log(`causal test: ${shown}/${all} presented`)),
    o.signal,
  );
  if (recorded.state !== "completed")
    throw new Error(
      `The causal-test session (${recorded.uuid}) ended ${recorded.state} after ${recorded.presented}/` +
        `${recorded.scheduled} presentations; it is kept in ${o.store.file}. Analyze what it recorded with ` +
        `\`cortexloop analyze causal ${recorded.sessionId} --db ${o.store.file}\`.`,
    );
  const analysis = analyzeCausal(o.store, String(recorded.sessionId));
  const csvFile = join(o.outDir, "causal.csv");
  writeCausalCsv(analysis, csvFile);
  return {
    modelVersionId,
    designId: stored.designId,
    protocolFile,
    sessionId: recorded.sessionId,
    csvFile,
    analysis,
    table: causalTable(analysis),
  };
}

/**
 * `campaign --causal`: the causal test after a campaign that ran all its `sessions` (one stopped earlier
 * records nothing more), with the table printed.
 */
export async function campaignCausalTest(
  result: CampaignResult,
  sessions: number,
  o: CausalStepOptions,
): Promise<CausalStepResult | undefined> {
  if (result.sessions.length < sessions) {
    o.log(
      `causal test: not run: the campaign stopped after session ${result.sessions.length} of ${sessions}; design ` +
        `one from its newest model with \`cortexloop design causal\``,
    );
    return undefined;
  }
  const r = await causalStep(result, o);
  o.log("");
  o.log(
    `causal test (session ${r.sessionId}, design ${r.designId}, model version ${r.modelVersionId}): measured ` +
      `against predicted %Δr, mean over units`,
  );
  for (const line of r.table) o.log(line);
  o.log(`wrote ${r.csvFile}; \`cortexloop analyze causal ${r.sessionId} --db ${o.store.file}\` prints it again`);
  return r;
}
