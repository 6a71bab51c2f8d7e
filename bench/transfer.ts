// `npm run bench -- transfer --db <file> --model <ensemble version>`: does an image designed through one
// model of a unit drive another model of the same unit? The two models are a deep ensemble and the
// compact models distilled from it (as `npm run bench -- distill` leaves them in its --work folder's
// lab.db): both fit the same recorded responses and agree on natural images, so a design that moves
// one and not the other exploits that model's own features, and would not be expected to move the
// neuron either. Prints, per direction, how far each model's response moves in standard deviations
// of its responses to `--random` of the session's natural images: maximizing synthesized (from noise,
// the default priors and with jitter and stronger blur), and adversarial ± from each unit's best
// natural image at several budgets.
import { parseArgs } from "node:util";
import { SessionStore } from "../src/main/store/index.js";
import { loadDesignModel, type DesignModel } from "../src/main/causal/model-units.js";
import { listCompactVersions, unitOf } from "../src/main/compact/versions.js";
import { loadSessionDataset } from "../src/main/import/dataset.js";
import { adversarialPairs, synthesizeMaximizing, type MaximizeOptions } from "../src/stimulus/synthesis/index.js";
import type { RgbImage } from "../src/stimulus/image.js";
import { meanSd, predictions, storeModelOptions, summary, unitColumn } from "./transfer-stats.js";

const usage = `usage: npm run bench -- transfer --db <lab.db> --model <ensemble version> [--units 8] [--steps 150]
  [--random 200] [--budgets 1500,4000]
The store must hold compact models distilled from the ensemble (e.g. the lab.db of a distill bench's --work).`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...storeModelOptions,
      units: { type: "string", default: "8" },
      steps: { type: "string", default: "150" },
      budgets: { type: "string", default: "1500,4000" },
    },
  });
  if (values.db === undefined || values.model === undefined) {
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  const teacher = Number(values.model);
  const store = SessionStore.open(values.db);
  const compactOf = new Map<number, number>();
  for (const row of listCompactVersions(store)) {
    const u = unitOf(row);
    if (row.config.teacher === teacher && u !== undefined) compactOf.set(u.column, row.id);
  }
  const columns = [...compactOf.keys()].sort((a, b) => a - b).slice(0, Number(values.units));
  if (columns.length < 2) {
    console.error(
      `Model version ${teacher} has ${columns.length} distilled compact models in ${values.db}; need 2 or more.`,
    );
    process.exitCode = 1;
    return;
  }
  const n = columns.length;
  const models: [string, DesignModel][] = [
    ["ensemble", await loadDesignModel(store, teacher, columns.map(String), { ensembleOnly: true })],
    [
      "compact",
      await loadDesignModel(
        store,
        columns.map((c) => compactOf.get(c)!),
        [],
      ),
    ],
  ];
  const sessionId = store.getModelVersion(teacher)!.sessionIds[0]!;
  const ds = await loadSessionDataset(store, sessionId, 112);
  const random = ds.images
    .slice(0, Number(values.random))
    .map((px) => ({ width: 112, height: 112, pixels0to255: px }) as RgbImage);
  const onRandom = models.map(([, m]) => predictions(m.model, random));
  const scale = onRandom.map((p) => columns.map((_, j) => meanSd(unitColumn(p, n, j))));
  // A unit's response to image i in SDs of its responses to the random images, by model.
  const inSd = (k: number, p: Float32Array, i: number, j: number): number =>
    (p[i * n + j]! - scale[k]![j]!.mean) / scale[k]![j]!.sd;
  const units = Array.from({ length: n }, (_, j) => j);
  console.log(
    `transfer: units ${columns.join(",")} of model version ${teacher}; responses in SDs of each model's responses to ` +
      `${random.length} of the session's images (mean ± s.e. over ${n} units)`,
  );
  const best = onRandom.map((p, k) =>
    units.map((j) => Math.max(...unitColumn(p, n, j).map((_, i) => inSd(k, p, i, j)))),
  );
  console.log(`best of the random images: ensemble ${summary(best[0]!)}  compact ${summary(best[1]!)}`);
  const variants: [string, Partial<MaximizeOptions>][] = [
    ["default priors", {}],
    ["jitter 4 px, blur", { jitterPx: 4, gradientBlurPx: 2, imageBlurEvery: 4, imageBlurPx: 1 }],
  ];
  console.log("maximizing synthesized (1 start per unit, from noise): response over the random images' mean");
  for (const [name, v] of variants) {
    for (const [through, dm] of models) {
      const t = performance.now();
      const made = await synthesizeMaximizing(dm.model, units, { restarts: 1, steps: Number(values.steps), ...v });
      const p = models.map(([, m]) =>
        predictions(
          m.model,
          made.map((r) => r.image),
        ),
      );
      const d = p.map((pk, k) => units.map((j) => inSd(k, pk, j, j)));
      console.log(
        `  ${name.padEnd(18)} through ${through.padEnd(8)}: ensemble ${summary(d[0]!)}  compact ${summary(d[1]!)}` +
          `  (${((performance.now() - t) / 1000).toFixed(0)} s)`,
      );
    }
  }
  console.log("adversarial ± (L2 budget on 0..255 pixels) from each unit's best random image: change from the base");
  for (const [k0, [through, dm]] of models.entries()) {
    const items = units.map((j) => {
      const c = unitColumn(onRandom[k0]!, n, j);
      return { unit: j, base: random[c.indexOf(Math.max(...c))]! };
    });
    for (const budget of values.budgets.split(",").map(Number)) {
      const pairs = await adversarialPairs(dm.model, items, { budget: { norm: "l2", value: budget } });
      const images = pairs.flatMap((q) => [q.base, q.plus.image, q.minus.image]);
      const p = models.map(([, m]) => predictions(m.model, images));
      const change = (k: number, which: 1 | 2): number[] =>
        units.map((j) => inSd(k, p[k]!, 3 * j + which, j) - inSd(k, p[k]!, 3 * j, j));
      console.log(
        `  through ${through.padEnd(8)} ${String(budget).padStart(6)}: plus ensemble ${summary(change(0, 1))} ` +
          `compact ${summary(change(1, 1))} | minus ensemble ${summary(change(0, 2))} compact ${summary(change(1, 2))}`,
      );
    }
  }
  models.forEach(([, m]) => m.dispose());
  store.close();
}
