import { describe, expect, it } from "vitest";
import { resultsAhead } from "../../src/stimulus/index.js";

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("resultsAhead", () => {
  it("yields in the tasks' order with at most `depth` started and not yet taken", async () => {
    let running = 0;
    let most = 0;
    const tasks = Array.from({ length: 20 }, (_, i) => async () => {
      running++;
      most = Math.max(most, running);
      await delay((20 - i) % 7); // later tasks often finish first
      running--;
      return i;
    });
    const out: number[] = [];
    for await (const v of resultsAhead(tasks, 4)) out.push(v);
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(most).toBeLessThanOrEqual(4);
    expect(most).toBeGreaterThan(1);
  });

  it("a failing task throws in its turn, after the results before it; later failures go unobserved", async () => {
    const tasks = (async function* () {
      yield async () => 0;
      yield async () => {
        await delay(5);
        return 1;
      };
      yield async () => {
        throw new Error("task 2 failed");
      };
      yield () => Promise.reject(new Error("task 3 failed"));
      yield async () => 4;
    })();
    const out: number[] = [];
    await expect(
      (async () => {
        for await (const v of resultsAhead(tasks, 8)) out.push(v);
      })(),
    ).rejects.toThrow("task 2 failed");
    expect(out).toEqual([0, 1]);
    await delay(10); // an unhandled rejection of task 3 would fail the run
  });

  it("a consumer that stops early leaves no unhandled failure behind; depth must be ≥ 1", async () => {
    const tasks = [async () => 0, () => Promise.reject(new Error("never reached"))];
    for await (const v of resultsAhead(tasks, 2)) {
      expect(v).toBe(0);
      break;
    }
    await delay(5);
    await expect(resultsAhead([], 0).next()).rejects.toThrow(/depth/);
  });
});
