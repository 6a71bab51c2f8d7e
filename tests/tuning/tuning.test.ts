// Tuning sweeps: the images are exactly the stated ones, a unit that is a known oriented filter peaks
// at its orientation, and `cortexloop design tuning` stores each image's parameters (so the review's
// tuning curves show measured tuning by the swept values), prints each unit's predicted curve from
// the model that predicts it, and refuses bad input without writing anything.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerCausalCommands } from "../../src/main/cli-causal.js";
import { putCompactVersion } from "../../src/main/compact/versions.js";
import type { DesignModel } from "../../src/main/causal/index.js";
import { loadProtocolFile } from "../../src/main/protocol/index.js";
import { SessionReview } from "../../src/main/review/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { designTuning } from "../../src/main/tuning/index.js";
import { selectBackend } from "../../src/models/backend.js";
import { compactModelArrays, createCompactModel } from "../../src/models/compact/index.js";
import { populationResponseModel } from "../../src/models/response/index.js";
import { dotSweep, gratingSweep, SweepInputError, type RgbImage } from "../../src/stimulus/index.js";
import { compactFixture, type CompactFixture } from "../compact/fixture.js";
import { tempDir } from "../helpers/tmp.js";

const BG = 128;
const FG = 255;

/** A disc drawn independently of the code under test: pixel centres within r of the dot's centre. */
function expectedDots(size: number, dots: { x: number; y: number; r: number }[]): Uint8Array {
  const px = new Uint8Array(size * size * 3).fill(BG);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      if (dots.some((d) => (x - d.x * size) ** 2 + (y - d.y * size) ** 2 <= (d.r * size) ** 2))
        px.fill(FG, (y * size + x) * 3, (y * size + x) * 3 + 3);
  return px;
}

/** Connected groups of dot pixels (4-neighbours). */
function blobs(image: RgbImage): number {
  const n = image.width;
  const seen = new Uint8Array(n * n);
  let count = 0;
  for (let start = 0; start < n * n; start++) {
    if (seen[start] || image.pixels0to255[start * 3] !== FG) continue;
    count++;
    const stack = [start];
    seen[start] = 1;
    while (stack.length > 0) {
      const p = stack.pop()!;
      const x = p % n;
      const y = Math.floor(p / n);
      for (const [dx, dy] of [
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
      ] as const) {
        const q = (y + dy) * n + (x + dx);
        if (x + dx < 0 || x + dx >= n || y + dy < 0 || y + dy >= n || seen[q]) continue;
        if (image.pixels0to255[q * 3] !== FG) continue;
        seen[q] = 1;
        stack.push(q);
      }
    }
  }
  return count;
}

describe("dot and grating sweeps", () => {
  const spec = {
    sizes: [0.05, 0.1, 0.25],
    grid: 4,
    radius: 0.06,
    numbers: [1, 3, 6],
    layouts: 2,
    background: BG,
    dotValue: FG,
    seed: 4,
  };

  it("draws exactly the stated size, location and number images", () => {
    const size = 40;
    const all = dotSweep(size, spec);
    const bySweep = (s: string): typeof all => all.filter((im) => im.sweep === s);
    expect(bySweep("dot-size")).toHaveLength(3);
    expect(bySweep("dot-location")).toHaveLength(16);
    expect(bySweep("dot-number")).toHaveLength(6);
    bySweep("dot-size").forEach((im, i) => {
      expect(im.conditionParams).toEqual({ radius: spec.sizes[i] });
      expect(im.params).toEqual({
        generator: "dots",
        dots: 1,
        meanRadius: spec.sizes[i],
        centroidX: 0.5,
        centroidY: 0.5,
        eccentricity: 0,
      });
      expect(im.image.pixels0to255).toEqual(expectedDots(size, [{ x: 0.5, y: 0.5, r: spec.sizes[i]! }]));
    });
    const centres = [0.125, 0.375, 0.625, 0.875];
    bySweep("dot-location").forEach((im, k) => {
      const x = centres[k % 4]!;
      const y = centres[Math.floor(k / 4)]!;
      expect(im.conditionParams).toEqual({ x, y });
      expect(im.params).toMatchObject({ dots: 1, meanRadius: 0.06, centroidX: x, centroidY: y });
      expect(im.image.pixels0to255).toEqual(expectedDots(size, [{ x, y, r: 0.06 }]));
    });
    for (const im of bySweep("dot-number")) {
      const n = im.conditionParams.dots!;
      expect(im.params).toMatchObject({ generator: "dots", dots: n, meanRadius: 0.06 });
      // n separate dots: none overlaps or touches another.
      expect(blobs(im.image)).toBe(n);
    }
    // The two layouts of a number differ; the same seed draws the same layouts.
    const six = bySweep("dot-number").filter((im) => im.conditionParams.dots === 6);
    expect(six[0]!.image.pixels0to255).not.toEqual(six[1]!.image.pixels0to255);
    expect(dotSweep(size, spec).map((im) => im.image.pixels0to255)).toEqual(all.map((im) => im.image.pixels0to255));
  });

  it("draws every orientation × frequency at evenly spaced phases", () => {
    const all = gratingSweep(32, { orientationsDeg: [0, 90], cyclesPerImage: [2, 4], phases: 4, contrast: 1 });
    expect(all).toHaveLength(16);
    expect(new Set(all.map((im) => im.condition)).size).toBe(4);
    expect(all.slice(0, 4).map((im) => (im.params as { phaseRad: number }).phaseRad)).toEqual([
      0,
      Math.PI / 2,
      Math.PI,
      (3 * Math.PI) / 2,
    ]);
    // Orientation 0: luminance changes along x only (vertical bars); 90: along y only.
    const at = (im: RgbImage, x: number, y: number): number => im.pixels0to255[(y * 32 + x) * 3]!;
    const vertical = all[1]!.image;
    const horizontal = all.find((im) => im.conditionParams.orientationDeg === 90)!.image;
    for (let y = 0; y < 32; y++) expect(at(vertical, 5, y)).toBe(at(vertical, 5, 0));
    for (let x = 0; x < 32; x++) expect(at(horizontal, x, 5)).toBe(at(horizontal, 0, 5));
  });

  it("refuses empty sweeps and values out of range", () => {
    expect(() => dotSweep(40, { ...spec, sizes: [], grid: 0, numbers: [] })).toThrow(/dot sweep is empty/);
    expect(() => dotSweep(40, { ...spec, sizes: [0.6] })).toThrow(/Dot size 0.6 is out of range/);
    expect(() => dotSweep(40, { ...spec, sizes: [0] })).toThrow(/Dot size 0 is out of range/);
    expect(() => dotSweep(40, { ...spec, sizes: [0.1, 0.1] })).toThrow(/lists a value twice/);
    expect(() => dotSweep(40, { ...spec, numbers: [40] })).toThrow(/40 dots of radius 0.06 do not fit/);
    expect(() => dotSweep(40, { ...spec, dotValue: BG })).toThrow(SweepInputError);
    const g = { orientationsDeg: [0], cyclesPerImage: [2], phases: 2, contrast: 1 };
    expect(() => gratingSweep(32, { ...g, orientationsDeg: [] })).toThrow(/grating sweep is empty/);
    expect(() => gratingSweep(32, { ...g, cyclesPerImage: [17] })).toThrow(/Spatial frequency 17 is out of range/);
    expect(() => gratingSweep(32, { ...g, orientationsDeg: [180] })).toThrow(/Orientation 180 is out of range/);
    expect(() => gratingSweep(32, { ...g, phases: 0 })).toThrow(/phases must be a whole number/);
  });
});

describe("predicted tuning curves", () => {
  const S = 32;
  /** A simple cell: the rectified response of a Gabor filter of orientation `deg`, 3.2 cycles per image. */
  function gabor(deg: number): Float32Array {
    const theta = (deg * Math.PI) / 180;
    const w = new Float32Array(S * S * 3);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        const u = (x - S / 2) * Math.cos(theta) + (y - S / 2) * Math.sin(theta);
        const v = Math.exp(-((x - S / 2) ** 2 + (y - S / 2) ** 2) / (2 * 7 * 7)) * Math.cos((2 * Math.PI * u) / 10);
        for (let c = 0; c < 3; c++) w[(y * S + x) * 3 + c] = v / 100;
      }
    return w;
  }

  it("peaks at the orientation and frequency of a unit that is an oriented filter", async () => {
    await selectBackend();
    const orientations = [30, 120];
    const filters = orientations.map(gabor);
    const w = tf.keep(
      tf.tensor2d(
        Float32Array.from({ length: S * S * 3 * 2 }, (_, i) => filters[i % 2]![Math.floor(i / 2)]!),
        [S * S * 3, 2],
      ),
    );
    const dm: DesignModel = {
      model: populationResponseModel(
        (x) => tf.relu(tf.matMul(tf.reshape(tf.sub(x, 128), [x.shape[0], -1]), w)) as tf.Tensor2D,
        2,
        S,
        "function",
      ),
      units: ["a#0", "b#0"].map((name, i) => ({
        name,
        electrode: name.slice(0, 1),
        sortedId: 0,
        source: "ensemble" as const,
        modelVersionId: i,
      })),
      imageSize: S,
      scale: "responses",
      dispose: () => w.dispose(),
    };
    try {
      const design = await designTuning(dm, {
        kind: "gratings",
        sweep: {
          orientationsDeg: Array.from({ length: 12 }, (_, i) => i * 15),
          cyclesPerImage: [1, 2, 3.2, 6, 10],
          phases: 4,
          contrast: 1,
        },
      });
      expect(design.images).toHaveLength(12 * 5 * 4);
      const [curves] = design.sweeps;
      expect(curves!.sweep).toBe("orientation-frequency");
      expect(curves!.conditions).toHaveLength(60);
      orientations.forEach((deg, u) => {
        const peak = curves!.conditions.reduce((a, b) => (b.predicted[u]! > a.predicted[u]! ? b : a));
        expect(peak.params).toEqual({ orientationDeg: deg, cyclesPerImage: 3.2 });
        expect(peak.images).toBe(4);
        // The orthogonal orientation at the same frequency drives it far less.
        const orthogonal = curves!.conditions.find(
          (c) => c.params.orientationDeg === (deg + 90) % 180 && c.params.cyclesPerImage === 3.2,
        )!;
        expect(orthogonal.predicted[u]!).toBeLessThan(0.2 * peak.predicted[u]!);
      });
    } finally {
      dm.dispose();
    }
  });
});

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

describe("cortexloop design tuning", () => {
  const tmp = tempDir("cortexloop-tuning-");
  let fx: CompactFixture;
  let compactId: number;
  const count = (db: string, table: string): number => {
    const store = SessionStore.open(db);
    try {
      return (store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      store.close();
    }
  };

  beforeAll(async () => {
    await selectBackend();
    fx = await compactFixture(tmp.dir, { images: 6, units: 3 });
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

  it("refuses an unknown unit, an empty sweep and sizes out of range, and writes nothing", async () => {
    const out = join(tmp.dir, "bad.json");
    const csv = join(tmp.dir, "bad.csv");
    const base = ["design", "tuning", "--model", String(fx.teacherId), "--db", fx.db, "-o", out, "--csv", csv];
    const before = [count(fx.db, "stimuli"), count(fx.db, "tuning_designs"), count(fx.db, "tuning_images")];
    await expect(run([...base, "--kind", "dots", "--units", "e9#0"])).rejects.toThrow(
      /Unit "e9#0" is not one of model version \d+'s 3 units.*Nothing was written/,
    );
    await expect(run([...base, "--kind", "dots", "--sizes", "", "--grid", "0", "--numbers", ""])).rejects.toThrow(
      /The dot sweep is empty.*Nothing was written/,
    );
    await expect(run([...base, "--kind", "gratings", "--orientations", ""])).rejects.toThrow(
      /The grating sweep is empty.*Nothing was written/,
    );
    await expect(run([...base, "--kind", "dots", "--sizes", "0.1,0.7"])).rejects.toThrow(
      /Dot size 0.7 is out of range: a fraction of the image side.*Nothing was written/,
    );
    await expect(run([...base, "--kind", "dots", "--sizes", "0.1,big"])).rejects.toThrow(
      /--sizes takes comma-separated numbers, got "big"/,
    );
    await expect(run([...base, "--kind", "bars"])).rejects.toThrow(/--kind must be dots or gratings/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(csv)).toBe(false);
    expect([count(fx.db, "stimuli"), count(fx.db, "tuning_designs"), count(fx.db, "tuning_images")]).toEqual(before);
  });

  it(
    "writes the sweep's protocol and curves, stores each image's parameters, and the review shows measured " +
      "tuning by the swept values",
    async () => {
      const out = join(tmp.dir, "dots.json");
      const csv = join(tmp.dir, "dots.csv");
      const r = await run([
        ...["design", "tuning", "--model", String(fx.teacherId), "--units", "e0#0,e1#0", "--kind", "dots"],
        ...["--sizes", "0.05,0.1,0.2", "--grid", "3", "--radius", "0.05", "--numbers", "1,3", "--layouts", "2"],
        ...["--repeats", "3", "--db", fx.db, "-o", out, "--csv", csv],
      ]);
      // Which model predicts each unit is said.
      expect(r.out).toMatch(/e0#0 \(the ensemble's prediction, model version \d+\)/);
      expect(r.out).toMatch(new RegExp(`e1#0 \\(its compact model, model version ${compactId}\\)`));
      expect(r.out).toMatch(/dot size \(radius, fraction of the image side\): 0.05: [-\d.]+ \| 0.1: [-\d.]+ \| 0.2:/);
      expect(r.out).toMatch(/dot location \(3×3 grid/);
      expect(r.out).toMatch(/number of dots \(mean of 2 layouts\): 1: [-\d.]+ \| 3: /);
      expect(r.err).toMatch(/2 units, 1 through their compact models, 1 through the ensemble's prediction/);

      const protocol = loadProtocolFile(out).protocol;
      const source = protocol.sources.tuning!;
      const hashes = source.kind === "stored" ? source.hashes : [];
      expect(protocol.blocks).toEqual([
        expect.objectContaining({ source: "tuning", repeats: 3, order: "shuffle-each-repeat" }),
      ]);
      // 3 sizes + 9 places + 2 numbers × 2 layouts; the centred 0.05 dot is in the size and the location sweep.
      expect(hashes).toHaveLength(15);
      const lines = readFileSync(csv, "utf8").trim().split("\n");
      expect(lines[0]).toBe(
        "unit,model,model_version,sweep,orientation_deg,cycles_per_image,dot_radius,dot_x,dot_y,dots,images,predicted",
      );
      expect(lines.slice(1)).toHaveLength(2 * (3 + 9 + 2));
      expect(lines.filter((l) => l.startsWith("e1#0,compact,") && l.includes(",dot-number,"))).toHaveLength(2);

      const store = SessionStore.open(fx.db);
      try {
        const rows = store.db
          .prepare(
            "SELECT stimulus_sha256 AS sha, sweep, params_json AS p, predicted_json AS q FROM tuning_images " +
              "WHERE design_id = (SELECT MAX(id) FROM tuning_designs)",
          )
          .all() as { sha: string; sweep: string; p: string; q: string }[];
        expect(rows).toHaveLength(16);
        for (const row of rows) {
          expect(hashes).toContain(row.sha);
          expect(Object.keys(JSON.parse(row.q) as object)).toEqual(["e0#0", "e1#0"]);
        }
        const sizes = rows
          .filter((row) => row.sweep === "dot-size")
          .map((row) => JSON.parse(row.p) as { meanRadius: number })
          .sort((a, b) => a.meanRadius - b.meanRadius);
        expect(sizes).toEqual(
          [0.05, 0.1, 0.2].map((meanRadius) => ({
            generator: "dots",
            dots: 1,
            meanRadius,
            centroidX: 0.5,
            centroidY: 0.5,
            eccentricity: 0,
          })),
        );
        // A recorded session of these images whose response is a known function of each image's parameters.
        const paramsOf = new Map(
          rows.map((row) => [row.sha, JSON.parse(row.p) as { meanRadius: number; dots: number }]),
        );
        const response = (sha: string): number =>
          10 + 100 * paramsOf.get(sha)!.meanRadius + 3 * paramsOf.get(sha)!.dots;
        const imported = store.importRecordedSession({
          name: "tuning-replay",
          provenanceText: "test: responses from the images' parameters",
          countWindow: { startMs: 50, endMs: 150, bins: 1 },
          durationMs: 100,
          stimuli: hashes.map((h) => ({ png: store.getStimulusPng(h)!, width: 112, height: 112 })),
          units: [{ electrode: "e0", sortedId: 0, flags: [] }],
          repeats: 1,
          averaged: true,
          values: Float64Array.from(hashes, response),
        });
        const curves = new SessionReview(store, imported.session.id).tuning();
        const axis = (parameter: string): (typeof curves)[number] | undefined =>
          curves.find((c) => c.axis.generator === "dots" && c.axis.parameter === parameter);
        expect(axis("meanRadius")!.x).toEqual([0.05, 0.1, 0.2]);
        axis("meanRadius")!.meanByUnit[0]!.forEach((m, i) => expect(m).toBeCloseTo(13 + 100 * [0.05, 0.1, 0.2][i]!, 6));
        expect(axis("dots")!.x).toEqual([1, 3]);
        axis("dots")!.meanByUnit[0]!.forEach((m, i) => expect(m).toBeCloseTo(15 + 3 * [1, 3][i]!, 6));
        // The location sweep's places only: the size and number sweeps' dots do not count on this axis.
        expect(axis("centroidX")!.x).toEqual([0.166667, 0.5, 0.833333]);
        expect(axis("centroidX")!.nByUnit[0]).toEqual([3, 3, 3]);
      } finally {
        store.close();
      }
    },
    120_000,
  );
});
