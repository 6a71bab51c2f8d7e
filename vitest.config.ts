import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx", "tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Native modules (zeromq, better-sqlite3) and tfjs backends are process-global: forks isolate them.
    pool: "forks",
    maxWorkers: 2,
  },
});
