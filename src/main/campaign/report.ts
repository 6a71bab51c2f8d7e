// Reporting: a campaign's result, its curves side by side as the command line prints them, and a session's progress.
import { performance } from "node:perf_hooks";
import { pairedDifference } from "./paired.js";
import type { ArmState, CampaignResult, CurvePoint } from "./types.js";

export function secondsSince(t0: number): number {
  return (performance.now() - t0) / 1000;
}

export function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : "NaN";
}

/** A session's progress callback that says how far it is at each quarter (25, 50, 75 and 100 %), once each. */
export function everyQuarter(say: (shown: number, all: number) => void): (shown: number, all: number) => void {
  let lastQuarter = 0;
  return (shown, all) => {
    const q = Math.floor((shown / all) * 4);
    if (q > lastQuarter) {
      lastQuarter = q;
      say(shown, all);
    }
  };
}

/** What an arm ran, measured and proposed. */
export function campaignResult(arm: ArmState, testHashes: string[], proposedProtocolFile?: string): CampaignResult {
  return {
    selection: arm.selection,
    sessions: arm.sessions,
    curve: arm.curve,
    turnarounds: arm.turnarounds,
    testHashes,
    proposedProtocolFile,
    modelVersionIds: arm.modelVersionIds,
  };
}

/** Both curves side by side: median held-out r²_ER against training images shown. */
export function formatCurves(active: CurvePoint[], random: CurvePoint[]): string {
  // s1(...): session 1's test images through session 1's readout. Session 1 is the same data in both
  // arms, so this column moves only with the cores that each arm's later images trained.
  const lines = ["session  images(active)  r2er(active)  s1(active)  images(random)  r2er(random)  s1(random)"];
  const n = Math.max(active.length, random.length);
  const cell = (p: CurvePoint | undefined, v: (p: CurvePoint) => number | undefined, width: number): string => {
    const value = p === undefined ? undefined : v(p);
    // "-": no per-session readout (pooled readouts).
    return (p === undefined ? "" : value === undefined ? "-" : fmt(value)).padStart(width);
  };
  for (let i = 0; i < n; i++) {
    const a = active[i];
    const r = random[i];
    lines.push(
      `${String(a?.session ?? r?.session ?? i + 1).padStart(7)}  ${String(a?.imagesShown ?? "").padStart(14)}  ` +
        `${cell(a, (p) => p.r2er, 12)}  ${cell(a, (p) => p.r2erPerSession[0], 10)}  ` +
        `${String(r?.imagesShown ?? "").padStart(14)}  ${cell(r, (p) => p.r2er, 12)}  ` +
        `${cell(r, (p) => p.r2erPerSession[0], 10)}`,
    );
  }
  // The arms record the same units, so unit-by-unit differences are paired: their mean and standard
  // error say more than the difference of two medians over a handful of units.
  const paired = active.slice(1).flatMap((a, i) => {
    const r = random[i + 1];
    if (r === undefined || r.session !== a.session) return [];
    const d = pairedDifference(a.r2erPerUnit, r.r2erPerUnit);
    if (d.n === 0) return [];
    const sign = (x: number): string => `${x >= 0 ? "+" : ""}${fmt(x)}`;
    return [
      `session ${a.session}: mean ${sign(d.mean)} ± ${d.n > 1 ? fmt(d.se) : "-"} (standard error over ${d.n} ` +
        `units), active better for ${d.above} of ${d.n}`,
    ];
  });
  if (paired.length > 0) lines.push("", "active − random, unit by unit (the same units in both arms):", ...paired);
  return lines.join("\n");
}
