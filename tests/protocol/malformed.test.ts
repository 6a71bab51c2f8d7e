import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidFileError, loadProtocolFile, loadRigFile } from "../../src/main/protocol/index.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const valid = {
  name: "ok",
  sources: { g: { kind: "generator", generator: "gratings", count: 4 } },
  blocks: [{ name: "b", source: "g", repeats: 2 }],
};

function withChange(change: (p: Record<string, unknown>) => void): string {
  const p = structuredClone(valid) as Record<string, unknown>;
  change(p);
  return JSON.stringify(p);
}

// Each case: the file's text and fragments the error must contain (JSON path, what was expected, what was found).
const cases: { name: string; text: string; expect: string[] }[] = [
  { name: "not-json", text: "{ name: 'x' ", expect: ["$: not valid JSON"] },
  { name: "empty-file", text: "", expect: ["$: not valid JSON"] },
  { name: "array-root", text: "[]", expect: ["$: expected object, found an array of 0"] },
  { name: "missing-name", text: withChange((p) => delete p.name), expect: ["$.name: expected string, found nothing"] },
  { name: "name-number", text: withChange((p) => (p.name = 42)), expect: ["$.name: expected string, found number 42"] },
  { name: "no-blocks", text: withChange((p) => (p.blocks = [])), expect: ["$.blocks:", "found an array of 0"] },
  {
    name: "unknown-source",
    text: withChange((p) => (p.blocks = [{ name: "b", source: "nope" }])),
    expect: ['$.blocks[0].source: names source "nope", which is not among sources (g)'],
  },
  {
    name: "bad-source-kind",
    text: withChange((p) => (p.sources = { g: { kind: "camera" } })),
    expect: ["$.sources.g.kind:", '"folder"', 'found string "camera"'],
  },
  {
    name: "negative-repeats",
    text: withChange((p) => (p.blocks = [{ name: "b", source: "g", repeats: -1 }])),
    expect: ["$.blocks[0].repeats:", "found number -1"],
  },
  {
    name: "fractional-repeats",
    text: withChange((p) => (p.blocks = [{ name: "b", source: "g", repeats: 1.5 }])),
    expect: ["$.blocks[0].repeats: expected int, found number 1.5"],
  },
  {
    name: "unknown-key",
    text: withChange((p) => (p.durationMs = 100)),
    expect: ['$: unexpected key "durationMs"'],
  },
  {
    name: "bad-order",
    text: withChange((p) => (p.blocks = [{ name: "b", source: "g", order: "random" }])),
    expect: ["$.blocks[0].order: expected one of", '"shuffle"', 'found string "random"'],
  },
  {
    name: "window-backwards",
    text: withChange((p) => (p.countWindow = { startMs: 150, endMs: 50 })),
    expect: ["$.countWindow: endMs must be greater than startMs"],
  },
  {
    name: "bad-hash",
    text: withChange((p) => (p.sources = { g: { kind: "stored", hashes: ["xyz"] } })),
    expect: ["$.sources.g.hashes[0]:", "SHA-256", 'found string "xyz"'],
  },
  {
    name: "timing-string",
    text: withChange((p) => (p.timing = { stimulusMs: "100" })),
    expect: ['$.timing.stimulusMs: expected number, found string "100"'],
  },
];

describe("malformed protocol files", () => {
  it("has at least 10 cases", () => expect(cases.length).toBeGreaterThanOrEqual(10));

  for (const c of cases) {
    it(`${c.name}: names the file, the JSON path, what was expected and what was found`, () => {
      const file = join(tmp.dir, `${c.name}.json`);
      writeFileSync(file, c.text);
      let error: unknown;
      try {
        loadProtocolFile(file);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(InvalidFileError);
      const message = (error as InvalidFileError).message;
      expect(message).toContain(file);
      for (const fragment of c.expect) expect(message).toContain(fragment);
      expect(message).toContain("Nothing was run or stored");
    });
  }

  it("a valid file passes and gets defaults", () => {
    const file = join(tmp.dir, "valid.json");
    writeFileSync(file, JSON.stringify(valid));
    const loaded = loadProtocolFile(file);
    expect(loaded.protocol.timing).toEqual({ fixationMs: 300, stimulusMs: 100, interStimulusMs: 200 });
    expect(loaded.protocol.blocks[0]!.order).toBe("shuffle-each-repeat");
    expect(loaded.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a missing file is a clear error naming it", () => {
    const file = join(tmp.dir, "absent.json");
    expect(() => loadProtocolFile(file)).toThrow(/absent\.json is not a valid file[\s\S]*could not be read/);
  });

  it("a rig file with an unknown transport names the path", () => {
    const file = join(tmp.dir, "rig.json");
    writeFileSync(
      file,
      JSON.stringify({
        name: "r",
        acquisition: { format: "openephys-zmq" },
        eventCodes: { transport: "pigeon" },
        display: { kind: "virtual" },
      }),
    );
    expect(() => loadRigFile(file)).toThrow(/\$\.eventCodes\.transport/);
  });

  it("a rig file's health thresholds are read, and one out of range names its path", () => {
    const file = join(tmp.dir, "rig-health.json");
    const rig = (health: unknown) =>
      JSON.stringify({
        name: "r",
        acquisition: { format: "openephys-zmq" },
        eventCodes: { transport: "openephys-network-events" },
        display: { kind: "virtual" },
        health,
      });
    writeFileSync(file, rig({ noDataMs: 5000, unconfirmedInARow: 5 }));
    expect(loadRigFile(file).rig.health).toEqual({ noDataMs: 5000, unconfirmedInARow: 5 });
    writeFileSync(file, rig({ noDataMs: 5 }));
    expect(() => loadRigFile(file)).toThrow(/\$\.health\.noDataMs/);
    writeFileSync(file, rig({ noDataSeconds: 5 }));
    expect(() => loadRigFile(file)).toThrow(/noDataSeconds/);
  });
});
