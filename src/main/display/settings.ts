/** The stimulus window's settings from the rig file, with the defaults the schema leaves unset. */
import { calibrationFromFits, identityCalibration, type DisplayCalibration } from "../../stimulus/index.js";
import type { LookupTables, Rgb, StimulusWindowConfig } from "../api/stimulus-contract.js";
import type { DisplayCalibrationFits, WindowDisplayConfig } from "../protocol/schema.js";

export const windowDefaults = {
  refreshHz: 60,
  refreshTolerance: 0.02,
  background: [128, 128, 128] as Rgb,
  fixation: { sizePx: 8, color: [255, 0, 0] as Rgb },
  maxCalibrationAgeDays: 30,
};

/** The lookup tables a calibration applies: its own tables when it has them, else made from its gamma fits. */
export function calibrationTables(calibration: DisplayCalibrationFits | undefined): DisplayCalibration {
  if (calibration === undefined) return identityCalibration();
  const lut = calibration.lut;
  if (lut !== undefined) {
    return { red: Uint8Array.from(lut.red), green: Uint8Array.from(lut.green), blue: Uint8Array.from(lut.blue) };
  }
  return calibrationFromFits(calibration);
}

export function lookupTables(tables: DisplayCalibration): LookupTables {
  return { red: Array.from(tables.red), green: Array.from(tables.green), blue: Array.from(tables.blue) };
}

/** What the stimulus window draws with (its `windowId` is added when it attaches). */
export function windowConfig(display: WindowDisplayConfig): Omit<StimulusWindowConfig, "windowId"> {
  const pd = display.photodiode;
  return {
    background: display.background ?? windowDefaults.background,
    fixation: display.fixation ?? windowDefaults.fixation,
    photodiode:
      pd === undefined
        ? null
        : {
            corner: pd.corner,
            sizePx: pd.sizePx,
            whiteOn: pd.polarity === "white-on",
            litFirstFrameOnly: (pd.lit ?? "first-frame") === "first-frame",
          },
    lut: lookupTables(calibrationTables(display.calibration)),
    imageSizePx: display.imageSizePx ?? null,
    imageCenterPx: display.imageCenterPx ?? [0, 0],
    refreshHzExpected: display.refreshHz ?? windowDefaults.refreshHz,
  };
}
