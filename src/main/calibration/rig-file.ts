/** Writes a calibration into a rig file's display block, checked against the schema, by an atomic rename. */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { parseWithSchema } from "../protocol/load.js";
import { rigSchema, type DisplayCalibrationFits } from "../protocol/schema.js";
import { runCalibration, type CalibrationResult, type CalibrationRun } from "./procedure.js";

export function writeRigCalibration(rigFile: string, calibration: DisplayCalibrationFits): void {
  const text = readFileSync(rigFile, "utf8");
  const json = JSON.parse(text) as { display?: { kind?: string; calibration?: unknown } };
  const kind = json.display?.kind;
  if (json.display === undefined || (kind !== "window" && kind !== "virtual")) {
    throw new Error(
      `${rigFile}: display.kind is ${JSON.stringify(kind)}; only a "window" or "virtual" display takes a ` +
        `calibration. Nothing was written.`,
    );
  }
  json.display.calibration = calibration;
  const out = `${JSON.stringify(json, null, 2)}\n`;
  // The result must still be a valid rig file before it replaces the old one.
  parseWithSchema(rigSchema, rigFile, out);
  const tmp = `${rigFile}.calibrating`;
  writeFileSync(tmp, out);
  renameSync(tmp, rigFile);
}

/** What `cortexloop calibrate --photometer` did: the calibration, and whether it went into the rig file. */
export interface RigCalibrationOutcome {
  result: CalibrationResult;
  written: boolean;
}

/**
 * Runs the calibration and writes it into the rig file only when every measurement succeeded and the validation
 * sweep is linear within the tolerance; a photometer error leaves the rig file as it was (the error goes on).
 */
export async function calibrateRigFile(rigFile: string, run: CalibrationRun): Promise<RigCalibrationOutcome> {
  const result = await runCalibration(run);
  if (!result.valid) return { result, written: false };
  writeRigCalibration(rigFile, result.calibration);
  return { result, written: true };
}
