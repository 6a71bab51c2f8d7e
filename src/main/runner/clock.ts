import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";

export interface Clock {
  nowMs(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  nowMs: () => performance.now(),
  async sleep(ms, signal) {
    if (ms <= 0) return;
    try {
      await delay(ms, undefined, { signal });
    } catch (err) {
      if (!(signal?.aborted ?? false)) throw err;
    }
  },
};
