// `npm run bench -- readout [options]`: how long a new session's readout takes against a frozen,
// pretrained lab model (the cores stay as they are): front-end features of the session's images,
// then the readout fit (the skip readout by default, a ridge; --kind factorized: early stopping), as
// `cortexloop readout` does. Target (issue): 1,200 images × 60 units in ≤ 60 s on 2 cores. The
// pretrained ensemble is the leave-one-session-out one of `npm run bench -- heldout` for that session
// when it has been run (same bench folder), else it is pretrained here first (not timed).
import { join } from "node:path";
import { parseArgs } from "node:util";
import { evaluateHeldOut, heldOutDefaults } from "../src/main/jobs/heldout.js";
import { fitNewSessionReadout } from "../src/main/jobs/readout.js";
import { projectRoot } from "../src/main/paths.js";
import { benchStore, readResults, sharedRecordings } from "./heldout.js";

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      session: { type: "string", default: "210322" },
      "front-end": { type: "string", default: "default" },
      out: { type: "string", default: join(projectRoot, ".cache", "heldout-bench") },
      repeats: { type: "string", default: "3" },
      kind: { type: "string", default: "skip" },
      db: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: npm run bench -- readout [--session 210322] [--front-end default] [--repeats 3] " +
        "[--kind skip|factorized] [--out .cache/heldout-bench] [--db <file>: the heldout bench's --db]",
    );
    return;
  }
  const kind = values.kind;
  if (kind !== "skip" && kind !== "factorized")
    throw new Error(`readout bench: --kind skip or factorized, not ${kind}`);
  const recordings = sharedRecordings();
  if (recordings === undefined) {
    console.log("readout: no shared data folder (../shared or CORTEXLOOP_SHARED); nothing was measured.");
    return;
  }
  const { v4, names } = recordings;
  if (!names.includes(values.session)) throw new Error(`readout bench: no recording ${values.session} in ${v4}`);
  const store = await benchStore(values.out, values.db, names, v4);
  try {
    let modelVersionId = readResults(values.out).find(
      (r) => r.session === values.session && r.frontEndSpec === values["front-end"] && r.modelVersionId !== undefined,
    )?.modelVersionId;
    if (modelVersionId === undefined || store.getModelVersion(modelVersionId) === undefined) {
      console.log(`readout: pretraining on every session but ${values.session} first (not timed)`);
      const [kind, outputLayer, input] = values["front-end"].split(":");
      const report = await evaluateHeldOut(store, {
        heldout: values.session,
        frontEnd: { kind, outputLayer, inputSize: input === undefined ? undefined : Number(input) },
        models: ["ensemble"],
        save: true,
        log: (l) => console.log(`  ${l}`),
      });
      modelVersionId = report.modelVersionId!;
    }
    const version = store.getModelVersion(modelVersionId)!;
    console.log(
      `readout: model version ${modelVersionId} (${version.name}; ` +
        `${String(version.config.members ?? heldOutDefaults.members)} members), session ${values.session}`,
    );
    const rows: { features: number; fit: number; steps: number; median: number }[] = [];
    for (let r = 0; r < Number(values.repeats); r++) {
      const t0 = performance.now();
      const fit = await fitNewSessionReadout(store, { modelVersionId, session: values.session, seed: r + 1, kind });
      const total = (performance.now() - t0) / 1000;
      rows.push({
        features: fit.seconds.features,
        fit: fit.seconds.fit,
        steps: fit.steps,
        median: fit.validationMedian,
      });
      console.log(
        `run ${r + 1}: ${fit.images} images × ${fit.units} units: features ${fit.seconds.features.toFixed(1)} s, ` +
          `${kind} readout fit ${fit.seconds.fit.toFixed(1)} s ` +
          `(${kind === "skip" ? "ridge" : `${fit.steps} steps`}), ${total.toFixed(1)} s in all; ` +
          `validation median raw R² ${fit.validationMedian.toFixed(3)}`,
      );
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `median over ${rows.length} runs: features ${med(rows.map((r) => r.features)).toFixed(1)} s (the first run ` +
        `computes them, later runs read the feature cache), readout fit ${med(rows.map((r) => r.fit)).toFixed(1)} s`,
    );
  } finally {
    store.close();
  }
}
