// Stores a causal design: its images (PNG, by SHA-256), each image's provenance and the design, in
// one transaction, and writes the protocol that shows them. Nothing is stored if any step fails.
import { sha256Hex } from "../protocol/index.js";
import type { SessionStore } from "../store/index.js";
import type { CausalDesign, CausalDesignOptions } from "./design.js";
import type { DesignModel, DesignUnit } from "./model-units.js";
import { CausalInputError } from "./errors.js";
import { encodeDesignImages, storeDesignRecord, storedImagesProtocolText } from "./store-images.js";

export interface StoreDesignOptions {
  modelVersionId: number;
  out: string;
  /** Every image is shown this many times, in a new random order each repeat (so kinds interleave). */
  repeats: number;
  name?: string;
  stimulusMs?: number;
  design: CausalDesignOptions;
}

export interface StoredDesign {
  designId: number;
  images: number;
  presentations: number;
  protocolText: string;
}

export async function storeCausalDesign(
  store: SessionStore,
  dm: DesignModel,
  design: CausalDesign,
  o: StoreDesignOptions,
): Promise<StoredDesign> {
  if (!Number.isInteger(o.repeats) || o.repeats < 1)
    throw new CausalInputError("option", `--repeats must be a whole number ≥ 1, got ${o.repeats}.`);
  const { pngs, shas, unique } = await encodeDesignImages(design.images);
  const protocolText = storedImagesProtocolText({
    block: "causal",
    name: o.name ?? `causal-model${o.modelVersionId}`,
    description:
      `Causal test of model version ${o.modelVersionId}: ${dm.units.length} units; maximizing ` +
      `synthesized and normal, adversarial ±, smooth− and random-smoothed images with their bases, among ` +
      `randomly chosen normal images (cortexloop design causal).`,
    seed: o.design.seed,
    timing: o.stimulusMs === undefined ? {} : { stimulusMs: o.stimulusMs },
    hashes: unique,
    repeats: o.repeats,
  });
  const designId = storeDesignRecord(store, {
    pngs,
    imageSize: dm.imageSize,
    origins: design.images.map((im) => `causal:${im.kind}`),
    files: [{ path: o.out, text: protocolText }],
    writeError: (message) => new CausalInputError("output", message),
    insert: () => {
      const detail = {
        options: o.design,
        units: dm.units,
        scale: dm.scale,
        bankImages: design.bankImages,
        seconds: design.seconds,
        saliency: design.saliency.map((s) => ({
          unit: dm.units[s.unit]!.name,
          baseName: s.baseName,
          columns: s.map.columns,
          positions: s.map.positions,
          change: Array.from(s.map.change),
        })),
      };
      return insertCausalDesign(
        store,
        { modelVersionId: o.modelVersionId, protocolText, detail },
        design.images.map((im, i) => {
          const u = dm.units[im.unit]!;
          return {
            sha256: shas[i]!,
            unit: u,
            kind: im.kind,
            baseSha256: im.base === undefined ? null : shas[im.base]!,
            predicted: im.predicted,
          };
        }),
      );
    },
  });
  return { designId, images: unique.length, presentations: unique.length * o.repeats, protocolText };
}

/** One designed image's provenance: its unit (and the model that predicted it), kind, base image and prediction. */
export interface CausalImageRow {
  sha256: string;
  unit: Pick<DesignUnit, "name" | "source" | "modelVersionId">;
  kind: string;
  baseSha256: string | null;
  predicted: number;
}

/**
 * The rows `analyze causal` and the review read: a causal design (its model, protocol and detail) and each of its
 * images' provenance. Call inside the transaction that stores the images; returns the design's id.
 */
export function insertCausalDesign(
  store: SessionStore,
  design: { modelVersionId: number; protocolText: string; detail: unknown },
  images: readonly CausalImageRow[],
): number {
  const info = store.db
    .prepare(
      "INSERT INTO causal_designs (model_version_id, protocol_sha256, detail_json, created_at) VALUES (?, ?, ?, ?)",
    )
    .run(
      design.modelVersionId,
      sha256Hex(design.protocolText),
      JSON.stringify(design.detail),
      new Date().toISOString(),
    );
  const designId = Number(info.lastInsertRowid);
  const row = store.db.prepare(
    "INSERT OR IGNORE INTO causal_images (design_id, stimulus_sha256, unit, kind, base_sha256, predicted, " +
      "model_source, model_version_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  for (const im of images)
    row.run(
      designId,
      im.sha256,
      im.unit.name,
      im.kind,
      im.baseSha256,
      im.predicted,
      im.unit.source,
      im.unit.modelVersionId,
    );
  return designId;
}
