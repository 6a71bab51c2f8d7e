import type { CountWindow, RigConfig } from "../protocol/schema.js";
import { FakeRig } from "../sim/fake-rig.js";
import { builtinNeurons } from "../sim/neurons.js";
import type { Rig } from "./types.js";

export interface RigFactoryOptions {
  countWindow: CountWindow;
  log?: (line: string) => void;
}

/** The count window a session uses: the protocol's if it sets one, else the rig file's. */
export function sessionCountWindow(rig: RigConfig, protocolWindow?: CountWindow): CountWindow {
  if (protocolWindow !== undefined) return protocolWindow;
  return { startMs: rig.acquisition.countWindowMs[0], endMs: rig.acquisition.countWindowMs[1], bins: rig.acquisition.countBins };
}

/** Builds the rig a rig file describes. */
export async function createRig(config: RigConfig, options: RigFactoryOptions): Promise<Rig> {
  if (config.acquisition.format === "in-process") {
    const sim = config.simulation ?? { neurons: "builtin", units: 16, seed: 7 };
    return new FakeRig({
      neurons: builtinNeurons(sim.units, sim.seed),
      seed: sim.seed,
      sampleRate: config.acquisition.sampleRate,
      countWindowMs: [options.countWindow.startMs, options.countWindow.endMs],
      bins: options.countWindow.bins,
    });
  }
  throw new Error(
    `Rig "${config.name}": acquisition format "${config.acquisition.format}" is not available in this build; nothing was run. Use a rig file with "format": "in-process".`,
  );
}
