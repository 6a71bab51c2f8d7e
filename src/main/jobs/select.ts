// Active learning over an image bank: score candidates by ensemble disagreement, keep the top k (or
// a k-centre thinning of the top, or k drawn by power sampling).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { selectBackend } from "../../models/backend.js";
import { selectByDisagreement, type Candidate, type Selected } from "../../models/active/index.js";
import { loadEnsemble } from "../../models/ensemble/index.js";
import { loadFrontEnd, type FrontEndSpec } from "../../models/frontend/index.js";
import type { SessionStore } from "../store/index.js";
import { decodeImage, encodePng, isImageName, readZipEntries, resizeImage } from "../../stimulus/index.js";
import { gaudyBlurred } from "../../stimulus/gaudy-blur.js";
import { readdir, readFile, stat } from "node:fs/promises";

export interface SelectJobOptions {
  modelVersionId: number;
  bank: string;
  k: number;
  /** Candidates are the gaudy versions of the bank's images, blurred first by this sigma (px). */
  gaudySigmaPx?: number;
  coresetPoolFactor?: number;
  /** Power sampling: k drawn with chance ∝ disagreement^power (seeded by `seed`, default 1) instead of the top k. */
  power?: number;
  seed?: number;
  batchSize?: number;
  outDir: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export async function bankEntries(bank: string): Promise<{ name: string; read: () => Promise<Uint8Array> }[]> {
  if ((await stat(bank)).isDirectory()) {
    const names = (await readdir(bank)).filter(isImageName).sort();
    return names.map((name) => ({ name, read: () => readFile(path.join(bank, name)) }));
  }
  // Compressed bytes of a zip are small; images are decoded one batch at a time.
  const entries = await readZipEntries(bank, isImageName);
  return entries.sort((a, b) => (a.name < b.name ? -1 : 1)).map((e) => ({ name: e.name, read: async () => e.data }));
}

export async function selectFromBank(store: SessionStore, options: SelectJobOptions): Promise<Selected[]> {
  const log = options.log ?? (() => {});
  const version = store.getModelVersion(options.modelVersionId);
  if (version === undefined || version.checkpoint === null)
    throw new Error(
      `Model version ${options.modelVersionId} does not exist or has no weights in ${store.file}; run \`cortexloop ` +
        `models\` to list them.`,
    );
  const spec = version.config.frontEndSpec as FrontEndSpec | undefined;
  if (spec === undefined)
    throw new Error(
      `Model version ${options.modelVersionId} does not record its front end (frontEndSpec); retrain it with this ` +
        `cortexloop.`,
    );
  if (options.coresetPoolFactor !== undefined && options.power !== undefined)
    throw new Error("Choose --coreset or --power, not both; nothing was scored.");
  if (options.coresetPoolFactor !== undefined && !(options.coresetPoolFactor >= 1))
    throw new Error(`--coreset must be a pool factor ≥ 1, got ${options.coresetPoolFactor}; nothing was scored.`);
  if (options.power !== undefined && !(options.power >= 0))
    throw new Error(`--power must be a number ≥ 0, got ${options.power}; nothing was scored.`);
  const imageSize = typeof version.config.imageSize === "number" ? version.config.imageSize : 112;
  await selectBackend({ log });
  const { ensemble, frontEnd: trainedOn } = loadEnsemble(version.checkpoint, `model version ${options.modelVersionId}`);
  const frontEnd = await loadFrontEnd({ ...spec, log });
  try {
    if (frontEnd.name !== trainedOn)
      throw new Error(
        `Model version ${options.modelVersionId} was trained on front end ${trainedOn} but ${frontEnd.name} loaded ` +
          `here; install what it used (see src/models/frontend/README.md).`,
      );
    const entries = await bankEntries(options.bank);
    if (entries.length === 0) throw new Error(`The bank ${options.bank} holds no images.`);
    log(
      `scoring ${entries.length} candidates from ${options.bank}` +
        `${options.gaudySigmaPx !== undefined ? ` (gaudy, blur σ=${options.gaudySigmaPx}px)` : ""} with model ` +
        `version ${options.modelVersionId}`,
    );
    const batchSize = options.batchSize ?? 32;
    async function* batches(): AsyncIterable<Candidate[]> {
      for (let i = 0; i < entries.length; i += batchSize) {
        const out: Candidate[] = [];
        for (const e of entries.slice(i, i + batchSize)) {
          let img = await resizeImage(
            await decodeImage(await e.read(), `${options.bank}:${e.name}`),
            imageSize,
            imageSize,
          );
          if (options.gaudySigmaPx !== undefined) img = gaudyBlurred(img, options.gaudySigmaPx);
          out.push({ id: e.name, pixels: img.pixels0to255 });
        }
        yield out;
      }
    }
    const picked = await selectByDisagreement(batches(), {
      ensemble,
      frontEnd,
      imageSize,
      k: options.k,
      coreset: options.coresetPoolFactor ? { poolFactor: options.coresetPoolFactor } : undefined,
      power: options.power !== undefined ? { exponent: options.power, seed: options.seed ?? 1 } : undefined,
      signal: options.signal,
      onProgress: (n) => {
        if (n % (batchSize * 10) === 0 || n === entries.length) log(`scored ${n}/${entries.length}`);
      },
    });
    mkdirSync(options.outDir, { recursive: true });
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const [rank, p] of picked.entries()) {
      let img = await resizeImage(await decodeImage(await byName.get(p.id)!.read(), p.id), imageSize, imageSize);
      if (options.gaudySigmaPx !== undefined) img = gaudyBlurred(img, options.gaudySigmaPx);
      writeFileSync(path.join(options.outDir, `image${String(rank + 1).padStart(4, "0")}.png`), await encodePng(img));
    }
    const rule =
      options.power !== undefined
        ? { power: options.power, seed: options.seed ?? 1 }
        : options.coresetPoolFactor !== undefined
          ? { coreset: options.coresetPoolFactor }
          : "top-k";
    const selected = picked.map((p, i) => ({
      file: `image${String(i + 1).padStart(4, "0")}.png`,
      source: p.id,
      disagreement: p.score,
    }));
    const selection = {
      modelVersionId: options.modelVersionId,
      bank: options.bank,
      gaudySigmaPx: options.gaudySigmaPx ?? null,
      rule,
      selected,
    };
    writeFileSync(path.join(options.outDir, "selection.json"), `${JSON.stringify(selection, null, 2)}\n`);
    return picked;
  } finally {
    ensemble.dispose();
    frontEnd.dispose();
  }
}
