/**
 * The PR-655 driver fed recorded byte sequences of the instrument's replies (split across reads as a serial port
 * delivers them): a good exchange gives the luminance; a silent instrument, an error code, a garbled line, a wrong
 * device and a photometer that stops answering mid-sweep each give a clear error, and the rig file is left as it was.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Pr655, PhotometerError } from "../../src/main/calibration/pr655.js";
import type { PatchDisplay } from "../../src/main/calibration/procedure.js";
import { calibrateRigFile } from "../../src/main/calibration/rig-file.js";
import { loadRigFile } from "../../src/main/protocol/index.js";
import { tempDir, writeJson } from "../rig/helpers.js";
import { RecordedTransport, type Recorded } from "./recorded.js";

const hello: Recorded[] = [
  ["PHOTO", [" REMOTE", " MODE\r\n"]],
  ["D111", ["0000,PR-6", "55\r\n"]],
  ["D110", ["0000,65512345\r\n"]],
];

function measurement(y: string): Recorded[] {
  return [
    ["M0", ["00", "00\r\n"]],
    ["D3", [`0000,0,${y},0.1978,0.4683\r`, "\n"]],
  ];
}

const options = { port: "/dev/ttyRECORDED", replyTimeoutMs: 50, measureTimeoutMs: 80 };

describe("the PR-655 driver on recorded replies", () => {
  it("opens remote mode, reads model and serial, and a measurement's luminance", async () => {
    const link = new RecordedTransport([...hello, ...measurement("1.2345e+01")]);
    const pr = await Pr655.open(link, options);
    expect([pr.model, pr.serial]).toEqual(["PR-655", "65512345"]);
    expect(await pr.measureLuminance()).toBeCloseTo(12.345, 6);
    await pr.close();
    expect(link.sent).toEqual(["PHOTO\n", "D111\n", "D110\n", "M0\n", "D3\n", "Q"]);
  });

  const failures: { name: string; script: Recorded[]; error: RegExp }[] = [
    {
      name: "a measurement that times out",
      script: [["M0", null]],
      error: /did not answer "M0" within 80 ms; check that it is on/,
    },
    {
      name: "a light-low error code",
      script: [["M0", ["0018\r\n"]]],
      error: /answered "M0" with error 0018 \(low light level/,
    },
    { name: "an overload", script: [["M0", ["0019\r\n"]]], error: /error 0019 \(light level too high/ },
    { name: "an unknown command reply", script: [["M0", ["-0001\r\n"]]], error: /answered "M0" with error -0001/ },
    { name: "a garbled status", script: [["M0", ["\u00ff\u00fe0\u0000\r\n"]]], error: /unreadable reply to "M0"/ },
    {
      name: "a garbled luminance",
      script: [
        ["M0", ["0000\r\n"]],
        ["D3", ["0000,0,1.2#4e+01,0.19,0.46\r\n"]],
      ],
      error: /unreadable luminance in its reply to "D3": "0000,0,1.2#4e\+01/,
    },
    {
      name: "a truncated D3 line",
      script: [
        ["M0", ["0000\r\n"]],
        ["D3", ["0000,0\r\n"]],
      ],
      error: /unreadable luminance/,
    },
    {
      name: "a D3 that never ends its line",
      script: [
        ["M0", ["0000\r\n"]],
        ["D3", ["0000,0,1.0e+01"]],
      ],
      error: /did not answer "D3"/,
    },
  ];
  for (const f of failures) {
    it(`says so for ${f.name}`, async () => {
      const pr = await Pr655.open(new RecordedTransport([...hello, ...f.script]), options);
      const err = await pr.measureLuminance().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PhotometerError);
      expect((err as Error).message).toMatch(f.error);
      expect((err as Error).message).toContain("/dev/ttyRECORDED");
    });
  }

  it("refuses an instrument that is not a PR-655/670, and one that never answers PHOTO", async () => {
    const other = new RecordedTransport([
      ["PHOTO", [" REMOTE MODE\r\n"]],
      ["D111", ["0000,ColorCAL MKII\r\n"]],
      ["D110", ["0000,1\r\n"]],
    ]);
    await expect(Pr655.open(other, options)).rejects.toThrow(
      /says it is "ColorCAL MKII", not a PR-655 or PR-670; check --type/,
    );
    const silent = new RecordedTransport([["PHOTO", null]]);
    await expect(Pr655.open(silent, { ...options, remoteModeTimeoutMs: 30 })).rejects.toThrow(
      /did not answer "PHOTO" within 30 ms/,
    );
  });
});

describe("a calibration that fails writes nothing", () => {
  const dir = tempDir("pr655");
  const rigFile = writeJson(join(dir, "rig.json"), {
    name: "calibrate-me",
    acquisition: { format: "openephys-zmq", host: "127.0.0.1", dataPort: 5556, sampleRate: 30000 },
    eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: 5557 },
    display: { kind: "window", refreshHz: 60 },
  });
  const before = readFileSync(rigFile, "utf8");
  const shown: number[][] = [];
  const display: PatchDisplay = {
    showPatch: async (rgb) => void shown.push(rgb),
    setTables: async () => {},
  };

  /** Replies for the first `n` measurements of a display with gamma 2.2 on every gun, linear through its tables. */
  function sweep(n: number, levels: number): Recorded[] {
    const perGun = Array.from({ length: levels }, (_, i) => Math.round((255 * i) / (levels - 1)));
    const validation = Array.from({ length: 9 }, (_, i) => Math.round((255 * i) / 8));
    const readings = [
      ...[0, 1, 2, 3].flatMap(() => perGun.map((l) => 0.3 + 90 * (l / 255) ** 2.2)),
      ...validation.map((l) => 0.3 + (90 * l) / 255),
    ];
    return readings.slice(0, n).flatMap((y) => measurement(y.toExponential(4)));
  }

  it("stops on a photometer that stops answering mid-sweep, with the rig file unchanged", async () => {
    const pr = await Pr655.open(new RecordedTransport([...hello, ...sweep(7, 5), ["M0", null]]), options);
    await expect(calibrateRigFile(rigFile, { photometer: pr, display, levels: 5 })).rejects.toThrow(
      /did not answer "M0"/,
    );
    expect(shown).toHaveLength(8);
    expect(readFileSync(rigFile, "utf8")).toBe(before);
  });

  it("stops on an error code mid-sweep, with the rig file unchanged", async () => {
    const pr = await Pr655.open(new RecordedTransport([...hello, ...sweep(12, 5), ["M0", ["0010\r\n"]]]), options);
    await expect(calibrateRigFile(rigFile, { photometer: pr, display, levels: 5 })).rejects.toThrow(
      /error 0010 \(weak light signal/,
    );
    expect(readFileSync(rigFile, "utf8")).toBe(before);
  });

  it("writes a complete recorded sweep into the rig file, which still loads", async () => {
    const levels = 5;
    const pr = await Pr655.open(new RecordedTransport([...hello, ...sweep(4 * levels + 9, levels)]), options);
    const outcome = await calibrateRigFile(rigFile, { photometer: pr, display, levels });
    expect(outcome.written).toBe(true);
    const { rig } = loadRigFile(rigFile);
    if (rig.display.kind !== "window") throw new Error("display kind changed");
    const cal = rig.display.calibration!;
    expect(cal.red.gamma).toBeCloseTo(2.2, 2);
    expect(cal.validation!.maxDeviation).toBeLessThan(1e-4);
    expect(cal.photometer).toEqual({ type: "pr655", model: "PR-655", serial: "65512345" });
    expect(cal.lut!.red).toHaveLength(256);
  });
});
