import { describe, expect, it } from "vitest";
import { comparisonReport, parseSeeds } from "../../bench/active.js";
import { paired } from "../../src/main/campaign/paired.js";
import type { CampaignSummary } from "../../src/main/cli-campaign.js";
import type { CurvePoint } from "../../src/main/campaign/index.js";

function curve(r2er: number[], perUnit: number[][]): CurvePoint[] {
  return r2er.map((v, i) => ({ session: i + 1, imagesShown: 100 * (i + 1), r2er: v, r2erPerSession: [], r2erPerUnit: perUnit[i]!, modelVersionId: i + 1 }));
}

function summary(seed: number, active: number[], random: number[], activeUnits: number[][], randomUnits: number[][]): CampaignSummary {
  return {
    seed,
    units: activeUnits[0]!.length,
    neurons: "compact",
    imagesPerSession: 100,
    sessions: active.length,
    results: [
      { selection: "active", curve: curve(active, activeUnits), turnarounds: [] },
      { selection: "random", curve: curve(random, randomUnits), turnarounds: [] },
    ],
  };
}

describe("bench active: seeds and paired statistics", () => {
  it("reads seed lists and ranges, and refuses what is not one", () => {
    expect(parseSeeds("1-3,7,2")).toEqual([1, 2, 3, 7]);
    expect(parseSeeds("5")).toEqual([5]);
    expect(() => parseSeeds("3-1")).toThrow(/runs backwards/);
    expect(() => parseSeeds("a")).toThrow(/not a seed/);
  });

  it("gives the mean, standard error, wins and a two-sided sign test of paired differences", () => {
    const p = paired([0.1, -0.05, 0.2, Number.NaN]);
    expect(p.n).toBe(3);
    expect(p.mean).toBeCloseTo(0.25 / 3, 12);
    const m = 0.25 / 3;
    const sd = Math.sqrt(((0.1 - m) ** 2 + (-0.05 - m) ** 2 + (0.2 - m) ** 2) / 2);
    expect(p.se).toBeCloseTo(sd / Math.sqrt(3), 12);
    expect(p.above).toBe(2);
    // 2 of 3: P(X >= 2) = 4/8, two-sided 1.
    expect(p.signP).toBe(1);
    // 8 of 8: 2 × (1/256).
    expect(paired([1, 2, 3, 4, 5, 6, 7, 8].map((x) => x / 100)).signP).toBeCloseTo(2 / 256, 12);
    // 7 of 9 with ties left out: 2 × (1 + 9 + 36) / 512.
    expect(paired([1, 1, 1, 1, 1, 1, 1, -1, -1, 0].map((x) => x / 10)).signP).toBeCloseTo((2 * 46) / 512, 12);
  });

  it("reports both mean curves and the paired difference per session, from campaign.json figures", () => {
    const seeds = [
      summary(1, [0.1, 0.3], [0.1, 0.2], [[0.1, 0.1], [0.3, 0.5]], [[0.1, 0.1], [0.2, 0.2]]),
      summary(2, [0.2, 0.4], [0.2, 0.45], [[0.2, 0.2], [0.4, 0.4]], [[0.2, 0.2], [0.45, 0.35]]),
      summary(3, [0.0, 0.5], [0.0, 0.3], [[0.0, 0.0], [0.5, Number.NaN]], [[0.0, 0.0], [0.3, 0.3]]),
    ];
    // campaign.json writes NaN as null: the report reads it back as a missing unit.
    const fromJson = JSON.parse(JSON.stringify(seeds)) as CampaignSummary[];
    const lines = comparisonReport(fromJson);
    expect(lines[2]).toBe("   1   0.100  0.300   0.100  0.200");
    const s1 = lines.find((l) => l.startsWith("      1"));
    expect(s1).toContain("same session");
    const s2 = lines.find((l) => l.startsWith("      2"))!;
    // Active 0.3, 0.4, 0.5 → 0.400 ± 0.058; random 0.2, 0.45, 0.3 → 0.317 ± 0.073.
    expect(s2).toContain("0.400 ± 0.058");
    expect(s2).toContain("0.317 ± 0.073");
    // Differences +0.1, −0.05, +0.2: mean +0.083, 2 of 3 ahead, sign test 1.
    expect(s2).toContain("+0.083 ± 0.073");
    expect(s2).toMatch(/2 of 3\s+1\.000/);
    // Unit by unit per seed: (0.1 + 0.3) / 2 = 0.2, (−0.05 + 0.05) / 2 = 0, 0.2 (one unit) → +0.133 ± 0.067.
    expect(s2).toMatch(/\+0\.133 ± 0\.067$/);
  });

  it("adds the true-rate figures when every seed's campaign measured them, and only then", () => {
    const withTruth = (seed: number, a: number, r: number): CampaignSummary => {
      const one = summary(seed, [0.1, 0.2], [0.1, 0.2], [[0.1], [0.2]], [[0.1], [0.2]]);
      const [active, random] = one.results;
      active!.curve.forEach((p, i) => Object.assign(p, { trueR2: i === 0 ? 0.05 : a, trueR2PerUnit: [i === 0 ? 0.05 : a] }));
      random!.curve.forEach((p, i) => Object.assign(p, { trueR2: i === 0 ? 0.05 : r, trueR2PerUnit: [i === 0 ? 0.05 : r] }));
      return one;
    };
    const lines = comparisonReport([withTruth(1, 0.3, 0.2), withTruth(2, 0.4, 0.2)]);
    const heading = lines.findIndex((l) => l.startsWith("median squared correlation with the simulated neurons' true rates"));
    expect(heading).toBeGreaterThan(0);
    const s2 = lines.slice(heading).find((l) => l.startsWith("      2"))!;
    expect(s2).toContain("0.350 ± 0.050");
    expect(s2).toContain("+0.150 ± 0.050");
    // One seed without them: the block is left out rather than averaged over the seeds that have it.
    const without = comparisonReport([withTruth(1, 0.3, 0.2), summary(2, [0.1, 0.2], [0.1, 0.2], [[0.1], [0.2]], [[0.1], [0.2]])]);
    expect(without.some((l) => l.includes("true rates"))).toBe(false);
  });

  it("says which seed lacks an arm", () => {
    const one = summary(4, [0.1], [0.1], [[0.1]], [[0.1]]);
    one.results = one.results.slice(0, 1);
    expect(() => comparisonReport([one])).toThrow(/seed 4: .*--compare/);
  });
});
