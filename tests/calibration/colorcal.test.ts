/**
 * The ColorCAL MKII driver fed recorded byte sequences ("\n\r" line ends, ">" prompts, split reads): identification,
 * the Minolta-encoded calibration matrix, a measurement's luminance through its second row; timeouts, ER codes and
 * garbled replies are each a clear error.
 */
import { describe, expect, it } from "vitest";
import { ColorCal, minoltaToFloat } from "../../src/main/calibration/colorcal.js";
import { PhotometerError } from "../../src/main/calibration/pr655.js";
import { RecordedTransport, type Recorded } from "./recorded.js";

const hello: Recorded[] = [
  ["IDR", ["OK00,8,1.05,0,", "12345678,0,877\n\r", ">"]],
  ["r01", ["OK00,10630,50347,0\n\r>"]],
  ["r02", ["OK00,0,9800,", "50100\n\r>"]],
  ["r03", ["OK00,0,0,10000\n\r>"]],
];
const options = { port: "/dev/ttyACM-RECORDED", replyTimeoutMs: 50, measureTimeoutMs: 80 };

describe("the ColorCAL MKII driver on recorded replies", () => {
  it("decodes Minolta's integers", () => {
    expect(minoltaToFloat(10630)).toBeCloseTo(1.063, 10);
    expect(minoltaToFloat(50347)).toBeCloseTo(-0.0347, 10);
    expect(minoltaToFloat(0)).toBe(0);
  });

  it("identifies itself and measures the luminance through the matrix's second row", async () => {
    const link = new RecordedTransport([...hello, ["MES", ["OK00,9.5,10.0,", "20.0\n\r>"]]]);
    const cc = await ColorCal.open(link, options);
    expect([cc.model, cc.serial, cc.firmware]).toEqual(["ColorCAL MKII", "12345678", "1.05"]);
    // 0·9.5 + 0.98·10 − 0.01·20
    expect(await cc.measureLuminance()).toBeCloseTo(9.6, 10);
    expect(link.sent).toEqual(["IDR\n", "r01\n", "r02\n", "r03\n", "MES\n"]);
  });

  const failures: { name: string; script: Recorded[]; error: RegExp }[] = [
    {
      name: "a measurement that times out",
      script: [["MES", null]],
      error: /did not answer "MES" within 80 ms; check that it is plugged in/,
    },
    {
      name: "an out-of-range error",
      script: [["MES", ["ER10\n\r>"]]],
      error: /answered "MES" with error ER10 \(measurement out of range/,
    },
    { name: "a garbled reply", script: [["MES", ["\u0000K0,,\n\r>"]]], error: /unreadable reply to "MES"/ },
    {
      name: "a garbled number",
      script: [["MES", ["OK00,9.5,1o.0,20\n\r>"]]],
      error: /unreadable measurement in its reply to "MES": "OK00,9.5,1o.0,20"/,
    },
    { name: "a short reply", script: [["MES", ["OK00,9.5\n\r>"]]], error: /unreadable measurement/ },
  ];
  for (const f of failures) {
    it(`says so for ${f.name}`, async () => {
      const cc = await ColorCal.open(new RecordedTransport([...hello, ...f.script]), options);
      const err = await cc.measureLuminance().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PhotometerError);
      expect((err as Error).message).toMatch(f.error);
      expect((err as Error).message).toContain("/dev/ttyACM-RECORDED");
    });
  }

  it("refuses a garbled calibration row and an instrument that does not identify", async () => {
    const badRow = new RecordedTransport([hello[0]!, ["r01", ["OK00,10630,abc,0\n\r>"]]]);
    await expect(ColorCal.open(badRow, options)).rejects.toThrow(/unreadable calibration row to "r01": "10630,abc,0"/);
    const silent = new RecordedTransport([["IDR", null]]);
    await expect(ColorCal.open(silent, options)).rejects.toThrow(/did not answer "IDR" within 50 ms/);
    const pr = new RecordedTransport([["IDR", ["0000,PR-655\r\n"]]]);
    await expect(ColorCal.open(pr, options)).rejects.toThrow(/unreadable reply to "IDR"/);
  });
});
