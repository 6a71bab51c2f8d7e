import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { loadFrontEnd, type FrontEnd, type FrontEndSpec } from "../../models/index.js";
import { builtinNeurons } from "../sim/neurons.js";
import { simNeuronsFrom, type SimNeurons } from "../sim/sim-rig.js";

/** The default place of the published compact models, next to the repository. */
export function defaultCompactModelsDir(cwd = process.cwd()): string {
  return join(cwd, "..", "shared", "data", "v4", "compact_models");
}

/** The seed of a campaign's simulated neurons (the choice of compact models), from the campaign's --seed. */
export function campaignNeuronSeed(seed: number): number {
  return seed + 7;
}

export function hasCompactModels(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => /^compact_model_.*\.npy$/.test(f));
}

export interface CampaignNeurons {
  neurons: SimNeurons;
  kind: "builtin" | "compact";
  description: string;
}

/**
 * The simulated population: "compact" (the published compact models as neurons), "builtin", or
 * "auto" (compact when the models are there and load, else builtin, saying why).
 */
export async function campaignNeurons(
  kind: string,
  units: number,
  seed: number,
  compactDir: string,
  log: (line: string) => void,
): Promise<CampaignNeurons> {
  if (kind !== "auto" && kind !== "compact" && kind !== "builtin")
    throw new Error(`--neurons must be builtin, compact or auto, got "${kind}"; nothing was run.`);
  if (kind === "compact" || (kind === "auto" && hasCompactModels(compactDir))) {
    try {
      const { compactNeurons } = await import("../sim/compact-neurons.js");
      const neurons = await compactNeurons({ dir: compactDir, count: units, seed });
      return {
        neurons,
        kind: "compact",
        description: `${neurons.units.length} compact-model neurons from ${compactDir}`,
      };
    } catch (err) {
      if (kind === "compact") throw err;
      log(
        `neurons: compact models could not be loaded (${err instanceof Error ? err.message : String(err)}); using ` +
          `${units} builtin neurons instead.`,
      );
    }
  }
  return {
    neurons: simNeuronsFrom(builtinNeurons(units, seed)),
    kind: "builtin",
    description: `${units} builtin V4-like neurons (seed ${seed})`,
  };
}

/**
 * The frozen front end. "default": the project's default front end (ImageNet MobileNetV2 when
 * installed, else the full-size Gabor bank), seeing `inputSize` pixels (112: 7×7 features);
 * "gabor-small": the Gabor bank on 56-pixel images, the cheapest (tests).
 */
export async function campaignFrontEnd(
  kind: string,
  log: (line: string) => void,
  inputSize?: number,
): Promise<FrontEnd> {
  return loadFrontEnd({ ...campaignFrontEndSpec(kind, inputSize), log });
}

/**
 * How the campaign's front end is asked for, recorded with each model version so predict, select and the review's
 * predictions can load the same front end again ("gabor-small" has a fixed input size).
 */
export function campaignFrontEndSpec(kind: string, inputSize?: number): FrontEndSpec {
  return kind === "gabor-small" || inputSize === undefined ? { kind } : { kind, inputSize };
}
