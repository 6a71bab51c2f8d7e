// The model a causal design synthesizes through: per unit its compact model where one is stored
// (distilled from the ensemble for that unit), else the ensemble's prediction for that unit.
import { cpus } from "node:os";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../models/backend.js";
import { compactModelFromArrays, FastCompactModel, type NdArray, type NpyValue } from "../../models/compact/index.js";
import { loadEnsemble } from "../../models/ensemble/index.js";
import { loadFrontEnd, type FrontEndSpec } from "../../models/frontend/index.js";
import {
  compactResponseModel,
  populationResponseModel,
  routedResponseModel,
  type UnitResponseModel,
  type UnitRoute,
} from "../../models/response/index.js";
import type { SessionStore } from "../store/index.js";
import type { RgbImage } from "../../stimulus/index.js";
import { COMPACT_KIND, compactVersion, ENSEMBLE_KINDS, listCompactVersions, unitOf } from "../compact/versions.js";
import type { TargetStats } from "../jobs/predict.js";
import { readoutSessions } from "../compact/sources.js";
import { CausalInputError } from "./errors.js";
import { startBankScorer, type BankScorer } from "./bank-scorer.js";
import { startSynthesisPool, type SynthesisPool } from "./synthesis-pool.js";
import { scaledResponseModel, type UnitScale } from "./scaled-model.js";

export interface DesignUnit {
  /** `electrode#sortedId`, as the campaign and the compact models name units. */
  name: string;
  electrode: string;
  sortedId: number;
  source: "compact" | "ensemble";
  /** The model version its predictions come from. */
  modelVersionId: number;
}

export interface DesignModel {
  model: UnitResponseModel;
  /** Unit i of `model`. */
  units: DesignUnit[];
  imageSize: number;
  /** What the ensemble's predictions are in. */
  scale: "responses" | "z-scored" | "compact";
  /**
   * Optional: every unit's prediction for a batch of bank images, [N × units] row-major, the same
   * values as `model.predictAll` (worker threads: bank-scorer.ts). Maximizing normal uses it. A
   * wrapper that changes `model` (rescales it, say) must drop it.
   */
  scoreBank?: (images: readonly RgbImage[]) => Promise<Float32Array>;
  /**
   * Optional: runs the design's synthesis jobs on worker threads, at once (synthesis-pool.ts), with the
   * same results as `model` gives on the main thread. A wrapper that changes `model` must drop it.
   */
  synthesize?: SynthesisPool["run"];
  /**
   * Optional: the model that ranks the bank for each unit's maximizing normal images (and the smooth−
   * candidates), unit i as `model`'s unit i, where it is not `model`: the ensemble of units that design
   * through compact models distilled from it. The ensemble knows the neurons better than its students
   * (campaign D: r²_ER 0.709 against 0.560) and ranks faster; the images it picks are predicted by `model`.
   */
  rankModel?: UnitResponseModel;
  dispose(): void;
}

function parseUnitRef(ref: string): { electrode: string; sortedId: number } | { column: number } {
  if (/^\d+$/.test(ref)) return { column: Number(ref) };
  const m = /^(.+?)[#/](\d+)$/.exec(ref);
  return m === null ? { electrode: ref, sortedId: 0 } : { electrode: m[1]!, sortedId: Number(m[2]) };
}

function fastFromArrays(store: SessionStore, id: number, arrays = compactVersion(store, id).arrays): FastCompactModel {
  const layers = compactModelFromArrays(arrays, `model version ${id}`);
  const fast = FastCompactModel.fromModel(layers);
  layers.dispose();
  return fast;
}

/**
 * `versionId` is a deep ensemble (its units are those of one session's readout; `session` picks it
 * when there are several) or a compact model (one unit). `unitRefs` are names (e3#1, e3/1, e3) or
 * readout columns; empty means every unit.
 */
/**
 * The unit a compact model stands for: the recorded unit it was distilled for, or for an imported
 * published model its file's name (compact_model_190923_neuron4.npy → 190923_neuron4#0, as the
 * simulated rig names the neurons it makes of those files).
 */
function compactUnitName(row: { id: number; config: Record<string, unknown> } & Parameters<typeof unitOf>[0]): {
  electrode: string;
  sortedId: number;
} {
  const unit = unitOf(row);
  if (unit !== undefined) return { electrode: unit.electrode, sortedId: unit.sortedId };
  const file = typeof row.config.file === "string" ? row.config.file : undefined;
  const published = file === undefined ? null : /^compact_model_(.+)\.npy$/.exec(file);
  return { electrode: published?.[1] ?? `compact${row.id}`, sortedId: 0 };
}

/** Compact models as units, one a version. */
function compactDesignModel(store: SessionStore, ids: readonly number[], arrays: readonly NdArray[][]): DesignModel {
  const fast: FastCompactModel[] = [];
  try {
    const units: DesignUnit[] = ids.map((id, i) => {
      const row = store.getModelVersion(id)!;
      fast.push(fastFromArrays(store, id, arrays[i]));
      const { electrode, sortedId } = compactUnitName(row);
      return { name: `${electrode}#${sortedId}`, electrode, sortedId, source: "compact", modelVersionId: id };
    });
    const size = fast[0]!.inputSize;
    if (fast.some((f) => f.inputSize !== size))
      throw new CausalInputError("model", `The compact models ${ids.join(", ")} take images of different sizes.`);
    return {
      model: routedResponseModel(fast.map((f) => ({ model: compactResponseModel(f), unit: 0 }))),
      units,
      imageSize: size,
      scale: "compact",
      dispose: () => fast.forEach((f) => f.dispose()),
    };
  } catch (err) {
    fast.forEach((f) => f.dispose());
    throw err;
  }
}

/** `dm` with its predictions mapped onto responses unit by unit (its ranking model kept: only its order is used). */
function scaledDesignModel(dm: DesignModel, unitScale: UnitScale): DesignModel {
  const scaled = scaledResponseModel(dm.model, unitScale);
  return {
    ...dm,
    model: scaled.model,
    scale: "responses",
    dispose: () => {
      scaled.dispose();
      dm.dispose();
    },
  };
}

/**
 * `dm` with its bank scored and its synthesis jobs run on worker threads where that pays (wasm, 2 or
 * more cores); as it was, with a line said, where the workers do not start.
 */
export async function withDesignWorkers(
  dm: DesignModel,
  arrays: readonly NpyValue[],
  log: (line: string) => void,
  options: { bankWorkers?: number; synthesisWorkers?: number; scale?: UnitScale } = {},
): Promise<DesignModel> {
  const cores = cpus().length;
  const scale = options.scale === undefined ? {} : { scale: options.scale };
  const bankWorkers = Math.min(options.bankWorkers ?? cores, arrays.length);
  const synthesisWorkers = options.synthesisWorkers ?? cores;
  if (tf.getBackend() !== "wasm") return dm;
  let scorer: BankScorer | undefined;
  let pool: SynthesisPool | undefined;
  try {
    if (bankWorkers >= 2)
      scorer = await startBankScorer(arrays, dm.imageSize, { workers: bankWorkers, backend: "wasm", ...scale });
    if (synthesisWorkers >= 2)
      pool = await startSynthesisPool(arrays, dm.imageSize, { workers: synthesisWorkers, backend: "wasm", ...scale });
  } catch (err) {
    log(`the design stays on the main thread: ${err instanceof Error ? err.message : String(err)}`);
    await scorer?.close();
    return dm;
  }
  const where = [
    ...(scorer === undefined ? [] : [`the bank scored on ${scorer.workers}`]),
    ...(pool === undefined ? [] : [`the synthesis run on ${pool.workers}`]),
  ];
  if (where.length > 0) log(`design: ${where.join(", ")} worker threads (one wasm thread each)`);
  return {
    ...dm,
    ...(scorer === undefined ? {} : { scoreBank: (images: readonly RgbImage[]) => scorer.score(images) }),
    ...(pool === undefined ? {} : { synthesize: pool.run }),
    dispose: () => {
      dm.dispose();
      void scorer?.close();
      void pool?.close();
    },
  };
}

/**
 * `versionIds` is one deep ensemble, or one or more compact models (one unit each). For an
 * ensemble, `unitRefs` are names (e3#1, e3/1, e3) or readout columns; empty means every unit.
 */
export async function loadDesignModel(
  store: SessionStore,
  versionIds: number | readonly number[],
  unitRefs: readonly string[],
  options: {
    session?: string;
    log?: (line: string) => void;
    /**
     * Compact models on wasm: score candidate banks (`scoreBank`, bank-scorer.ts) and run the synthesis
     * (`synthesize`, synthesis-pool.ts) on worker threads, one a core, each with one wasm thread
     * (default false).
     */
    workers?: boolean;
    /** Every unit through the ensemble, even where a compact model distilled from it is stored. */
    ensembleOnly?: boolean;
    /**
     * Units that design through compact models: rank the bank by their ensemble (`rankModel`; default
     * true), or false: by the compact models.
     */
    rankWithEnsemble?: boolean;
    /**
     * Optional: per unit of the loaded model, the map of its predictions onto responses (a campaign's
     * z-scored models: its newest session's statistics), or undefined to keep them as they are. Applied
     * to `model` and to the workers' models alike; the model's scale is then "responses".
     */
    scaleTo?: (dm: DesignModel) => UnitScale | undefined;
  } = {},
): Promise<DesignModel> {
  const log = options.log ?? (() => {});
  /** `dm` scaled where `scaleTo` says so, with its work on worker threads where `workers` (all of it compact). */
  const finishDesignModel = async (
    dm: DesignModel,
    arrays: readonly NpyValue[],
    workers: boolean,
  ): Promise<DesignModel> => {
    const unitScale = options.scaleTo?.(dm);
    const scaled = unitScale === undefined ? dm : scaledDesignModel(dm, unitScale);
    if (!workers) return scaled;
    return withDesignWorkers(scaled, arrays, log, {
      ...(dm.rankModel === undefined ? {} : { bankWorkers: 0 }),
      ...(unitScale === undefined ? {} : { scale: unitScale }),
    });
  };
  const ids = typeof versionIds === "number" ? [versionIds] : [...versionIds];
  if (ids.length === 0) throw new CausalInputError("model", "No model version was given; name one with --model.");
  for (const id of ids) {
    if (store.getModelVersion(id) === undefined)
      throw new CausalInputError(
        "model",
        `Model version ${id} does not exist in ${store.file}; run \`cortexloop models\` to list them.`,
      );
  }
  const versionId = ids[0]!;
  const version = store.getModelVersion(versionId)!;
  await selectBackend({ log });
  if (version.kind === COMPACT_KIND || ids.length > 1) {
    const notCompact = ids.filter((id) => store.getModelVersion(id)!.kind !== COMPACT_KIND);
    if (notCompact.length > 0)
      throw new CausalInputError(
        "model",
        `Several --model versions must all be compact models; ${notCompact.join(", ")} ` +
          `${notCompact.length === 1 ? "is" : "are"} not (see \`cortexloop models\`).`,
      );
    if (unitRefs.length > 0)
      throw new CausalInputError(
        "unit",
        `A compact model is one unit's model; leave out --units with compact models, or give the ensemble ` +
          `they were distilled from.`,
      );
    // Each version's arrays read once, for the main thread's models and the workers'.
    const arrays = ids.map((id) => compactVersion(store, id).arrays);
    return finishDesignModel(compactDesignModel(store, ids, arrays), arrays, options.workers === true);
  }
  if (!ENSEMBLE_KINDS.includes(version.kind))
    throw new CausalInputError(
      "model",
      `Model version ${versionId} is a ${version.kind}; design causal takes a deep ensemble or a compact ` +
        `model (see \`cortexloop models\`).`,
    );
  if (version.checkpoint === null)
    throw new CausalInputError("model", `Model version ${versionId} has no weights stored.`);
  const spec = version.config.frontEndSpec as FrontEndSpec | undefined;
  if (spec === undefined)
    throw new CausalInputError(
      "model",
      `Model version ${versionId} does not record its front end (frontEndSpec); retrain it with this cortexloop.`,
    );
  const imageSize = typeof version.config.imageSize === "number" ? version.config.imageSize : 112;
  const { ensemble, frontEnd: trainedOn } = loadEnsemble(version.checkpoint, `model version ${versionId}`);
  const owned: { dispose(): void }[] = [ensemble];
  const disposeAll = (): void => owned.forEach((o) => o.dispose());
  try {
    const keys = ensemble.sessionKeys();
    // A readout key names its session (train, evaluate: its id; a campaign: session-<id>), or is
    // "pooled" over every session of the version; units are named as its first session names them.
    const sessionsOf = (k: string): number[] => readoutSessions(k, version.sessionIds);
    const ref = options.session;
    const key =
      ref === undefined
        ? keys.length === 1
          ? keys[0]
          : undefined
        : keys.find(
            (k) => k === ref || sessionsOf(k).some((id) => String(id) === ref || store.findSession(id)?.name === ref),
          );
    if (key === undefined) {
      throw new CausalInputError(
        "model",
        `Model version ${versionId} has readouts for ${keys.length} sessions (${keys.join(", ")}); say whose ` +
          `units to design for with --session.`,
      );
    }
    const sessionId = sessionsOf(key)[0];
    const stored = sessionId === undefined ? [] : store.units(sessionId);
    const count = ensemble.unitsOf(key);
    const all = Array.from({ length: count }, (_, c) => {
      const s = stored.length === count ? stored[c]! : { electrode: `unit${c}`, sortedId: 0 };
      return { column: c, electrode: s.electrode, sortedId: s.sortedId, name: `${s.electrode}#${s.sortedId}` };
    });
    const chosen =
      unitRefs.length === 0
        ? all
        : unitRefs.map((ref) => {
            const r = parseUnitRef(ref);
            const hit =
              "column" in r ? all[r.column] : all.find((u) => u.electrode === r.electrode && u.sortedId === r.sortedId);
            if (hit === undefined) {
              throw new CausalInputError(
                "unit",
                `Unit "${ref}" is not one of model version ${versionId}'s ${count} units (${all
                  .slice(0, 8)
                  .map((u) => u.name)
                  .join(", ")}${count > 8 ? ", …" : ""}).`,
              );
            }
            return hit;
          });
    // Newest compact model distilled from this ensemble for each unit.
    const compactOf = new Map<number, number>();
    for (const row of listCompactVersions(store)) {
      const u = unitOf(row);
      if (row.config.teacher === versionId && u !== undefined && u.sessionId === sessionId)
        compactOf.set(u.column, row.id);
    }
    const stats = (version.config.targetStats as Record<string, TargetStats> | undefined)?.[key];
    const inResponses = stats !== undefined && stats.mean.length === count;
    let population: UnitResponseModel | undefined;
    const ensembleModel = async (): Promise<UnitResponseModel> => {
      if (population !== undefined) return population;
      const frontEnd = await loadFrontEnd({ ...spec, log });
      owned.push(frontEnd);
      if (frontEnd.name !== trainedOn)
        throw new CausalInputError(
          "model",
          `Model version ${versionId} was trained on front end ${trainedOn} but ${frontEnd.name} loaded here; ` +
            `install what it used.`,
        );
      const mean = inResponses ? tf.keep(tf.tensor1d(stats.mean)) : undefined;
      const std = inResponses ? tf.keep(tf.tensor1d(stats.std)) : undefined;
      if (mean !== undefined && std !== undefined) owned.push(mean, std);
      population = populationResponseModel(
        (x) => {
          const z = ensemble.predict(key, frontEnd.apply(x));
          return mean !== undefined && std !== undefined ? (tf.add(tf.mul(z, std), mean) as tf.Tensor2D) : z;
        },
        count,
        imageSize,
        "ensemble",
      );
      return population;
    };
    const routes: UnitRoute[] = [];
    const rankRoutes: UnitRoute[] = [];
    const units: DesignUnit[] = [];
    const compactArrays: NdArray[][] = [];
    for (const u of chosen) {
      const compactId = options.ensembleOnly === true ? undefined : compactOf.get(u.column);
      if (compactId !== undefined) {
        const arrays = compactVersion(store, compactId).arrays;
        compactArrays.push(arrays);
        const fast = fastFromArrays(store, compactId, arrays);
        owned.push(fast);
        if (fast.inputSize !== imageSize)
          throw new CausalInputError(
            "model",
            `Compact model ${compactId} takes ${fast.inputSize} px images, its ensemble ${imageSize} px.`,
          );
        routes.push({ model: compactResponseModel(fast), unit: 0 });
        if (options.rankWithEnsemble !== false) rankRoutes.push({ model: await ensembleModel(), unit: u.column });
        units.push({
          name: u.name,
          electrode: u.electrode,
          sortedId: u.sortedId,
          source: "compact",
          modelVersionId: compactId,
        });
      } else {
        routes.push({ model: await ensembleModel(), unit: u.column });
        rankRoutes.push(routes[routes.length - 1]!);
        units.push({
          name: u.name,
          electrode: u.electrode,
          sortedId: u.sortedId,
          source: "ensemble",
          modelVersionId: versionId,
        });
      }
    }
    const someCompact = units.some((u) => u.source === "compact");
    const allCompact = compactArrays.length === units.length;
    const dm: DesignModel = {
      model: routedResponseModel(routes),
      ...(someCompact && rankRoutes.length === routes.length ? { rankModel: routedResponseModel(rankRoutes) } : {}),
      units,
      imageSize,
      scale: allCompact ? "compact" : inResponses ? "responses" : "z-scored",
      dispose: disposeAll,
    };
    // Every unit through its compact model: the synthesis (and, ranked by them, the bank) on workers too.
    return await finishDesignModel(dm, compactArrays, options.workers === true && allCompact);
  } catch (err) {
    disposeAll();
    throw err;
  }
}
