import { describe, expect, it } from "vitest";
import { applyCalibration, fitGamma, identityCalibration, linearizingLut } from "./calibration.js";

function readings(
  gamma: number,
  black: number,
  white: number,
  noise = 0,
): { level0to255: number; luminance: number }[] {
  return [0, 32, 64, 96, 128, 160, 192, 224, 255].map((v, i) => ({
    level0to255: v,
    luminance: black + (white - black) * Math.pow(v / 255, gamma) + (i % 2 === 0 ? noise : -noise),
  }));
}

describe("display calibration", () => {
  it("recovers the gamma of a synthetic display within 0.01", () => {
    const fit = fitGamma(readings(2.2, 0.5, 120));
    expect(fit.gamma).toBeCloseTo(2.2, 2);
    expect(fit.rmse).toBeLessThan(1e-3);
    expect(fitGamma(readings(1.8, 1, 80, 0.3)).gamma).toBeGreaterThan(1.75);
  });

  it("the linearizing table makes luminance linear in the requested level", () => {
    const fit = fitGamma(readings(2.4, 0, 100));
    const lut = linearizingLut(fit);
    expect(lut[0]).toBe(0);
    expect(lut[255]).toBe(255);
    for (const v of [64, 128, 192]) {
      const lum = 100 * Math.pow(lut[v]! / 255, 2.4);
      expect(Math.abs(lum - (100 * v) / 255)).toBeLessThan(1.5);
    }
  });

  it("identity calibration leaves pixels unchanged; tables apply per channel", () => {
    const img = { width: 1, height: 2, pixels0to255: new Uint8Array([0, 128, 255, 10, 20, 30]) };
    expect(Array.from(applyCalibration(img, identityCalibration()).pixels0to255)).toEqual([0, 128, 255, 10, 20, 30]);
    const cal = identityCalibration();
    cal.green = Uint8Array.from({ length: 256 }, () => 7);
    expect(Array.from(applyCalibration(img, cal).pixels0to255)).toEqual([0, 7, 255, 10, 7, 30]);
  });

  it("refuses readings it cannot fit, saying why", () => {
    expect(() => fitGamma([{ level0to255: 0, luminance: 1 }])).toThrow(/at least 3 readings/);
    expect(() => fitGamma(readings(2.2, 50, 50))).toThrow(/must be brighter/);
  });
});
