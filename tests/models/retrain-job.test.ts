import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { importRecordedSession } from "../../src/main/import/recorded.js";
import { startRetrainJob } from "../../src/main/jobs/start-retrain.js";
import type { JobMessage } from "../../src/main/jobs/retrain.js";
import { SessionStore } from "../../src/main/store/index.js";
import { encodePng } from "../../src/stimulus/index.js";
import { encodeNumericNpy } from "../../src/models/data/npy-numeric.js";
import { SeededRandom } from "../../src/models/data/random.js";

describe("retraining job in a worker thread", () => {
  it("reports progress, checkpoints each cycle, cancels, and resumes from the last checkpoint", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cl-job-"));
    const rng = new SeededRandom(5);
    const n = 30;
    const values: number[] = [];
    for (let k = 1; k <= n; k++) {
      const px = Uint8Array.from({ length: 32 * 32 * 3 }, () => rng.int(256));
      writeFileSync(
        path.join(dir, `image${String(k).padStart(4, "0")}.png`),
        await encodePng({ width: 32, height: 32, pixels0to255: px }),
      );
    }
    for (let i = 0; i < 2 * n; i++) values.push(rng.next());
    writeFileSync(path.join(dir, "r.npy"), encodeNumericNpy([2, n], values));
    const dbPath = path.join(dir, "lab.db");
    const store = SessionStore.open(dbPath);
    await importRecordedSession(store, { imagesPath: dir, responsesPath: path.join(dir, "r.npy"), sessionName: "syn" });
    const params = {
      sessions: ["syn"],
      frontEnd: { kind: "gabor", inputSize: 32 },
      imageSize: 32,
      members: 2,
      width: 4,
      blocks: 1,
      maxCycles: 6,
      patience: 99,
      backend: "cpu",
    };
    const seen: JobMessage[] = [];
    const handle = startRetrainJob(store, params, (m) => {
      seen.push(m);
      if (m.type === "checkpoint" && m.cycle === 1) handle.cancel();
    });
    const first = await handle.done;
    if (first.type === "failed") console.log(first.message);
    expect(first.type).toBe("cancelled");
    expect(seen.some((m) => m.type === "progress")).toBe(true);
    const checkpoints = seen.filter((m): m is Extract<JobMessage, { type: "checkpoint" }> => m.type === "checkpoint");
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    expect(checkpoints.length).toBeLessThan(6);
    const states = store.jobEvents(handle.jobId).map((e) => e.state);
    expect(states).toContain("checkpoint");
    expect(states[states.length - 1]).toBe("cancelled");

    const logs: string[] = [];
    const resumed = startRetrainJob(store, { resumeJobId: handle.jobId }, (m) => {
      if (m.type === "log") logs.push(m.line);
    });
    const second = await resumed.done;
    expect(second.type).toBe("done");
    expect(logs.join("\n")).toMatch(
      new RegExp(
        `resuming job ${handle.jobId} from model version ${checkpoints[checkpoints.length - 1]!.modelVersionId} ` +
          `after cycle ${checkpoints.length}`,
      ),
    );
    const versions = store.listModelVersions();
    const final = versions[versions.length - 1]!;
    expect(final.kind).toBe("deep-ensemble");
    expect(versions.filter((v) => v.kind === "deep-ensemble-checkpoint").length).toBe(6);
    store.close();
  }, 240_000);
});
