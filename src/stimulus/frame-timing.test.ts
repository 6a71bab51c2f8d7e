import { describe, expect, it } from "vitest";
import { framesFor, measureRefresh, missedFrames, stimulusOver } from "./frame-timing.js";

describe("frame timing", () => {
  it("rounds a requested duration to whole frames and keeps both", () => {
    expect(framesFor(100, 60)).toMatchObject({ requestedMs: 100, frames: 6 });
    expect(framesFor(100, 60).durationMs).toBeCloseTo(100, 6);
    expect(framesFor(90, 60).frames).toBe(5);
    expect(framesFor(110, 60).frames).toBe(7);
    expect(framesFor(100, 144).frames).toBe(14);
    expect(framesFor(100, 144).durationMs).toBeCloseTo(97.22, 2);
    expect(framesFor(3, 60).frames).toBe(1);
    expect(() => framesFor(100, 0)).toThrow(/refresh rate must be positive/);
  });

  it("measures the refresh from timestamps, leaving missed frames out", () => {
    const t = [0];
    for (let i = 1; i < 100; i++) t.push(t[i - 1]! + (i === 50 ? 3 * 16.667 : 16.667 + (i % 2 ? 0.1 : -0.1)));
    const m = measureRefresh(t);
    expect(m.hz).toBeCloseTo(60, 1);
    expect(m.intervals).toBe(98);
    expect(m.jitterMs).toBeCloseTo(0.1, 2);
    expect(() => measureRefresh([0, 1])).toThrow(/at least 3/);
  });

  it("counts the refreshes missed between two frames", () => {
    expect(missedFrames(16.7, 16.667)).toBe(0);
    expect(missedFrames(24, 16.667)).toBe(0);
    expect(missedFrames(26, 16.667)).toBe(1);
    expect(missedFrames(50, 16.667)).toBe(2);
  });

  it("ends a stimulus on time even after a late frame", () => {
    const p = 16.667;
    expect(stimulusOver(0, 5 * p, 6, p)).toBe(false);
    expect(stimulusOver(0, 6 * p, 6, p)).toBe(true);
    // A frame that came 1.6 periods late still ends it at the sixth refresh, not the seventh.
    expect(stimulusOver(0, 5.6 * p, 6, p)).toBe(true);
  });
});
