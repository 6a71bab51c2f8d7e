// cortexloop campaign --causal: after the active-learning sessions, a causal-test session designed from
// the newest model, recorded on the same simulated rig (real sockets) and analyzed; the table is printed.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCampaignCommand, type CampaignFlags } from "../../src/main/cli-campaign.js";
import { summarizeStudies } from "../../src/main/campaign/study-resume.js";
import { SessionStore } from "../../src/main/store/index.js";
import { smallCampaignFlags } from "../helpers/campaign.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-campaign-causal-");
afterAll(() => tmp.cleanup());

const flags: CampaignFlags = smallCampaignFlags(tmp.dir, {
  imagesPerSession: "16",
  testImages: "4",
  rig: "sim",
  stimulusMs: "20",
  interStimulusMs: "20",
  causal: true,
  causalRepeats: "2",
  // The campaign's bank is 60 images (4 test + 16 first-session + 2 × 8 + 24 candidates); 10 never shown join it.
  causalBank: "70",
  causalSettings: {
    restarts: 1,
    steps: 2,
    normalPerUnit: 2,
    adversarialPerUnit: 1,
    smoothPerUnit: 1,
    smoothCandidates: 2,
    smoothPatches: 2,
    patchPx: 28,
    stridePx: 28,
    randomNormal: 4,
    saliency: false,
  },
});

describe("cortexloop campaign --causal", () => {
  it("ends with a causal-test session recorded on the same rig, stored and analyzed; prints the table", async () => {
    const lines: string[] = [];
    const { results, causal } = await runCampaignCommand(flags, (l) => lines.push(l));
    expect(causal).toBeDefined();
    expect(lines).toContainEqual(expect.stringMatching(/; 60 for the campaign, 70 ranked by the causal design$/));
    expect(lines).toContainEqual(expect.stringMatching(/^causal test: designing .* on a bank of 70 images$/));
    const store = SessionStore.open(flags.db);
    try {
      const sessions = store.listSessions();
      // The two campaign sessions, then the causal test: all completed on the simulated rig.
      expect(sessions.map((s) => s.state)).toEqual(["completed", "completed", "completed"]);
      const last = sessions[sessions.length - 1]!;
      expect(last.id).toBe(causal!.sessionId);
      expect(results[0]!.sessions.map((s) => s.sessionId)).not.toContain(last.id);
      // Designed from the newest model version, for the units the campaign recorded.
      expect(causal!.modelVersionId).toBe(results[0]!.modelVersionIds[results[0]!.modelVersionIds.length - 1]);
      const designed = store.db
        .prepare("SELECT DISTINCT unit FROM causal_images WHERE design_id = ? ORDER BY unit")
        .all(causal!.designId) as { unit: string }[];
      const recorded = store.units(last.id).map((u) => `${u.electrode}#${u.sortedId}`);
      expect(designed.map((d) => d.unit)).toEqual([...recorded].sort());
      // Every causal image was shown (twice), and the design's predictions are in spikes, not z-scores.
      const shown = store.presentations(last.id);
      const hashes = new Set(
        (
          store.db
            .prepare("SELECT stimulus_sha256 AS sha FROM causal_images WHERE design_id = ?")
            .all(causal!.designId) as {
            sha: string;
          }[]
        ).map((r) => r.sha),
      );
      expect(new Set(shown.map((p) => p.stimulusSha256))).toEqual(hashes);
      expect(shown).toHaveLength(hashes.size * 2);
      const normal = store.db
        .prepare("SELECT AVG(predicted) AS m FROM causal_images WHERE design_id = ? AND kind = 'random-normal'")
        .get(causal!.designId) as { m: number };
      expect(normal.m).toBeGreaterThan(0);
      // The analysis covers every unit and kind, and the table was printed.
      expect(causal!.analysis.missingUnits).toEqual([]);
      expect(causal!.analysis.summary.map((s) => s.kind)).toContain("maximizing-synthesized");
      expect(causal!.analysis.rows).toHaveLength(4 * causal!.analysis.summary.length);
      const at = lines.findIndex((l) => /^causal test \(session \d+, design \d+, model version \d+\)/.test(l));
      expect(at).toBeGreaterThan(0);
      expect(lines[at + 1]).toMatch(/^kind\s+against\s+units\s+measured %Δr/);
      expect(lines.slice(at).some((l) => /^maximizing-synthesized\s+random normal images\s+4\s/.test(l))).toBe(true);
      // A unit whose bases drew no spike at all has no %Δr against them (r_base = 0), so up to 4 units.
      expect(lines.slice(at).some((l) => /^adversarial-minus\s+their bases\s+[1-4]\s/.test(l))).toBe(true);
      expect(existsSync(join(flags.out, "causal.json"))).toBe(true);
      expect(readFileSync(causal!.csvFile, "utf8")).toMatch(/^unit,model,kind,images,measured/);
    } finally {
      store.close();
    }
  }, 600_000);

  it("resumes a study stopped during its causal test to the causal test, and only then is it finished", async () => {
    const dir = join(tmp.dir, "stopped");
    mkdirSync(dir, { recursive: true });
    const stopped: CampaignFlags = { ...flags, db: join(dir, "lab.db"), out: join(dir, "out") };
    const lines: string[] = [];
    await expect(
      runCampaignCommand(stopped, (l) => {
        lines.push(l);
        if (/^causal test: designing/.test(l)) throw new Error("stopped for the test");
      }),
    ).rejects.toThrow(/stopped for the test/);
    const before = SessionStore.open(stopped.db);
    try {
      expect(before.listSessions()).toHaveLength(2);
      expect(summarizeStudies(before)[0]!.state).toBe("running or stopped by a crash");
    } finally {
      before.close();
    }
    const again: string[] = [];
    const { causal } = await runCampaignCommand({ resume: "1", db: stopped.db } as CampaignFlags, (l) => again.push(l));
    expect(causal).toBeDefined();
    expect(again).toContainEqual(expect.stringMatching(/trained before the stop .* not trained again/));
    const after = SessionStore.open(stopped.db);
    try {
      // No session recorded again: the two of the campaign, then the causal test.
      expect(after.listSessions().map((x) => x.state)).toEqual(["completed", "completed", "completed"]);
      expect(summarizeStudies(after)[0]!.state).toBe("finished");
    } finally {
      after.close();
    }
    await expect(runCampaignCommand({ resume: "1", db: stopped.db } as CampaignFlags, () => {})).rejects.toThrow(
      /finished .* nothing to resume/,
    );
  }, 600_000);
});
