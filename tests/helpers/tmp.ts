import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(fileURLToPath(import.meta.url), "..", "..", "..");

/** A temporary folder removed after the test file (call `cleanup` in afterAll). */
export function tempDir(prefix = "cortexloop-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const inProcessRigFile = resolve(repoRoot, "protocols", "rigs", "in-process.json");

/** A small fast protocol on generated images, written to `dir`; returns its path. */
export function writeQuickProtocol(
  dir: string,
  options: {
    name?: string;
    count?: number;
    repeats?: number;
    stimulusMs?: number;
    interStimulusMs?: number;
    file?: string;
  } = {},
): string {
  const file = join(dir, options.file ?? "quick.json");
  const protocol = {
    name: options.name ?? "quick",
    rig: inProcessRigFile,
    seed: 3,
    timing: { fixationMs: 0, stimulusMs: options.stimulusMs ?? 2, interStimulusMs: options.interStimulusMs ?? 1 },
    countWindow: { startMs: 5, endMs: 15, bins: 2 },
    sources: {
      gratings: { kind: "generator", generator: "gratings", count: options.count ?? 6, size: 16, seed: 1 },
      dots: { kind: "generator", generator: "dots", count: options.count ?? 6, size: 16, seed: 2 },
    },
    blocks: [
      { name: "g", source: "gratings", repeats: options.repeats ?? 2 },
      { name: "d", source: "dots", repeats: options.repeats ?? 2, order: "shuffle" },
    ],
  };
  writeFileSync(file, JSON.stringify(protocol, null, 2));
  return file;
}
