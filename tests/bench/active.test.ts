import { describe, expect, it } from "vitest";
import { comparisonReport, parseSeeds } from "../../bench/active.js";
import { paired, signedRankP } from "../../src/main/campaign/paired.js";
import type { CampaignSummary } from "../../src/main/cli-campaign.js";
import type { CurvePoint } from "../../src/main/campaign/index.js";

function curve(r2er: number[], perUnit: number[][]): CurvePoint[] {
  return r2er.map((v, i) => ({
    session: i + 1,
    imagesShown: 100 * (i + 1),
    r2er: v,
    r2erPerSession: [],
    r2erPerUnit: perUnit[i]!,
    modelVersionId: i + 1,
  }));
}

function summary(
  seed: number,
  active: number[],
  random: number[],
  activeUnits: number[][],
  randomUnits: number[][],
): CampaignSummary {
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

  it("gives an exact two-sided signed-rank test, with zeros left out and tied sizes sharing their rank", () => {
    // Ranks 1, 2, 3 all positive: W+ = 6 is the largest of 8 equally likely sums, so 2 × 1/8.
    expect(signedRankP([0.1, 0.2, 0.3])).toBeCloseTo(0.25, 12);
    expect(signedRankP([-0.1, -0.2, -0.3])).toBeCloseTo(0.25, 12);
    // Ranks 1..5 with rank 2 negative: W+ = 13; sums ≥ 13 are the complements of {}, {1}, {2}: 3 of 32, two-sided 6/32.
    expect(signedRankP([0.01, -0.02, 0.03, 0.04, 0.05])).toBeCloseTo(6 / 32, 12);
    // The sign test cannot tell these apart (4 of 5 ahead, p 0.375); sizes can. The one behind is the
    // smallest: W+ = 14, sums ≥ 14 are the complements of {} and {1}, two-sided 4/32. The one behind is
    // the largest: W+ = 10, W− = 5, and 10 subsets of 1..5 sum to 5 or less, two-sided 20/32.
    expect(paired([-0.01, 0.02, 0.03, 0.04, 0.05]).signedRankP).toBeCloseTo(4 / 32, 12);
    expect(paired([-0.05, 0.02, 0.03, 0.04, 0.01]).signedRankP).toBeCloseTo(20 / 32, 12);
    expect(paired([-0.05, 0.02, 0.03, 0.04, 0.01]).signP).toBeCloseTo(
      paired([-0.01, 0.02, 0.03, 0.04, 0.05]).signP,
      12,
    );
    // |d| 1, 1, 2 share ranks 1.5, 1.5, 3: W+ = 4.5; the 8 sums are 0, 1.5, 1.5, 3, 3, 4.5, 4.5, 6, so P(≥ 4.5) = 3/8,
    // P(≤ 4.5) = 7/8.
    expect(signedRankP([0.1, -0.1, 0.2])).toBeCloseTo(0.75, 12);
    // Zeros and NaNs are left out: the same as [0.1, 0.2, 0.3]; none left is no evidence.
    expect(signedRankP([0, 0.1, Number.NaN, 0.2, 0.3])).toBeCloseTo(0.25, 12);
    expect(signedRankP([0, 0])).toBe(1);
  });

  it("reports both mean curves and the paired difference per session, from campaign.json figures", () => {
    const seeds = [
      summary(
        1,
        [0.1, 0.3],
        [0.1, 0.2],
        [
          [0.1, 0.1],
          [0.3, 0.5],
        ],
        [
          [0.1, 0.1],
          [0.2, 0.2],
        ],
      ),
      summary(
        2,
        [0.2, 0.4],
        [0.2, 0.45],
        [
          [0.2, 0.2],
          [0.4, 0.4],
        ],
        [
          [0.2, 0.2],
          [0.45, 0.35],
        ],
      ),
      summary(
        3,
        [0.0, 0.5],
        [0.0, 0.3],
        [
          [0.0, 0.0],
          [0.5, Number.NaN],
        ],
        [
          [0.0, 0.0],
          [0.3, 0.3],
        ],
      ),
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
    // Signed ranks: −0.05 is the smallest (rank 1), W+ = 5 of 6; P(≥ 5) = 2/8, two-sided 0.5.
    expect(s2).toMatch(/2 of 3\s+1\.000\s+0\.500\s/);
    // Unit by unit per seed: (0.1 + 0.3) / 2 = 0.2, (−0.05 + 0.05) / 2 = 0, 0.2 (one unit) → +0.133 ± 0.067.
    expect(s2).toMatch(/\+0\.133 ± 0\.067$/);
  });

  it("adds the later sessions averaged per seed (the area between the curves) when there are more than two", () => {
    const seeds = [
      summary(1, [0.1, 0.3, 0.5], [0.1, 0.2, 0.3], [[0.1], [0.3], [0.5]], [[0.1], [0.2], [0.3]]),
      summary(2, [0.2, 0.2, 0.4], [0.2, 0.3, 0.4], [[0.2], [0.2], [0.4]], [[0.2], [0.3], [0.4]]),
    ];
    const lines = comparisonReport(seeds);
    const avg = lines.find((l) => l.startsWith("    2–3"))!;
    // Seed 1: active (0.3 + 0.5) / 2 = 0.4, random 0.25 → +0.15; seed 2: 0.3 and 0.35 → −0.05.
    expect(avg).toContain("0.350 ± 0.050");
    expect(avg).toContain("0.300 ± 0.050");
    expect(avg).toContain("+0.050 ± 0.100");
    expect(avg).toMatch(/1 of 2\s+1\.000\s+1\.000\s+\+0\.050 ± 0\.100$/);
    // Two sessions: no average row (it would only repeat session 2).
    expect(
      comparisonReport(
        seeds.map((x) => ({ ...x, results: x.results.map((r) => ({ ...r, curve: r.curve.slice(0, 2) })) })),
      ).some((l) => l.includes("2–")),
    ).toBe(false);
  });

  it("adds the true-rate figures when every seed's campaign measured them, and only then", () => {
    const withTruth = (seed: number, a: number, r: number): CampaignSummary => {
      const one = summary(seed, [0.1, 0.2], [0.1, 0.2], [[0.1], [0.2]], [[0.1], [0.2]]);
      const [active, random] = one.results;
      active!.curve.forEach((p, i) =>
        Object.assign(p, { trueR2: i === 0 ? 0.05 : a, trueR2PerUnit: [i === 0 ? 0.05 : a] }),
      );
      random!.curve.forEach((p, i) =>
        Object.assign(p, { trueR2: i === 0 ? 0.05 : r, trueR2PerUnit: [i === 0 ? 0.05 : r] }),
      );
      return one;
    };
    const lines = comparisonReport([withTruth(1, 0.3, 0.2), withTruth(2, 0.4, 0.2)]);
    const heading = lines.findIndex((l) =>
      l.startsWith("median squared correlation with the simulated neurons' true rates"),
    );
    expect(heading).toBeGreaterThan(0);
    const s2 = lines.slice(heading).find((l) => l.startsWith("      2"))!;
    expect(s2).toContain("0.350 ± 0.050");
    expect(s2).toContain("+0.150 ± 0.050");
    // One seed without them: the block is left out rather than averaged over the seeds that have it.
    const without = comparisonReport([
      withTruth(1, 0.3, 0.2),
      summary(2, [0.1, 0.2], [0.1, 0.2], [[0.1], [0.2]], [[0.1], [0.2]]),
    ]);
    expect(without.some((l) => l.includes("true rates"))).toBe(false);
  });

  it("says which seed lacks an arm", () => {
    const one = summary(4, [0.1], [0.1], [[0.1]], [[0.1]]);
    one.results = one.results.slice(0, 1);
    expect(() => comparisonReport([one])).toThrow(/seed 4: .*--compare/);
  });
});
