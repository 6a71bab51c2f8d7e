// design causal and analyze causal on a real SQLite file: a Gabor-front-end ensemble of 3 units,
// one of which has a compact model; the analysis is checked on a session whose recorded responses
// are the model's own predictions (so measured and predicted %Δr must agree).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CAUSAL_CSV_HEADER } from "../../src/main/causal/report.js";
import { registerCausalCommands } from "../../src/main/cli-causal.js";
import { putCompactVersion } from "../../src/main/compact/versions.js";
import { loadProtocolFile } from "../../src/main/protocol/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { selectBackend } from "../../src/models/backend.js";
import { compactModelArrays, createCompactModel } from "../../src/models/compact/index.js";
import { encodePng, generateImages } from "../../src/stimulus/index.js";
import { compactFixture, type CompactFixture } from "../compact/fixture.js";
import { tempDir } from "../helpers/tmp.js";

async function run(args: string[]): Promise<{ err: string; out: string }> {
  const program = new Command().exitOverride();
  registerCausalCommands(program);
  const err: string[] = [];
  const out: string[] = [];
  const e = vi
    .spyOn(process.stderr, "write")
    .mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
  const o = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  try {
    await program.parseAsync(args, { from: "user" });
  } finally {
    e.mockRestore();
    o.mockRestore();
  }
  return { err: err.join(""), out: out.join("\n") };
}

const tmp = tempDir("cortexloop-causal-");
let fx: CompactFixture;
let bank: string;
let compactId: number;
// The Gabor front end costs about 0.1 s an image on wasm: as few images and steps as still test something.
const small = [
  "--restarts",
  "2",
  "--steps",
  "2",
  "--normal",
  "2",
  "--adversarial",
  "1",
  "--smooth",
  "1",
  "--smooth-candidates",
  "2",
  "--patches",
  "2",
  "--patch-px",
  "28",
  "--stride-px",
  "28",
  "--random-normal",
  "4",
  "--repeats",
  "2",
  "--no-saliency",
];

function rows(db: string): { designs: number; images: number; stimuli: number } {
  const store = SessionStore.open(db);
  try {
    const count = (sql: string): number => (store.db.prepare(sql).get() as { n: number }).n;
    return {
      designs: count("SELECT COUNT(*) AS n FROM causal_designs"),
      images: count("SELECT COUNT(*) AS n FROM causal_images"),
      stimuli: store.countStimuli(),
    };
  } finally {
    store.close();
  }
}

beforeAll(async () => {
  await selectBackend();
  fx = await compactFixture(tmp.dir, { images: 12, units: 3 });
  bank = join(tmp.dir, "bank");
  mkdirSync(bank);
  const pictures = [...generateImages("gratings", 10, 112, 7), ...generateImages("dots", 10, 112, 8)];
  for (const [i, p] of pictures.entries())
    writeFileSync(join(bank, `b${String(i).padStart(2, "0")}.png`), await encodePng(p));
  const store = SessionStore.open(fx.db);
  const model = createCompactModel([4, 4, 3, 3, 3], { seed: 5 });
  compactId = putCompactVersion(store, {
    name: "compact e1#0",
    arrays: compactModelArrays(model),
    teacherId: fx.teacherId,
    unit: {
      sessionId: fx.sessionId,
      sessionName: "S1",
      unitId: 0,
      electrode: "e1",
      sortedId: 0,
      name: "e1#0",
      column: 1,
    },
  });
  model.dispose();
  store.close();
}, 120_000);
afterAll(() => tmp.cleanup());

describe("cortexloop design causal / analyze causal", () => {
  it("refuses bad input with a clear error and writes nothing", async () => {
    const out = join(tmp.dir, "bad.json");
    const before = rows(fx.db);
    const emptyBank = join(tmp.dir, "empty");
    mkdirSync(emptyBank);
    const corrupt = join(tmp.dir, "corrupt");
    mkdirSync(corrupt);
    writeFileSync(join(corrupt, "a.png"), "not a png");
    const base = ["design", "causal", "--model", String(fx.teacherId), "--db", fx.db, "-o", out, ...small];
    await expect(run([...base, "--bank", bank, "--units", "e9#0"])).rejects.toThrow(
      /Unit "e9#0" is not one of model version \d+'s 3 units.*Nothing was written/,
    );
    await expect(run([...base, "--bank", emptyBank])).rejects.toThrow(
      /holds no PNG or JPEG images. Nothing was written/,
    );
    await expect(run([...base, "--bank", corrupt])).rejects.toThrow(
      /Could not decode image .*a\.png.*Nothing was written/,
    );
    await expect(run([...base, "--bank", bank, "--budget", "l2:0"])).rejects.toThrow(/--budget must be > 0/);
    await expect(run([...base, "--bank", bank, "--budget", "l2:-3"])).rejects.toThrow(/--budget must be > 0/);
    await expect(run([...base, "--bank", bank, "--adversarial-bases", "0.8:0.5"])).rejects.toThrow(
      /--adversarial-bases must be two quantiles from:to with 0 ≤ from < to ≤ 1 .*got "0.8:0.5"/,
    );
    await expect(run([...base, "--bank", bank, "--maximizing-from", "grey"])).rejects.toThrow(
      /--maximizing-from must be "normal" or "noise", got "grey"/,
    );
    await expect(run([...base, "--bank", bank, "--rank-by", "truth"])).rejects.toThrow(
      /--rank-by must be "ensemble" or "model", got "truth"/,
    );
    await expect(run([...base, "--bank", bank, "--smooth-keep-by", "area"])).rejects.toThrow(
      /--smooth-keep-by must be "contrast" or "drop", got "area"/,
    );
    await expect(run(["design", "causal", "--model", "999", "--db", fx.db, "-o", out, "--bank", bank])).rejects.toThrow(
      /Model version 999 does not exist/,
    );
    await expect(run(["analyze", "causal", "S1", "--db", fx.db, "-o", join(tmp.dir, "x.csv")])).rejects.toThrow(
      /showed no images of a causal design.*Nothing was written/,
    );
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(tmp.dir, "x.csv"))).toBe(false);
    expect(rows(fx.db)).toEqual(before);
  });

  it(
    "designs through compact models alone; an imported published model is named as the simulated rig names " +
      "its neuron",
    async () => {
      const store = SessionStore.open(fx.db);
      const model = createCompactModel([4, 4, 3, 3, 3], { seed: 6 });
      const importedId = putCompactVersion(store, {
        name: "imported",
        arrays: compactModelArrays(model),
        teacherId: null,
        config: { source: "import", file: "compact_model_190923_neuron4.npy" },
      });
      model.dispose();
      store.close();
      const out = join(tmp.dir, "compact.json");
      const base = ["design", "causal", "--db", fx.db, "-o", out, "--bank", bank, ...small];
      await expect(run([...base, "--model", `${fx.teacherId},${compactId}`])).rejects.toThrow(
        new RegExp(`must all be compact models; ${fx.teacherId} is not`),
      );
      const r = await run([...base, "--model", `${compactId},${importedId}`]);
      expect(r.err).toMatch(/2 units: 2 through their compact models/);
      const check = SessionStore.open(fx.db);
      try {
        const units = check.db
          .prepare(
            "SELECT DISTINCT unit, model_version_id AS mv FROM causal_images WHERE design_id = (SELECT MAX(id) " +
              "FROM causal_designs) ORDER BY unit",
          )
          .all();
        expect(units).toEqual([
          { unit: "190923_neuron4#0", mv: importedId },
          { unit: "e1#0", mv: compactId },
        ]);
      } finally {
        check.close();
      }
      // On 2 or more cores the synthesis runs on worker threads: named compact models, or an ensemble whose
      // chosen units all design through their compact models (the bank then ranked by the ensemble).
      const onWorkers = /design: the bank scored on \d+, the synthesis run on \d+ worker threads/;
      const viaTeacher = await run([...base, "--model", String(fx.teacherId), "--units", "e1#0"]);
      expect(viaTeacher.err).toMatch(/1 unit: 1 through their compact models\n/);
      expect(viaTeacher.err).toMatch(/maximizing normal: the bank ranked by the ensemble/);
      if (cpus().length >= 2) {
        expect(r.err).toMatch(onWorkers);
        expect(viaTeacher.err).toMatch(/design: the synthesis run on \d+ worker threads/);
      }
    },
    300_000,
  );

  it(
    "designs a session (compact model where there is one, the ensemble elsewhere), stores provenance, and " +
      "analyzes it",
    async () => {
      const out = join(tmp.dir, "causal.json");
      const r = await run([
        "design",
        "causal",
        "--model",
        String(fx.teacherId),
        "--db",
        fx.db,
        "-o",
        out,
        "--bank",
        bank,
        ...small,
      ]);
      expect(r.err).toMatch(
        /3 units: 1 through their compact models, 2 through the ensemble's prediction \(no compact model: e0#0, e2#0\)/,
      );
      expect(r.err).toMatch(/maximizing normal: the bank ranked by the ensemble/);
      const protocol = loadProtocolFile(out).protocol;
      const source = protocol.sources.causal!;
      expect(source.kind).toBe("stored");
      const hashes = source.kind === "stored" ? source.hashes : [];
      expect(protocol.blocks[0]!.repeats).toBe(2);
      const store = SessionStore.open(fx.db);
      let prov: {
        sha: string;
        unit: string;
        kind: string;
        base: string | null;
        predicted: number;
        src: string;
        mv: number;
      }[] = [];
      let shift = 0;
      try {
        for (const h of hashes) expect(store.hasStimulus(h)).toBe(true);
        prov = store.db
          .prepare(
            "SELECT stimulus_sha256 AS sha, unit, kind, base_sha256 AS base, predicted, model_source AS src, " +
              "model_version_id AS mv FROM causal_images WHERE design_id = (SELECT MAX(id) FROM causal_designs)",
          )
          .all() as {
          sha: string;
          unit: string;
          kind: string;
          base: string | null;
          predicted: number;
          src: string;
          mv: number;
        }[];
        const count = (unit: string, kind: string): number =>
          prov.filter((p) => p.unit === unit && p.kind === kind).length;
        for (const unit of ["e0#0", "e1#0", "e2#0"]) {
          expect(count(unit, "random-normal")).toBe(4);
          expect(count(unit, "maximizing-synthesized")).toBe(2);
          expect(count(unit, "maximizing-normal")).toBe(2);
          expect(count(unit, "adversarial-plus")).toBe(1);
          expect(count(unit, "adversarial-minus")).toBe(1);
          expect(count(unit, "smooth-minus")).toBe(1);
          expect(count(unit, "random-smoothed")).toBe(1);
        }
        for (const p of prov) {
          expect(p.src).toBe(p.unit === "e1#0" ? "compact" : "ensemble");
          expect(p.mv).toBe(p.unit === "e1#0" ? compactId : fx.teacherId);
          expect(hashes).toContain(p.sha);
          expect(Number.isFinite(p.predicted)).toBe(true);
          if (/plus|minus|smoothed/.test(p.kind)) expect(hashes).toContain(p.base);
          // Synthesized from the unit's best bank images (--maximizing-from normal, the default).
          else if (p.kind === "maximizing-synthesized")
            expect(prov.find((q) => q.sha === p.base && q.unit === p.unit)?.kind).toBe("maximizing-normal");
          else expect(p.base).toBeNull();
        }
        // By the model's own account, adversarial+ images respond more than adversarial− ones.
        for (const unit of ["e0#0", "e1#0", "e2#0"]) {
          const mean = (kind: string): number => {
            const xs = prov.filter((p) => p.unit === unit && p.kind === kind).map((p) => p.predicted);
            return xs.reduce((a, b) => a + b, 0) / xs.length;
          };
          expect(mean("adversarial-plus")).toBeGreaterThan(mean("adversarial-minus"));
        }

        // A session whose recorded responses are the predictions of the design's own model, plus a
        // constant so every base is positive: measured %Δr must equal predicted %Δr (shifted the same way).
        shift = 10 - Math.min(...prov.map((p) => p.predicted));
        const units = ["e0#0", "e1#0", "e2#0"];
        const predictedOf = new Map(prov.map((p) => [`${p.sha}|${p.unit}`, p.predicted]));
        // An image shown to a unit it was not designed for has no prediction of that unit; give it the mean.
        const values = new Float64Array(units.length * hashes.length).map((_, k) => {
          const u = Math.floor(k / hashes.length);
          return (predictedOf.get(`${hashes[k % hashes.length]}|${units[u]}`) ?? 0) + shift;
        });
        store.importRecordedSession({
          name: "causal-replay",
          provenanceText: "test: responses are the model's predictions",
          countWindow: { startMs: 50, endMs: 150, bins: 1 },
          durationMs: 100,
          stimuli: hashes.map((h) => ({ png: store.getStimulusPng(h)!, width: 112, height: 112 })),
          units: units.map((u) => ({ electrode: u.split("#")[0]!, sortedId: 0, flags: [] })),
          repeats: 1,
          averaged: true,
          values,
        });
      } finally {
        store.close();
      }
      const csv = join(tmp.dir, "causal.csv");
      const a = await run(["analyze", "causal", "causal-replay", "--db", fx.db, "-o", csv]);
      expect(a.out).toMatch(/maximizing-synthesized\s+random normal images\s+3/);
      expect(a.out).toMatch(/smooth-minus\s+their bases\s+3/);
      const lines = readFileSync(csv, "utf8").trim().split("\n");
      expect(lines[0]).toBe(CAUSAL_CSV_HEADER);
      expect(lines[0]).toMatch(
        /^unit,model,kind,images,measured,measured_base,measured_change_pct,predicted_change_pct,p,/,
      );
      const body = lines.slice(1).map((l) => l.split(","));
      expect(body.filter((c) => c[0] !== "mean")).toHaveLength(3 * 6);
      expect(body.filter((c) => c[0] === "mean")).toHaveLength(6);
      // Each row's measured mean is its images' predictions plus the shift; so is its base's.
      const meanPredicted = (unit: string, kind: string): number => {
        const xs = prov.filter((p) => p.unit === unit && p.kind === kind).map((p) => p.predicted);
        return xs.reduce((a, b) => a + b, 0) / xs.length;
      };
      const baseKind = (kind: string): string =>
        kind.startsWith("maximizing")
          ? "random-normal"
          : kind.startsWith("adversarial")
            ? "adversarial-base"
            : "smooth-base";
      for (const c of body.filter((c) => c[0] !== "mean")) {
        const [unit, , kind] = c as [string, string, string];
        expect(Number(c[4])).toBeCloseTo(meanPredicted(unit, kind) + shift, 3);
        expect(Number(c[5])).toBeCloseTo(meanPredicted(unit, baseKind(kind)) + shift, 3);
        expect(Number(c[6])).toBeCloseTo(
          (100 * (meanPredicted(unit, kind) - meanPredicted(unit, baseKind(kind)))) /
            (meanPredicted(unit, baseKind(kind)) + shift),
          2,
        );
        // Mapped onto the recorded responses (predictions + shift: slope 1), the predictions give the measured %Δr.
        expect(Number(c[7])).toBeCloseTo(Number(c[6]), 2);
        expect(c[9]).toBe("measured-affine-fit");
        expect(Number(c[11])).toBeCloseTo(1, 4);
        expect(Number(c[12])).toBeCloseTo(shift, 2);
      }
      for (const c of body.filter((c) => c[0] === "e1#0")) expect(c[1]).toBe("compact");
    },
    300_000,
  );
});
