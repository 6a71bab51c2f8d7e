import { join } from "node:path";
import type { CampaignFlags } from "../../src/main/cli-campaign.js";

/**
 * A small, fast campaign's settings shared by the campaign tests (4 built-in units, 2 sessions, a tiny ensemble on
 * the gabor-small front end, wasm); each test puts its own sizes, rig and options on top.
 */
export function smallCampaignFlags(
  dir: string,
  own: Pick<CampaignFlags, "imagesPerSession" | "testImages" | "rig" | "stimulusMs" | "interStimulusMs"> &
    Partial<CampaignFlags>,
): CampaignFlags {
  return {
    sessions: "2",
    testRepeats: "2",
    trainRepeats: "1",
    db: join(dir, "lab.db"),
    out: join(dir, "out"),
    neurons: "builtin",
    units: "4",
    selection: "active",
    seed: "5",
    members: "2",
    width: "4",
    cycles: "1",
    steps: "5",
    blocks: "1",
    lr: "3e-3",
    patience: "2",
    stopOn: "loss",
    minCycles: "1",
    readoutL2: "1e-2",
    readouts: "per-session",
    warmStart: true,
    candidates: "24",
    imagesDir: join(dir, "no-images-here"),
    activeFraction: "0.5",
    gaudyFraction: "0.25",
    frontEnd: "gabor-small",
    frontEndInput: "112",
    propose: false,
    backend: "wasm",
    ...own,
  };
}
