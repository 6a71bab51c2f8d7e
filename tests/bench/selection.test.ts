import { describe, expect, it } from "vitest";
import { parseRule, selectionReport } from "../../bench/selection.js";

describe("bench selection: rules and the report", () => {
  it("reads rule names with their factors, and refuses others", () => {
    expect(parseRule("random")).toEqual({ kind: "random", factor: 1 });
    expect(parseRule("active")).toEqual({ kind: "active", factor: 1 });
    expect(parseRule("coreset")).toEqual({ kind: "coreset", factor: 3 });
    expect(parseRule("coreset2.5")).toEqual({ kind: "coreset", factor: 2.5 });
    expect(parseRule("power")).toEqual({ kind: "power", factor: 4 });
    expect(parseRule("power1")).toEqual({ kind: "power", factor: 1 });
    expect(() => parseRule("greedy")).toThrow(/"greedy" is not a rule/);
    expect(() => parseRule("coreset0.5")).toThrow(/at least 1/);
  });

  it("reports each rule against random, paired within the seeds both ran", () => {
    const design = {
      units: 1,
      sessions: 3,
      first: 8,
      picks: 1,
      gaudy: 0,
      normal: 0,
      candidates: 2,
      truth: 2,
      members: 2,
      windowS: 0.1,
    };
    const line = (seed: number, rule: string, medians: number[]) => ({
      design,
      seed,
      rule,
      curve: medians.map((m) => ({ median: m, perUnit: [m] })),
      seconds: 1,
    });
    const lines = [
      line(1, "random", [0.1, 0.2, 0.3]),
      line(1, "active", [0.1, 0.3, 0.5]),
      line(2, "random", [0.2, 0.3, 0.4]),
      line(2, "active", [0.2, 0.2, 0.4]),
      // Seed 3 has no random run: left out of the pairs.
      line(3, "active", [0.9, 0.9, 0.9]),
    ];
    const report = selectionReport(lines, ["random", "active", "power"]);
    expect(report.some((l) => l.startsWith("active against random over 2 seeds"))).toBe(true);
    // No power runs: no power block.
    expect(report.some((l) => l.startsWith("power"))).toBe(false);
    expect(report.find((l) => l.startsWith("      1"))).toMatch(/0\.150 ± 0\.050\s+0\.150 ± 0\.050\s+same session$/);
    const s2 = report.find((l) => l.startsWith("      2"))!;
    // Active 0.3, 0.2 → 0.250 ± 0.050; random 0.2, 0.3 → 0.250 ± 0.050; differences +0.1, −0.1.
    expect(s2).toMatch(/0\.250 ± 0\.050\s+0\.250 ± 0\.050\s+\+0\.000 ± 0\.100\s+1 of 2/);
    // Sessions 2–3 per seed: active 0.4 and 0.3, random 0.25 and 0.35 → differences +0.15, −0.05.
    const avg = report.find((l) => l.startsWith("    2–3"))!;
    expect(avg).toMatch(/0\.350 ± 0\.050\s+0\.300 ± 0\.050\s+\+0\.050 ± 0\.100\s+1 of 2\s+1\.000\s+1\.000$/);
  });
});
