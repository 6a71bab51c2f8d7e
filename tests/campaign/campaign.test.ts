import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCampaignCommand, type CampaignFlags, type CampaignSummary } from "../../src/main/cli-campaign.js";
import { loadProtocolFile } from "../../src/main/protocol/index.js";
import { loadEnsemble } from "../../src/models/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-campaign-");
afterAll(() => tmp.cleanup());

function flags(overrides: Partial<CampaignFlags>): CampaignFlags {
  return {
    sessions: "2",
    imagesPerSession: "40",
    testImages: "10",
    testRepeats: "3",
    trainRepeats: "1",
    db: join(tmp.dir, "lab.db"),
    out: join(tmp.dir, "out"),
    neurons: "builtin",
    units: "8",
    selection: "active",
    seed: "3",
    members: "3",
    width: "8",
    cycles: "2",
    steps: "10",
    blocks: "1",
    lr: "3e-3",
    patience: "3",
    stopOn: "loss",
    minCycles: "1",
    readoutL2: "1e-2",
    readouts: "per-session",
    warmStart: true,
    candidates: "80",
    imagesDir: join(tmp.dir, "no-images-here"),
    activeFraction: "0.5",
    gaudyFraction: "0.25",
    rig: "sim",
    frontEnd: "gabor-small",
    frontEndInput: "112",
    stimulusMs: "30",
    interStimulusMs: "30",
    propose: true,
    backend: "wasm",
    ...overrides,
  };
}

describe("cortexloop campaign (simulated rig on loopback, builtin neurons, generated images)", () => {
  it(
    "runs 2 sessions, retrains after each, stores model versions with r²_ER, and writes runnable next-session " +
      "protocols",
    async () => {
      const lines: string[] = [];
      const { results } = await runCampaignCommand(flags({ trainRepeats: "2" }), (l) => lines.push(l));
      const result = results[0]!;
      const store = SessionStore.open(join(tmp.dir, "lab.db"));
      try {
        // Sessions stored and completed, with counts for every presentation.
        const sessions = store.listSessions();
        expect(sessions.map((s) => s.state)).toEqual(["completed", "completed"]);
        expect(sessions.every((s) => s.units === 8)).toBe(true);
        // Test images 3 times, training images twice (--train-repeats 2).
        expect(result.sessions.map((s) => s.presented)).toEqual([10 * 3 + 40 * 2, 10 * 3 + 40 * 2]);
        expect(
          result.sessions.every((s) => s.data.session.trainIdx.every((i) => s.data.repeatsPerImage[i] === 2)),
        ).toBe(true);

        // One model version per retraining, each with a held-out r²_ER and the sessions it saw.
        // Before the second retrain, session 2's readout on the frozen first model (seconds, not minutes).
        const all = store.listModelVersions();
        const quick = all.filter((v) => v.config.readoutFirst === true);
        expect(quick).toHaveLength(1);
        expect(quick[0]!.parentId).toBe(all[0]!.id);
        expect(quick[0]!.metrics.readoutFirst).toBe(true);
        expect(Number.isFinite(quick[0]!.metrics.r2er as number)).toBe(true);
        expect(result.curve[1]!.readoutFirst?.modelVersionId).toBe(quick[0]!.id);
        expect(result.curve[0]!.readoutFirst).toBeUndefined();
        expect(
          lines.some((l) => /after session 2: readout on the frozen model first: held-out r²_ER median -?\d/.test(l)),
        ).toBe(true);
        const versions = all.filter((v) => v.config.readoutFirst !== true);
        expect(versions).toHaveLength(2);
        versions.forEach((v, i) => {
          expect(v.kind).toBe("deep-ensemble");
          expect(v.metrics.r2erMetric).toBe("r2er");
          expect(typeof v.metrics.r2er).toBe("number");
          expect(Number.isFinite(v.metrics.r2er as number)).toBe(true);
          expect(v.sessionIds).toEqual(result.sessions.slice(0, i + 1).map((s) => s.sessionId));
          expect(store.modelCheckpoint(v.id)?.length ?? 0).toBeGreaterThan(100);
        });
        expect(result.curve.map((p) => p.imagesShown)).toEqual([40, 80]);
        // The default path is the lab's (train and readout): interleaved training, then a skip readout for every
        // session on the retrained cores, and the new session's skip readout on the frozen model first.
        expect(versions.map((v) => (v.config.training as { schedule?: string }).schedule)).toEqual([
          "interleaved",
          "interleaved",
        ]);
        expect(versions.map((v) => v.metrics.readout)).toEqual(["skip", "skip"]);
        expect(quick[0]!.metrics.readout).toBe("skip");
        const keysOfSkips = (id: number): string[] => {
          const { ensemble } = loadEnsemble(new Uint8Array(store.modelCheckpoint(id)!), `version ${id}`);
          try {
            return [...ensemble.skipReadouts.keys()].sort();
          } finally {
            ensemble.dispose();
          }
        };
        const keys = result.sessions.map((s) => `session-${s.sessionId}`).sort();
        expect(keysOfSkips(versions[1]!.id)).toEqual(keys);
        expect(keysOfSkips(versions[0]!.id)).toEqual([`session-${result.sessions[0]!.sessionId}`]);
        // The frozen model's own skip readout of session 1 stays beside the new one of session 2.
        expect(keysOfSkips(quick[0]!.id)).toEqual(keys);
        expect(lines.some((l) => /skip readouts of 2 session\(s\) on the retrained cores/.test(l))).toBe(true);
        // The second retraining continued from the first model version (warm start), the first did not.
        expect(versions.map((v) => v.config.warmStart)).toEqual([false, true]);
        expect(lines.some((l) => /training after session 2 \(continuing from the previous model\)/.test(l))).toBe(true);
        expect(lines.some((l) => /after session 2: held-out r²_ER median -?\d/.test(l))).toBe(true);

        // Session 2's protocol is a real protocol file: it validates, names the rig file beside it,
        // holds active-learning + gaudy + normal blocks and the test block, and is what the session ran.
        const file2 = join(tmp.dir, "out", "session-2.json");
        const p2 = loadProtocolFile(file2);
        expect(p2.protocol.blocks.map((b) => b.name)).toEqual(["test", "active-learning", "gaudy", "normal"]);
        expect(
          p2.protocol.blocks.map((b) => (p2.protocol.sources[b.source] as { hashes: string[] }).hashes.length),
        ).toEqual([10, 20, 10, 10]);
        expect(existsSync(join(tmp.dir, "out", p2.protocol.rig!))).toBe(true);
        const s2 = store.findSession(result.sessions[1]!.sessionId)!;
        expect(store.protocolText(s2.protocolId)).toBe(readFileSync(file2, "utf8"));
        const blocks2 = new Set(store.presentations(s2.id).map((p) => p.block));
        expect(blocks2).toEqual(new Set(["test", "active-learning", "gaudy", "normal"]));

        // The designed (not run) session 3 is written and stored too.
        expect(result.proposedProtocolFile).toBe(join(tmp.dir, "out", "session-3.json"));
        const p3 = loadProtocolFile(result.proposedProtocolFile!);
        const stored = store.db.prepare("SELECT name FROM protocols WHERE text = ?").get(p3.text) as
          { name: string } | undefined;
        expect(stored?.name).toMatch(/session 3 \(proposed\)/);

        // The held-out set is in every session with its repeats, and never in training or validation.
        const test = new Set(result.testHashes);
        expect(test.size).toBe(10);
        for (const s of result.sessions) {
          const keys = s.data.imageKeys;
          expect(new Set(s.data.testIdx.map((i) => keys[i]!))).toEqual(test);
          for (const i of [...s.data.session.trainIdx, ...s.data.session.valIdx])
            expect(test.has(keys[i]!)).toBe(false);
          for (const i of s.data.testIdx) expect(s.data.repeatsPerImage[i]).toBe(3);
          const shownTest = store.presentations(s.sessionId).filter((p) => test.has(p.stimulusSha256));
          expect(shownTest.every((p) => p.block === "test")).toBe(true);
        }
        // Active-learning picks are new images: none was shown before.
        const before = new Set(store.presentations(result.sessions[0]!.sessionId).map((p) => p.stimulusSha256));
        expect(
          store
            .presentations(s2.id)
            .filter((p) => p.block === "active-learning")
            .some((p) => before.has(p.stimulusSha256)),
        ).toBe(false);
      } finally {
        store.close();
      }
    },
    300_000,
  );

  it("--compare runs active and random arms from one shared session 1 and prints both curves", async () => {
    const lines: string[] = [];
    const db = join(tmp.dir, "compare.db");
    const out = join(tmp.dir, "compare");
    const { results } = await runCampaignCommand(
      flags({
        db,
        out,
        compare: true,
        rig: "fake",
        propose: false,
        imagesPerSession: "24",
        candidates: "40",
        truthImages: "16",
      }),
      (l) => lines.push(l),
    );
    const [active, random] = results;
    // --truth-images: every retrain is also scored against the simulated neurons' true rates, per unit.
    for (const p of [...active!.curve, ...random!.curve]) {
      expect(p.trueR2PerUnit).toHaveLength(8);
      for (const v of p.trueR2PerUnit!) expect(v).toBeGreaterThanOrEqual(0);
      expect(p.trueR2).toBeGreaterThan(0);
      expect(p.trueR2).toBeLessThanOrEqual(1);
    }
    expect(lines.some((l) => /after session 2: .*against the true rates of 16 unseen pictures \d\.\d{3}/.test(l))).toBe(
      true,
    );
    expect(active!.selection).toBe("active");
    expect(random!.selection).toBe("random");
    // Session 1 and its model are shared; each arm then ran its own session 2.
    expect(active!.sessions[0]!.sessionId).toBe(random!.sessions[0]!.sessionId);
    expect(active!.curve[0]).toEqual(random!.curve[0]);
    expect(active!.sessions[1]!.sessionId).not.toBe(random!.sessions[1]!.sessionId);
    expect(active!.curve.map((p) => p.imagesShown)).toEqual(random!.curve.map((p) => p.imagesShown));
    const pa = loadProtocolFile(join(out, "active", "session-2.json"));
    const pr = loadProtocolFile(join(out, "random", "session-2.json"));
    expect(pa.protocol.blocks.map((b) => b.name)).toEqual(["test", "active-learning", "gaudy", "normal"]);
    expect(pr.protocol.blocks.map((b) => b.name)).toEqual(["test", "random", "gaudy", "normal"]);
    // Same test, gaudy and normal images in both arms: only the selected block differs.
    for (const name of ["test", "gaudy", "normal"])
      expect(pr.protocol.sources[name]).toEqual(pa.protocol.sources[name]);
    const store = SessionStore.open(db);
    try {
      expect(store.listSessions()).toHaveLength(3);
      // Three retrains (session 1 shared) and each arm's readout of session 2 on its frozen model.
      expect(store.listModelVersions().filter((v) => v.config.readoutFirst !== true)).toHaveLength(3);
      expect(store.listModelVersions().filter((v) => v.config.readoutFirst === true)).toHaveLength(2);
    } finally {
      store.close();
    }
    const header = lines.findIndex((l) => l.startsWith("session  images(active)"));
    expect(header).toBeGreaterThan(0);
    // Columns: session, images, r2er, session 1's readout (active), then the same for random.
    const num = "-?\\d\\.\\d{3}";
    const row = (session: number): string[] => lines[header + session]!.trim().split(/\s+/);
    expect(lines[header + 2]).toMatch(new RegExp(`^\\s+2\\s+48\\s+${num}\\s+${num}\\s+48\\s+${num}\\s+${num}$`));
    // Session 1 is shared: both arms' r2er and both s1 columns are the same number.
    const first = row(1);
    expect(first).toHaveLength(7);
    expect(new Set([first[2], first[3], first[5], first[6]]).size).toBe(1);
    // Below the table: session 2's unit-by-unit difference, recomputed here from both curves.
    const a2 = active!.curve[1]!.r2erPerUnit;
    const r2 = random!.curve[1]!.r2erPerUnit;
    expect(a2).toHaveLength(8);
    const d = a2.map((v, i) => v - r2[i]!).filter(Number.isFinite);
    const mean = d.reduce((s, x) => s + x, 0) / d.length;
    const se = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (d.length - 1) / d.length);
    const line = lines.find((l) => l.startsWith("session 2: mean "));
    expect(line).toBe(
      `session 2: mean ${mean >= 0 ? "+" : ""}${mean.toFixed(3)} ± ${se.toFixed(3)} (standard error over ` +
        `${d.length} units), active better for ${d.filter((x) => x > 0).length} of ${d.length}`,
    );
    expect(lines[lines.indexOf(line!) - 1]).toBe("active − random, unit by unit (the same units in both arms):");
    // The same figures for programs (npm run bench -- active): both arms' curves, NaN written as null.
    const summary = JSON.parse(readFileSync(join(out, "campaign.json"), "utf8")) as CampaignSummary;
    expect(summary).toMatchObject({
      seed: 3,
      units: 8,
      neurons: "builtin",
      imagesPerSession: 24,
      sessions: 2,
      activeRule: "top-k",
    });
    expect(summary.results.map((r) => r.selection)).toEqual(["active", "random"]);
    const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
    expect(summary.results[0]!.curve).toEqual(asJson(active!.curve));
    expect(summary.results[1]!.curve).toEqual(asJson(random!.curve));
    expect(summary.results[1]!.turnarounds).toEqual(asJson(random!.turnarounds));
  }, 300_000);
  it(
    "--readouts pooled fits one readout on every session's images and pools the test images' repeats over " +
      "sessions",
    async () => {
      const lines: string[] = [];
      const db = join(tmp.dir, "pooled.db");
      const { results } = await runCampaignCommand(
        flags({
          db,
          out: join(tmp.dir, "pooled"),
          rig: "fake",
          propose: false,
          readouts: "pooled",
          imagesPerSession: "24",
          candidates: "40",
        }),
        (l) => lines.push(l),
      );
      const result = results[0]!;
      expect(result.curve.map((p) => p.imagesShown)).toEqual([24, 48]);
      // No per-session readout to report.
      expect(result.curve.every((p) => p.r2erPerSession.length === 0)).toBe(true);
      const store = SessionStore.open(db);
      try {
        const versions = store.listModelVersions();
        expect(versions.map((v) => v.metrics.readouts)).toEqual(["pooled", "pooled"]);
        // r²_ER after session 2 is scored on both sessions' test repeats.
        expect(versions.map((v) => v.metrics.testRepeats)).toEqual([3, 6]);
        expect(versions.map((v) => v.metrics.r2erMetric)).toEqual(["r2er", "r2er"]);
        const { ensemble } = loadEnsemble(store.modelCheckpoint(versions[1]!.id)!);
        expect([...ensemble.readouts.keys()]).toEqual(["pooled"]);
        ensemble.dispose();
      } finally {
        store.close();
      }
      expect(
        lines.some((l) =>
          new RegExp(
            "after session 2: held-out r²_ER median -?\\d\\.\\d{3} \\(10 test images × 3 repeats × 2 sessions, one " +
              "readout pooled over the sessions, 8 units\\)",
          ).test(l),
        ),
      ).toBe(true);
      await expect(runCampaignCommand(flags({ readouts: "shared" }), () => {})).rejects.toThrow(
        /--readouts must be per-session or pooled, got "shared"; nothing was run/,
      );
      await expect(runCampaignCommand(flags({ schedule: "epochs" }), () => {})).rejects.toThrow(
        /--schedule must be "interleaved" or "visits", got "epochs"; nothing was run/,
      );
      await expect(runCampaignCommand(flags({ readout: "linear" }), () => {})).rejects.toThrow(
        /--readout must be "skip" or "factorized", got "linear"; nothing was run/,
      );
    },
    300_000,
  );

  it(
    "--power draws the active picks with chance ∝ disagreement^p, different picks from top-k on the same model; " +
      "refuses --power with --coreset",
    async () => {
      const run = async (
        name: string,
        extra: Partial<CampaignFlags>,
      ): Promise<{ lines: string[]; picked: unknown; first: unknown }> => {
        const lines: string[] = [];
        const out = join(tmp.dir, name);
        const { results } = await runCampaignCommand(
          flags({
            db: join(tmp.dir, `${name}.db`),
            out,
            rig: "fake",
            propose: false,
            imagesPerSession: "24",
            candidates: "40",
            ...extra,
          }),
          (l) => lines.push(l),
        );
        const summary = JSON.parse(readFileSync(join(out, "campaign.json"), "utf8")) as CampaignSummary;
        expect(summary.activeRule).toBe(extra.power === undefined ? "top-k" : `power ${extra.power}`);
        return {
          lines,
          picked: loadProtocolFile(join(out, "session-2.json")).protocol.sources["active-learning"],
          first: results[0]!.curve[0],
        };
      };
      const power = await run("power", { power: "2" });
      const topk = await run("topk", {});
      expect(
        power.lines.some((l) => /12 images drawn from 40 candidates with chance ∝ ensemble disagreement\^2/.test(l)),
      ).toBe(true);
      expect(topk.lines.some((l) => /12 images of highest ensemble disagreement among 40 candidates/.test(l))).toBe(
        true,
      );
      // Same seed, same session 1 and first model (its scores are equal): only the rule differs, and 12 draws from 40
      // are not the top 12.
      expect(power.first).toEqual(topk.first);
      expect(power.picked).not.toEqual(topk.picked);
      await expect(runCampaignCommand(flags({ power: "4", coreset: "3" }), () => {})).rejects.toThrow(
        /Choose --coreset or --power, not both; nothing was run/,
      );
      await expect(runCampaignCommand(flags({ power: "-1" }), () => {})).rejects.toThrow(
        /--power must be a number ≥ 0, got "-1"; nothing was run/,
      );
    },
    300_000,
  );
});
