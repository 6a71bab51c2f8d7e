import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCampaignCommand, type CampaignFlags, type CampaignSummary } from "../../src/main/cli-campaign.js";
import { SessionStore } from "../../src/main/store/index.js";
import { listCompactVersions, unitOf } from "../../src/main/compact/versions.js";
import { tempDir } from "../helpers/tmp.js";
import { tinySettings } from "../compact/fixture.js";

const tmp = tempDir("cortexloop-campaign-compact-");
afterAll(() => tmp.cleanup());

const flags: CampaignFlags = {
  sessions: "2",
  imagesPerSession: "24",
  testImages: "8",
  testRepeats: "3",
  trainRepeats: "1",
  db: join(tmp.dir, "lab.db"),
  out: join(tmp.dir, "out"),
  neurons: "builtin",
  units: "3",
  selection: "active",
  seed: "3",
  members: "2",
  width: "8",
  cycles: "2",
  steps: "5",
  blocks: "1",
  lr: "3e-3",
  patience: "3",
  stopOn: "loss",
  minCycles: "1",
  readoutL2: "1e-2",
  readouts: "pooled",
  warmStart: true,
  candidates: "40",
  imagesDir: join(tmp.dir, "no-images-here"),
  activeFraction: "0.5",
  gaudyFraction: "0.25",
  rig: "fake",
  frontEnd: "gabor-small",
  frontEndInput: "112",
  stimulusMs: "30",
  interStimulusMs: "30",
  propose: false,
  backend: "wasm",
  compact: true,
  compactBank: "16",
  compactSettings: { ...tinySettings, steps: 4 },
  compactLaterSteps: "2",
};

describe("campaign with the compact-model step", () => {
  it(
    "distils the recorded units' compact models after each retrain, from that retrain's ensemble, and reports " +
      "them beside the curve",
    async () => {
      const lines: string[] = [];
      const { results } = await runCampaignCommand(flags, (l) => lines.push(l));
      const curve = results[0]!.curve;
      expect(curve).toHaveLength(2);
      const store = SessionStore.open(flags.db);
      try {
        const compact = listCompactVersions(store);
        for (const p of curve) {
          expect(p.compact, `session ${p.session}`).toBeDefined();
          expect(p.compact!.modelVersionIds).toHaveLength(3);
          expect(p.compact!.metric).toBe("r2er");
          expect(p.compact!.filters).toHaveLength(5);
          // Each compact model's teacher is the ensemble of that point of the curve.
          for (const id of p.compact!.modelVersionIds)
            expect(compact.find((v) => v.id === id)?.parentId).toBe(p.modelVersionId);
        }
        expect(
          compact
            .map((v) => unitOf(v)!.name)
            .slice(0, 3)
            .sort(),
        ).toEqual(
          compact
            .map((v) => unitOf(v)!.name)
            .slice(3)
            .sort(),
        );
      } finally {
        store.close();
      }
      // The second distillation continues from the first one's shared model, with its own step count.
      expect(
        lines.some((l) =>
          /compact models of 3 units from model version \d+: .* 2 steps from the previous shared model/.test(l),
        ),
      ).toBe(true);
      expect(
        lines.some((l) =>
          new RegExp(
            "after session 2: compact models: median R² with the ensemble -?\\d\\.\\d{3} .*filters " +
              "\\[\\d+,\\d+,\\d+,\\d+,\\d+\\]",
          ).test(l),
        ),
      ).toBe(true);
      expect(lines.some((l) => /active selection: .*compact models: R² with the ensemble/.test(l))).toBe(true);
      const summary = JSON.parse(readFileSync(join(flags.out, "campaign.json"), "utf8")) as CampaignSummary;
      expect(summary.results[0]!.curve.every((p) => p.compact !== undefined)).toBe(true);
    },
    600_000,
  );

  it("--compact-after last distils only after the last session's retrain and refuses other values", async () => {
    const dir = join(tmp.dir, "last");
    mkdirSync(dir);
    const last = { ...flags, db: join(dir, "lab.db"), out: join(dir, "out"), compactAfter: "last" };
    await expect(runCampaignCommand({ ...last, compactAfter: "first" }, () => {})).rejects.toThrow(
      /--compact-after must be all or last, got "first"; nothing was run/,
    );
    const { results } = await runCampaignCommand(last, () => {});
    const curve = results[0]!.curve;
    expect(curve.map((p) => p.compact === undefined)).toEqual([true, false]);
    const store = SessionStore.open(last.db);
    try {
      const compact = listCompactVersions(store);
      expect(compact).toHaveLength(3);
      expect(compact.every((v) => v.parentId === curve[1]!.modelVersionId)).toBe(true);
    } finally {
      store.close();
    }
  }, 600_000);
});
