import { describe, expect, it } from "vitest";
import type { Clock } from "../../src/main/runner/clock.js";
import { OnsetTimeline } from "../../src/main/runner/onset-timeline.js";

/**
 * A clock whose sleeps overshoot by `overshootMs`, as timers do; `work` advances it as a presentation's show, codes and
 * clear would.
 */
function fakeClock(overshootMs: number): Clock & { work(ms: number): void } {
  let now = 1000;
  return {
    nowMs: () => now,
    sleep: async (ms) => {
      if (ms > 0) now += ms + overshootMs;
    },
    work: (ms) => (now += ms),
  };
}

const timing = { fixationMs: 300, stimulusMs: 100, interStimulusMs: 50 };

describe("onsets on an absolute schedule", () => {
  it(
    "keeps the protocol's cycle over 300 presentations although each one's show, codes and clear take 11 " + "ms",
    async () => {
      const clock = fakeClock(1);
      const t0 = clock.nowMs();
      const timeline = new OnsetTimeline(clock, t0, timing);
      const shown: number[] = [];
      for (let k = 0; k < 300; k++) {
        const due = await timeline.next();
        expect(due).toBe(timing.fixationMs + k * 150);
        clock.work(6); // show and the code's round trips
        shown.push(clock.nowMs() - t0);
        await clock.sleep(timing.stimulusMs);
        clock.work(5); // clearing the code
      }
      const meanCycle = (shown.at(-1)! - shown[0]!) / (shown.length - 1);
      expect(Math.abs(meanCycle - 150) / 150).toBeLessThan(0.01);
      expect(timeline.reanchors).toBe(0);
    },
  );

  it("a relative sleep after each presentation would have drifted (the behaviour it replaces)", async () => {
    const clock = fakeClock(1);
    const start = clock.nowMs();
    for (let k = 0; k < 300; k++) {
      clock.work(6);
      await clock.sleep(timing.stimulusMs);
      clock.work(5);
      await clock.sleep(timing.interStimulusMs);
    }
    expect((clock.nowMs() - start) / 300).toBeGreaterThan(160);
  });

  it("catches up lateness within a cycle, and starts again from now after a longer delay (a pause)", async () => {
    const clock = fakeClock(0);
    const t0 = clock.nowMs();
    const timeline = new OnsetTimeline(clock, t0, timing);
    expect(await timeline.next()).toBe(300);
    clock.work(120); // late, but within one cycle of the next onset
    expect(await timeline.next()).toBe(450);
    expect(clock.nowMs() - t0).toBe(450);
    clock.work(1000); // a pause
    const due = await timeline.next();
    expect(due).toBe(1450);
    expect(timeline.reanchors).toBe(1);
    expect(await timeline.next()).toBe(1600);
    timeline.restart();
    expect(await timeline.next()).toBe(clock.nowMs() - t0);
    expect(clock.nowMs() - t0).toBe(1600 + 300);
  });
});
