// The causal test end to end on the simulated rig (`npx tsx scripts/causal-sim.ts [units] [bank zip]`):
// the published compact models of ../shared/data/v4 are the rig's neurons (its seeded choice) and,
// imported into a fresh lab database, the models the session is designed from; the session runs
// against `cortexloop sim-rig`'s network rig, then `analyze causal` prints the table.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { main } from "../src/main/cli.js";
import { simRigOptionsFrom } from "../src/main/cli-sim.js";
import { importCompactModels } from "../src/main/compact/interchange.js";
import { builtinProtocolsDir, sharedDir } from "../src/main/paths.js";
import { loadRigFile } from "../src/main/protocol/index.js";
import { simRigPorts } from "../src/main/rig/index.js";
import { SimRig } from "../src/main/sim/sim-rig.js";
import { SessionStore } from "../src/main/store/index.js";
import { Random } from "../src/stimulus/index.js";

const [unitsArg = "4", bankZip = "images_190925.zip"] = process.argv.slice(2);
const units = Number(unitsArg);
const shared = sharedDir();
if (shared === undefined)
  throw new Error("causal-sim: no ../shared (or CORTEXLOOP_SHARED) with data/v4; nothing was run.");
const modelsDir = join(shared, "data", "v4", "compact_models");
const dir = mkdtempSync(join(tmpdir(), "cortexloop-causal-sim-"));
const db = join(dir, "lab.db");
// The same seeded choice as the simulated rig's (src/main/sim/compact-neurons.ts, seed 7).
const files = readdirSync(modelsDir)
  .filter((f) => /^compact_model_.*\.npy$/.test(f))
  .sort();
const chosen = new Random(7).shuffle(files).slice(0, units);
const store = SessionStore.open(db);
const ids = chosen.map((f) => importCompactModels(store, join(modelsDir, f))[0]!.modelVersionId);
store.close();
console.log(`neurons and models: ${chosen.join(", ")} (model versions ${ids.join(",")}); working in ${dir}`);
const protocol = join(dir, "causal.json");
const design = [
  ...["design", "causal", "--model", ids.join(","), "--bank", join(shared, "data", "v4", "images", bankZip)],
  ...["-o", protocol, "--db", db, "--restarts", "2", "--steps", "100", "--normal", "5", "--adversarial", "5"],
  ...["--smooth", "5", "--random-normal", "20", "--repeats", "5", "--no-saliency"],
];
if ((await main(design)) !== 0) process.exit(1);
// Shorter trials than the protocol's default: the simulated rig needs no fixation.
const p = JSON.parse(readFileSync(protocol, "utf8")) as Record<string, unknown>;
writeFileSync(
  protocol,
  JSON.stringify({ ...p, timing: { fixationMs: 0, stimulusMs: 100, interStimulusMs: 60 } }, null, 2),
);
const { rig } = loadRigFile(resolve(builtinProtocolsDir, "rigs", "sim-network.json"));
const { dataPort, eventsPort, displayPort } = await simRigPorts();
const rigFile = join(dir, "sim-network.json");
const simulation = { neurons: "compact", units, seed: 7, compactModels: modelsDir };
writeFileSync(
  rigFile,
  JSON.stringify({
    ...rig,
    acquisition: { ...rig.acquisition, dataPort },
    eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort },
    display: { kind: "virtual", endpoint: `tcp://127.0.0.1:${displayPort}` },
    simulation,
  }),
);
const sim = new SimRig(await simRigOptionsFrom(rigFile, {}, (l) => console.log(l)));
await sim.start();
const rc = await main(["run", protocol, "--rig", rigFile, "--db", db, "--name", "causal-sim"]);
await sim.stop();
if (rc !== 0) process.exit(rc);
process.exit(await main(["analyze", "causal", "causal-sim", "--db", db, "-o", join(dir, "causal.csv")]));
