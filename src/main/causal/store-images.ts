// Stores a design made from a model (its images as PNG by SHA-256, then the design's own rows) in one
// transaction, putting the files that show it in place last: nothing is stored or written if any step fails.
// Shared by `design causal` and `design tuning`.
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { encodePng, type RgbImage } from "../../stimulus/index.js";
import { protocolSchema, sha256Hex } from "../protocol/index.js";
import type { Timing } from "../protocol/schema.js";
import type { SessionStore } from "../store/index.js";

export interface EncodedImages {
  /** Each image as PNG, in the design's order. */
  pngs: Uint8Array[];
  shas: string[];
  /** The distinct hashes, in order of first appearance: what the protocol shows. */
  unique: string[];
}

export async function encodeDesignImages(images: readonly { image: RgbImage }[]): Promise<EncodedImages> {
  const pngs = await Promise.all(images.map((im) => encodePng(im.image)));
  const shas = pngs.map((png) => sha256Hex(png));
  return { pngs, shas, unique: [...new Set(shas)] };
}

/**
 * The text of the protocol that shows a design's stored images in one block, each `repeats` times in a new
 * random order each repeat (so the design's kinds interleave); checked against the protocol schema.
 */
export function storedImagesProtocolText(p: {
  /** The block's and its source's name. */
  block: string;
  name: string;
  description: string;
  seed: number;
  timing: Partial<Timing>;
  hashes: string[];
  repeats: number;
}): string {
  const protocol = {
    version: 1,
    name: p.name,
    description: p.description,
    seed: p.seed,
    timing: { fixationMs: 300, stimulusMs: 100, interStimulusMs: 200, ...p.timing },
    sources: { [p.block]: { kind: "stored", hashes: p.hashes } },
    blocks: [{ name: p.block, source: p.block, repeats: p.repeats, order: "shuffle-each-repeat" }],
  };
  protocolSchema.parse(protocol);
  return `${JSON.stringify(protocol, null, 2)}\n`;
}

export interface DesignRecord {
  pngs: readonly Uint8Array[];
  /** Side of every (square, RGB) image in pixels. */
  imageSize: number;
  /** Where each image came from, e.g. `causal:adversarial-plus`. */
  origins: readonly string[];
  /** Written to `<path>.tmp` first, put in place in this order last inside the transaction. */
  files: readonly { path: string; text: string }[];
  /** Inserts the design's row and its images' rows (inside the transaction); returns the design's id. */
  insert: () => number;
  /** The error to throw when a file cannot be written (its message says which and why). */
  writeError: (message: string) => Error;
}

/** Stores the images and the design, and puts its files in place, all or nothing; returns the design's id. */
export function storeDesignRecord(store: SessionStore, r: DesignRecord): number {
  const temps: string[] = [];
  const placed: string[] = [];
  let designId = 0;
  try {
    for (const f of r.files) {
      const tmp = `${f.path}.tmp`;
      temps.push(tmp);
      try {
        writeFileSync(tmp, f.text);
      } catch (err) {
        throw r.writeError(`Could not write ${f.path} (${err instanceof Error ? err.message : String(err)}).`);
      }
    }
    store.db.transaction(() => {
      r.pngs.forEach((png, i) =>
        store.putStimulus(png, { width: r.imageSize, height: r.imageSize, channels: 3, origin: r.origins[i]! }),
      );
      designId = r.insert();
      // Last inside the transaction: files that cannot be put in place store nothing.
      r.files.forEach((f, k) => {
        renameSync(temps[k]!, f.path);
        placed.push(f.path);
      });
    })();
  } catch (err) {
    for (const f of [...temps, ...placed]) rmSync(f, { force: true });
    throw err;
  }
  return designId;
}
