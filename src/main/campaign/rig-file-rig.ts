import { writeFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadRigFile } from "../protocol/load.js";
import type { CountWindow } from "../protocol/schema.js";
import { createRig } from "../rig/factory.js";
import type { HealthOptions } from "../runner/health.js";
import type { OperatorControl, RunnerEventSink } from "../runner/index.js";
import { recordSession, type CampaignRig } from "./rig.js";

export interface RigFileRigOptions {
  /** The rig file: a real rig, or `cortexloop sim-rig --rig <file>` running as its own process. */
  file: string;
  /** The campaign's count window (its protocols carry it too). */
  countWindow: CountWindow;
  /** Where the protocols the campaign writes are (they name `rig.json` beside them). */
  outDir: string;
  health?: Partial<HealthOptions>;
  log?: (line: string) => void;
  /** The live view (campaign --serve): told each session's events, and its pause / resume / stop. */
  live?: { events: RunnerEventSink; control: OperatorControl };
}

/**
 * The rig a campaign records with when a rig file names it: nothing is simulated here, each session
 * connects to the rig as `cortexloop run` does (Open Ephys data, heartbeat, event codes, display) and
 * pauses while the rig is quiet (rig health). The campaign's loop is the same as on the simulated rig.
 */
export function rigFromFile(options: RigFileRigOptions): CampaignRig {
  const { rig: config, text } = loadRigFile(options.file);
  const log = options.log ?? (() => {});
  // The protocols the campaign writes name rig.json beside them: a copy of this rig file, so each can be run again as
  // it is.
  mkdirSync(options.outDir, { recursive: true });
  const file = join(options.outDir, "rig.json");
  if (resolve(file) !== resolve(options.file)) writeFileSync(file, text);
  return {
    config,
    text,
    file,
    async prepare() {
      // A real rig's neurons need nothing ahead of the session.
    },
    async run(store, protocol, sessionName, progress, signal) {
      const rig = await createRig(config, { countWindow: options.countWindow, log });
      try {
        return await recordSession(rig, { config, text, countWindow: options.countWindow, log }, store, protocol, {
          sessionName,
          progress,
          signal,
          // The campaign's own settings first, then the rig file's (rig health thresholds of that lab's rig).
          health: { ...config.health, ...options.health },
          live: options.live,
        });
      } finally {
        await rig.close();
      }
    },
  };
}
