/**
 * Bad input around the stimulus display, each a clear error: a rig file naming a display that does not exist (by id
 * or position), a refresh rate far from the measured one, an uncalibrated or old calibration (a session proceeds only
 * when the experimenter says so), a window on a screen of the wrong size, a lookup table of the wrong length, and an
 * unknown --accept-display word.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  decidePreflight,
  displayPreflight,
  parseAccepted,
  preflightRefusal,
} from "../../src/main/display/preflight.js";
import { pickDisplay, type SystemDisplay } from "../../src/main/display/screens.js";
import { loadRigFile } from "../../src/main/protocol/index.js";
import type { DisplayCalibrationFits, WindowDisplayConfig } from "../../src/main/protocol/schema.js";
import { applyCalibration, identityCalibration } from "../../src/stimulus/index.js";
import { tempDir, writeJson } from "./helpers.js";

const displays: SystemDisplay[] = [
  {
    id: 2,
    label: "stimulus",
    bounds: { x: 1920, y: 0, width: 1920, height: 1080 },
    scaleFactor: 1,
    displayFrequency: 120,
  },
  { id: 1, label: "console", bounds: { x: 0, y: 0, width: 1280, height: 800 }, scaleFactor: 2, displayFrequency: 60 },
];

const refresh60 = { hz: 60.01, periodMs: 1000 / 60.01, intervals: 119, jitterMs: 0.1 };
const fit = { gamma: 2.2, black: 0.3, white: 90, rmse: 0.01 };
const calibration = (date: string): DisplayCalibrationFits => ({ red: fit, green: fit, blue: fit, date });
const now = new Date("2026-06-01T12:00:00Z");

describe("the display the rig file names", () => {
  it("is found by id, by position (left to right), or is the primary one", () => {
    expect(pickDisplay(displays, displays[1]!, { id: 2 }).label).toBe("stimulus");
    expect(pickDisplay(displays, displays[1]!, { index: 1 }).label).toBe("stimulus");
    expect(pickDisplay(displays, displays[1]!, undefined).label).toBe("console");
  });

  it("that does not exist is an error listing the displays there are", () => {
    expect(() => pickDisplay(displays, displays[1]!, { id: 7 })).toThrow(
      new RegExp(
        'names display id 7, which this computer does not have \\(it has index 0: id 1 "console", ' +
          '2560×1600 px at \\(0, 0\\) at 60 Hz; index 1: id 2 "stimulus", 1920×1080 px .* nothing was run\\. Fix ' +
          "display\\.screen",
      ),
    );
    expect(() => pickDisplay(displays, displays[1]!, { index: 2 })).toThrow(
      /names display index 2, but this computer has 2 \(/,
    );
  });
});

describe("pre-flight", () => {
  const window = (extra: Partial<WindowDisplayConfig> = {}): WindowDisplayConfig => ({ kind: "window", ...extra });

  it("passes a calibrated display at the expected refresh", () => {
    expect(
      displayPreflight({ display: window({ calibration: calibration("2026-05-20") }), refresh: refresh60, now }),
    ).toEqual([]);
  });

  it("reports a refresh rate far from the rig file's", () => {
    const problems = displayPreflight({
      display: window({ refreshHz: 120, calibration: calibration("2026-05-20") }),
      refresh: refresh60,
      now,
    });
    expect(problems.map((p) => p.code)).toEqual(["refresh-mismatch"]);
    expect(problems[0]!.message).toMatch(
      new RegExp(
        "refreshes at 60\\.01 Hz \\(measured over 119 frames\\), the rig file expects 120 Hz \\(50\\.0% " +
          "off, more than 2\\.0%\\)",
      ),
    );
    // Within the tolerance: no problem.
    expect(
      displayPreflight({
        display: window({ refreshHz: 60.5, calibration: calibration("2026-05-20") }),
        refresh: refresh60,
        now,
      }),
    ).toEqual([]);
  });

  it("reports an uncalibrated display, an old calibration and one without a date", () => {
    expect(displayPreflight({ display: window(), refresh: refresh60, now })[0]!.message).toMatch(
      /has no calibration.*Run cortexloop calibrate/,
    );
    const old = displayPreflight({
      display: window({ calibration: calibration("2026-01-02") }),
      refresh: refresh60,
      now,
    });
    expect(old[0]!.message).toMatch(/calibrated 150 days ago \(2026-01-02\), more than 30 days/);
    const undated = displayPreflight({
      display: window({ calibration: { red: fit, green: fit, blue: fit } }),
      refresh: refresh60,
      now,
    });
    expect(undated[0]!.code).toBe("calibration-old");
  });

  it("reports a window on a screen of another size", () => {
    const problems = displayPreflight({
      display: window({ calibration: calibration("2026-05-20"), screen: { widthPx: 1920, heightPx: 1080 } }),
      refresh: refresh60,
      screen: { widthPx: 800, heightPx: 600 },
      now,
    });
    expect(problems.map((p) => p.code)).toEqual(["screen-size"]);
  });

  it("never starts on an uncalibrated display unless the experimenter says so", async () => {
    const problems = displayPreflight({ display: window(), refresh: refresh60, now });
    expect(await decidePreflight(problems, new Set())).toMatchObject({ proceed: false, acceptedBy: "refused" });
    expect(await decidePreflight(problems, new Set(), async () => false)).toMatchObject({ proceed: false });
    expect(await decidePreflight(problems, new Set(), async () => true)).toMatchObject({
      proceed: true,
      acceptedBy: "experimenter",
    });
    expect(await decidePreflight(problems, parseAccepted("uncalibrated"))).toMatchObject({
      proceed: true,
      acceptedBy: "flag",
    });
    expect(await decidePreflight(problems, parseAccepted("refresh-mismatch"))).toMatchObject({ proceed: false });
    expect(preflightRefusal(problems)).toMatch(
      /Nothing was run or stored\. Fix these, or start again with --accept-display uncalibrated/,
    );
    expect(() => parseAccepted("uncalibrated,colour")).toThrow(
      /"colour" is not a display check; use uncalibrated, calibration-old/,
    );
  });
});

describe("lookup tables", () => {
  it("of the wrong length are refused when the rig file is read, naming the table", () => {
    const dir = tempDir("lut");
    const lut = Array.from({ length: 256 }, (_, i) => i);
    const file = writeJson(join(dir, "rig.json"), {
      name: "bad-lut",
      acquisition: { format: "openephys-zmq", host: "127.0.0.1", dataPort: 5556, sampleRate: 30000 },
      eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: 5557 },
      display: {
        kind: "window",
        calibration: { red: fit, green: fit, blue: fit, lut: { red: lut, green: lut.slice(1), blue: lut } },
      },
    });
    expect(() => loadRigFile(file)).toThrow(/display\.calibration\.lut\.green/);
  });

  it("of the wrong length are refused when applied", () => {
    const bad = { ...identityCalibration(), blue: new Uint8Array(255) };
    const image = { width: 1, height: 1, pixels0to255: new Uint8Array([1, 2, 3]) };
    expect(() => applyCalibration(image, bad)).toThrow(/the blue lookup table must have 256 entries, has 255/);
  });
});
