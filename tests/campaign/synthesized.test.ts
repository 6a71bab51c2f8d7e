import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCampaignCommand, type CampaignFlags } from "../../src/main/cli-campaign.js";
import { SessionStore } from "../../src/main/store/index.js";
import { tempDir } from "../helpers/tmp.js";
import { tinySettings } from "../compact/fixture.js";

const tmp = tempDir("cortexloop-campaign-synthesized-");
afterAll(() => tmp.cleanup());

const flags: CampaignFlags = {
  sessions: "2",
  imagesPerSession: "16",
  testImages: "6",
  testRepeats: "2",
  trainRepeats: "1",
  db: join(tmp.dir, "lab.db"),
  out: join(tmp.dir, "out"),
  neurons: "builtin",
  units: "3",
  selection: "active",
  seed: "5",
  members: "2",
  width: "8",
  cycles: "1",
  steps: "3",
  blocks: "1",
  lr: "3e-3",
  patience: "3",
  stopOn: "loss",
  minCycles: "1",
  readoutL2: "1e-2",
  readouts: "pooled",
  warmStart: true,
  candidates: "24",
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
  compactBank: "8",
  compactSettings: { ...tinySettings, steps: 2 },
  compactLaterSteps: "1",
  synthesizedSettings: { restarts: 1, steps: 2, evalEvery: 1 },
};

function findFile(dir: string, name: string): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const hit = findFile(p, name);
      if (hit !== undefined) return hit;
    } else if (e.name === name) return p;
  }
  return undefined;
}

interface Row {
  sha: string;
  unit: string;
  kind: string;
  predicted: number;
  source: string;
  modelVersionId: number;
}

describe("campaign with maximizing synthesized images", () => {
  it(
    "designs the second session with one maximizing synthesized image per unit through its compact model, its " +
      "provenance stored as a causal design of that protocol",
    async () => {
      const lines: string[] = [];
      const { results } = await runCampaignCommand(flags, (l) => lines.push(l));
      const first = results[0]!.curve[0]!;
      const compactIds = first.compact!.modelVersionIds;
      expect(compactIds).toHaveLength(3);
      const file = findFile(flags.out, "session-2.json");
      expect(file).toBeDefined();
      const text = readFileSync(file!, "utf8");
      const protocol = JSON.parse(text) as {
        description: string;
        sources: Record<string, { hashes: string[] }>;
        blocks: { name: string; source: string }[];
      };
      const block = protocol.blocks.find((b) => b.name === "maximizing-synthesized");
      expect(block).toBeDefined();
      const hashes = protocol.sources[block!.source]!.hashes;
      expect(hashes).toHaveLength(3);
      expect(protocol.description).toMatch(/3 maximizing synthesized images \(1 per unit, through 3 compact models\)/);
      const store = SessionStore.open(flags.db);
      try {
        const rows = store.db
          .prepare(
            "SELECT stimulus_sha256 AS sha, unit, kind, predicted, model_source AS source, model_version_id AS " +
              "modelVersionId FROM causal_images ORDER BY unit",
          )
          .all() as Row[];
        expect(rows.map((r) => r.sha).sort()).toEqual([...hashes].sort());
        expect(new Set(rows.map((r) => r.unit)).size).toBe(3);
        for (const r of rows) {
          expect(r.kind).toBe("maximizing-synthesized");
          expect(r.source).toBe("compact");
          expect(compactIds).toContain(r.modelVersionId);
          expect(Number.isFinite(r.predicted)).toBe(true);
        }
        const design = store.db
          .prepare("SELECT model_version_id AS mv, protocol_sha256 AS p FROM causal_designs")
          .all();
        expect(design).toHaveLength(1);
        // The session shown is the one designed: its presentations are of the synthesized images too.
        const shown = store.db
          .prepare(
            "SELECT COUNT(DISTINCT stimulus_sha256) AS n FROM presentations WHERE stimulus_sha256 IN " +
              `(${hashes.map(() => "?").join(", ")})`,
          )
          .get(...hashes) as { n: number };
        expect(shown.n).toBe(3);
      } finally {
        store.close();
      }
      expect(lines.some((l) => /3 maximizing synthesized images through 3 compact models in \d+\.\d s/.test(l))).toBe(
        true,
      );
    },
    600_000,
  );
});
