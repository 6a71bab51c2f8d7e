// Stores a tuning sweep: its images (PNG, by SHA-256), each image's parameters and every unit's
// prediction, and the design with its predicted curves, in one transaction; writes the protocol that
// shows the images (and the curves' CSV when asked). Nothing is stored or written if any step fails.
import { sha256Hex } from "../protocol/index.js";
import type { Timing } from "../protocol/schema.js";
import type { SessionStore } from "../store/index.js";
import type { DesignModel } from "../causal/model-units.js";
import { encodeDesignImages, storeDesignRecord, storedImagesProtocolText } from "../causal/store-images.js";
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

export async function storeTuningDesign(
  store: SessionStore,
  dm: DesignModel,
  design: TuningDesign,
  o: StoreTuningOptions,
): Promise<StoredTuning> {
  if (!Number.isInteger(o.repeats) || o.repeats < 1)
    throw new TuningInputError("option", `--repeats must be a whole number ≥ 1, got ${o.repeats}.`);
  const { pngs, shas, unique } = await encodeDesignImages(design.images);
  const sweeps = [...new Set(design.images.map((im) => im.sweep))];
  const protocolText = storedImagesProtocolText({
    block: "tuning",
    name: o.name ?? `tuning-${design.kind}-model${o.modelVersionId}`,
    description:
      `Tuning sweep (${design.kind}: ${sweeps.join(", ")}) for ${dm.units.length} units of model version ` +
      `${o.modelVersionId}; each image shown ${o.repeats} times, in a new random order each repeat ` +
      `(cortexloop design tuning).`,
    seed: o.seed,
    timing: o.timing ?? {},
    hashes: unique,
    repeats: o.repeats,
  });
  const designId = storeDesignRecord(store, {
    pngs,
    imageSize: dm.imageSize,
    origins: design.images.map((im) => `tuning:${im.sweep}`),
    files: [
      { path: o.out, text: protocolText },
      ...(o.csv === undefined ? [] : [{ path: o.csv, text: tuningCsv(dm.units, design) }]),
    ],
    writeError: (message) => new TuningInputError("output", message),
    insert: () => {
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
      const designId = Number(info.lastInsertRowid);
      const row = store.db.prepare(
        "INSERT OR IGNORE INTO tuning_images (design_id, stimulus_sha256, sweep, params_json, predicted_json) " +
          "VALUES (?, ?, ?, ?, ?)",
      );
      design.images.forEach((im, i) => {
        const predicted = Object.fromEntries(dm.units.map((u, k) => [u.name, design.predicted[i]![k]!]));
        row.run(designId, shas[i]!, im.sweep, JSON.stringify(im.params), JSON.stringify(predicted));
      });
      return designId;
    },
  });
  return { designId, images: unique.length, presentations: unique.length * o.repeats, protocolText };
}
