import { describe, expect, it } from "vitest";
import { threadsFromEnv } from "./backend.js";

describe("threadsFromEnv (CORTEXLOOP_THREADS)", () => {
  it("reads a whole number of threads, and nothing when unset or empty", () => {
    expect(threadsFromEnv("1")).toBe(1);
    expect(threadsFromEnv("3")).toBe(3);
    expect(threadsFromEnv(undefined)).toBeUndefined();
    expect(threadsFromEnv("")).toBeUndefined();
  });

  it("refuses what is not a thread count, saying what it got", () => {
    for (const bad of ["0", "-2", "1.5", "two"])
      expect(() => threadsFromEnv(bad)).toThrow(`CORTEXLOOP_THREADS must be a whole number ≥ 1, got "${bad}"`);
  });
});
