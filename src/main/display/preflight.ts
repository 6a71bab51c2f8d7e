/**
 * Pre-flight of the stimulus display, before a session stores anything: the refresh rate measured against the rig
 * file's, the calibration's presence and age, and the window on the display the rig file names. Each problem is a
 * sentence; the experimenter proceeds or stops, and a session never starts on an uncalibrated display unless they
 * say so.
 */
import type { RefreshMeasurement } from "../../stimulus/index.js";
import type { WindowDisplayConfig } from "../protocol/schema.js";
import { windowDefaults } from "./settings.js";

export const displayProblemCodes = ["uncalibrated", "calibration-old", "refresh-mismatch", "screen-size"] as const;
export type DisplayProblemCode = (typeof displayProblemCodes)[number];

export interface DisplayProblem {
  code: DisplayProblemCode;
  message: string;
}

export interface PreflightInput {
  display: WindowDisplayConfig;
  refresh: RefreshMeasurement;
  /** The attached window's screen, in device pixels. */
  screen?: { widthPx: number; heightPx: number };
  now?: Date;
}

export function displayPreflight(input: PreflightInput): DisplayProblem[] {
  const { display, refresh } = input;
  const problems: DisplayProblem[] = [];
  const expected = display.refreshHz ?? windowDefaults.refreshHz;
  const tolerance = display.refreshTolerance ?? windowDefaults.refreshTolerance;
  const off = Math.abs(refresh.hz - expected) / expected;
  if (off > tolerance) {
    problems.push({
      code: "refresh-mismatch",
      message:
        `the window refreshes at ${refresh.hz.toFixed(2)} Hz (measured over ${refresh.intervals} frames), the rig ` +
        `file expects ${expected} Hz (${(off * 100).toFixed(1)}% off, more than ${(tolerance * 100).toFixed(1)}%): ` +
        `durations would be whole frames of ${refresh.periodMs.toFixed(2)} ms. Set the display's mode or ` +
        "display.refreshHz",
    });
  }
  const cal = display.calibration;
  if (cal === undefined) {
    const message = "the display has no calibration: its levels are not linear in luminance. Run cortexloop calibrate";
    problems.push({ code: "uncalibrated", message });
  } else {
    const maxAge = display.maxCalibrationAgeDays ?? windowDefaults.maxCalibrationAgeDays;
    const date = cal.date === undefined ? undefined : new Date(cal.date);
    if (date === undefined || Number.isNaN(date.getTime())) {
      const message = "the display's calibration has no date, so its age is not known. Run cortexloop calibrate";
      problems.push({ code: "calibration-old", message });
    } else {
      const days = ((input.now ?? new Date()).getTime() - date.getTime()) / 86_400_000;
      if (days > maxAge) {
        problems.push({
          code: "calibration-old",
          message:
            `the display was calibrated ${Math.floor(days)} days ago (${cal.date}), more than ${maxAge} days. ` +
            "Run cortexloop calibrate",
        });
      }
    }
  }
  const want = display.screen;
  if (want !== undefined && input.screen !== undefined) {
    const { widthPx, heightPx } = input.screen;
    const wrongWidth = want.widthPx !== undefined && want.widthPx !== widthPx;
    if (wrongWidth || (want.heightPx !== undefined && want.heightPx !== heightPx)) {
      problems.push({
        code: "screen-size",
        message:
          `the stimulus window is on a ${widthPx}×${heightPx} screen, the rig file names a ` +
          `${want.widthPx ?? "any"}×${want.heightPx ?? "any"} one: it may be on the wrong display. ` +
          "Move it, or fix display.screen",
      });
    }
  }
  return problems;
}

/** `--accept-display` as the command line gives it: problem codes separated by commas, or `all`. */
export function parseAccepted(text: string | undefined): ReadonlySet<DisplayProblemCode> {
  if (text === undefined || text.trim() === "") return new Set();
  const words = text.split(",").map((w) => w.trim());
  if (words.includes("all")) return new Set(displayProblemCodes);
  for (const w of words) {
    if (!(displayProblemCodes as readonly string[]).includes(w)) {
      throw new Error(`--accept-display: "${w}" is not a display check; use ${displayProblemCodes.join(", ")} or all`);
    }
  }
  return new Set(words as DisplayProblemCode[]);
}

export interface PreflightDecision {
  proceed: boolean;
  problems: DisplayProblem[];
  /** How each problem was let through: by the command line's list, or by the experimenter's answer. */
  acceptedBy: "none-needed" | "flag" | "experimenter" | "refused";
}

/**
 * The experimenter's decision: problems named in `accepted` pass; any other asks `ask` (a prompt or a dialog) and,
 * with no one to ask, stops.
 */
export async function decidePreflight(
  problems: DisplayProblem[],
  accepted: ReadonlySet<DisplayProblemCode>,
  ask?: (problems: DisplayProblem[]) => Promise<boolean>,
): Promise<PreflightDecision> {
  if (problems.length === 0) return { proceed: true, problems, acceptedBy: "none-needed" };
  const open = problems.filter((p) => !accepted.has(p.code));
  if (open.length === 0) return { proceed: true, problems, acceptedBy: "flag" };
  if (ask === undefined) return { proceed: false, problems, acceptedBy: "refused" };
  const yes = await ask(open);
  return { proceed: yes, problems, acceptedBy: yes ? "experimenter" : "refused" };
}

/** The refusal a person reads when a session does not start for its display. */
export function preflightRefusal(problems: readonly DisplayProblem[]): string {
  const codes = [...new Set(problems.map((p) => p.code))].join(",");
  return (
    `The display is not ready:\n${problems.map((p) => `  - ${p.code}: ${p.message}.`).join("\n")}\n` +
    `Nothing was run or stored. Fix these, or start again with --accept-display ${codes} ` +
    "to proceed anyway (the session records that you did)."
  );
}
