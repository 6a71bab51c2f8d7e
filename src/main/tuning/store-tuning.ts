// Stores a tuning sweep: its images (PNG, by SHA-256), each image's parameters and every unit's
// prediction, and the design with its predicted curves, in one transaction; writes the protocol that
// shows the images (and the curves' CSV when asked). Nothing is stored or written if any step fails.
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { encodePng } from "../../stimulus/index.js";
import { protocolSchema, sha256Hex } from "../protocol/index.js";
import type { Timing } from "../protocol/schema.js";
import type { SessionStore } from "../store/index.js";
import type { DesignModel } from "../causal/model-units.js";
import type { TuningDesign, TuningSpec } from "./design.js";
import { TuningInputError } from "./errors.js";
import { tuningCsv } from "./report.js";

export interface StoreTuningOptions {
  modelVersionId: number;
  out: string;
  /** Also write the predicted curves here. */
  csv?: string;
  /** Every image is shown this many times, in a new random order each repeat (so the conditions interleave). */
  repeats: number;
  seed: number;
  spec: TuningSpec;
  name?: string;
  timing?: Partial<Timing>;
}

export interface StoredTuning {
  designId: number;
  images: number;
  presentations: number;
  protocolText: string;
}

function writeTemp(file: string, text: string): string {
  const tmp = `${file}.tmp`;
  try {
    writeFileSync(tmp, text);
  } catch (err) {
    throw new TuningInputError(
      "output",
      `Could not write ${file} (${err instanceof Error ? err.message : String(err)}).`,
    );
  }
  return tmp;
}

export async function storeTuningDesign(
  store: SessionStore,
  dm: DesignModel,
  design: TuningDesign,
  o: StoreTuningOptions,
): Promise<StoredTuning> {
  if (!Number.isInteger(o.repeats) || o.repeats < 1)
    throw new TuningInputError("option", `--repeats must be a whole number ≥ 1, got ${o.repeats}.`);
  const pngs = await Promise.all(design.images.map((im) => encodePng(im.image)));
  const shas = pngs.map((png) => sha256Hex(png));
  const unique = [...new Set(shas)];
  const sweeps = [...new Set(design.images.map((im) => im.sweep))];
  const protocol = {
    version: 1,
    name: o.name ?? `tuning-${design.kind}-model${o.modelVersionId}`,
    description:
      `Tuning sweep (${design.kind}: ${sweeps.join(", ")}) for ${dm.units.length} units of model version ` +
      `${o.modelVersionId}; each image shown ${o.repeats} times, in a new random order each repeat ` +
      `(cortexloop design tuning).`,
    seed: o.seed,
    timing: { fixationMs: 300, stimulusMs: 100, interStimulusMs: 200, ...o.timing },
    sources: { tuning: { kind: "stored", hashes: unique } },
    blocks: [{ name: "tuning", source: "tuning", repeats: o.repeats, order: "shuffle-each-repeat" }],
  };
  protocolSchema.parse(protocol);
  const protocolText = `${JSON.stringify(protocol, null, 2)}\n`;
  const temps: string[] = [];
  const renamed: string[] = [];
  let designId = 0;
  try {
    const tmp = writeTemp(o.out, protocolText);
    temps.push(tmp);
    const csvTmp = o.csv === undefined ? undefined : writeTemp(o.csv, tuningCsv(dm.units, design));
    if (csvTmp !== undefined) temps.push(csvTmp);
    store.db.transaction(() => {
      pngs.forEach((png, i) =>
        store.putStimulus(png, {
          width: dm.imageSize,
          height: dm.imageSize,
          channels: 3,
          origin: `tuning:${design.images[i]!.sweep}`,
        }),
      );
      const detail = {
        spec: o.spec,
        units: dm.units,
        scale: dm.scale,
        sweeps: design.sweeps,
      };
      const info = store.db
        .prepare(
          "INSERT INTO tuning_designs (model_version_id, family, protocol_sha256, detail_json, created_at) " +
            "VALUES (?, ?, ?, ?, ?)",
        )
        .run(o.modelVersionId, design.kind, sha256Hex(protocolText), JSON.stringify(detail), new Date().toISOString());
      designId = Number(info.lastInsertRowid);
      const row = store.db.prepare(
        "INSERT OR IGNORE INTO tuning_images (design_id, stimulus_sha256, sweep, params_json, predicted_json) " +
          "VALUES (?, ?, ?, ?, ?)",
      );
      design.images.forEach((im, i) => {
        const predicted = Object.fromEntries(dm.units.map((u, k) => [u.name, design.predicted[i]![k]!]));
        row.run(designId, shas[i]!, im.sweep, JSON.stringify(im.params), JSON.stringify(predicted));
      });
      // Last inside the transaction: files that cannot be put in place store nothing.
      if (csvTmp !== undefined) {
        renameSync(csvTmp, o.csv!);
        renamed.push(o.csv!);
      }
      renameSync(tmp, o.out);
    })();
  } catch (err) {
    for (const f of [...temps, ...renamed]) rmSync(f, { force: true });
    throw err;
  }
  return { designId, images: unique.length, presentations: unique.length * o.repeats, protocolText };
}
