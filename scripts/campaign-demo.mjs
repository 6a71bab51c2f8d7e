// `npm run campaign`, the README's first command: a short closed-loop campaign on the simulated rig
// (3 sessions of 150 images, 12 units), in cortexloop-campaign.db and campaign-demo/. The compact
// models' shared model trains 200 steps after the first retrain (the full default is 600), so the
// demo takes minutes, not most of an hour, on 2 cores. Extra arguments go to `cortexloop campaign`
// after these.
import { spawnSync } from "node:child_process";

const demo = [
  ["--sessions", "3"],
  ["--images-per-session", "150"],
  ["--test-images", "30"],
  ["--test-repeats", "3"],
  ["--units", "12"],
  ["--candidates", "600"],
  ["--readouts", "pooled"],
  ["--db", "cortexloop-campaign.db"],
  ["--out", "campaign-demo"],
  ["--compact-steps", "200"],
].flat();
const cli = new URL("../src/main/cli.ts", import.meta.url).pathname;
const run = spawnSync(process.execPath, ["--import", "tsx", cli, "campaign", ...demo, ...process.argv.slice(2)], {
  stdio: "inherit",
});
process.exit(run.status ?? 1);
