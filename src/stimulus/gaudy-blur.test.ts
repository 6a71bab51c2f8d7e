import { describe, expect, it } from "vitest";
import { gaudyBlurred, gaussianBlur } from "./gaudy-blur.js";

describe("gaudyBlurred", () => {
  it("blur keeps a uniform image and spreads an impulse symmetrically", () => {
    const flat = { width: 5, height: 5, pixels0to255: new Uint8Array(75).fill(90) };
    expect(Array.from(gaussianBlur(flat, 1.5).pixels0to255).every((v) => v === 90)).toBe(true);
    const dot = { width: 5, height: 5, pixels0to255: new Uint8Array(75) };
    dot.pixels0to255[(2 * 5 + 2) * 3] = 255;
    const b = gaussianBlur(dot, 1).pixels0to255;
    expect(b[(2 * 5 + 1) * 3]).toBe(b[(2 * 5 + 3) * 3]);
    expect(b[(2 * 5 + 2) * 3]!).toBeLessThan(255);
  });
  it("returns only 0 and 255 per channel", () => {
    const img = { width: 8, height: 8, pixels0to255: Uint8Array.from({ length: 192 }, (_, i) => (i * 37) % 256) };
    expect(new Set(gaudyBlurred(img, 1).pixels0to255)).toEqual(new Set([0, 255]));
  });
});
