import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import {
  decodeImage,
  generateImages,
  isImageName,
  Random,
  readZipEntries,
  resizeImage,
  type RgbImage,
} from "../../stimulus/index.js";

/** One picture of the natural-image bank. `id` is unique in the bank; `origin` says where it came from. */
export interface BankImage {
  id: string;
  origin: string;
  image: RgbImage;
}

export interface ImageBank {
  kind: "v4-images" | "generated";
  /** One line a person reads: what the bank is and how big. */
  description: string;
  images: BankImage[];
}

export interface BankOptions {
  /** Folder of images_<session>.zip (shared/data/v4/images); when absent or empty, images are generated. */
  imagesDir?: string;
  /** How many images to keep (a seeded sample of the zips, or this many generated). */
  count: number;
  /** Side of the square images, in pixels. */
  size: number;
  seed: number;
  log?: (line: string) => void;
}

/** The default place of the V4 image zips, next to the repository. */
export function defaultImagesDir(cwd = process.cwd()): string {
  return join(cwd, "..", "shared", "data", "v4", "images");
}

function pixelKey(image: RgbImage): string {
  return createHash("sha256").update(image.pixels0to255).digest("hex");
}

/**
 * The campaign's natural-image bank: a seeded sample of the ~9,000 V4 session images when the zips
 * are present, else generated gratings, dots and noise (so a campaign runs without ../shared).
 * Pictures identical after resizing are kept once: a test image must never reappear under another name.
 */
export async function loadImageBank(options: BankOptions): Promise<ImageBank> {
  const log = options.log ?? (() => {});
  const dir = options.imagesDir;
  const zips =
    dir !== undefined && existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => /^images_.*\.zip$/.test(f))
          .sort()
      : [];
  if (zips.length > 0) {
    const entries: { zip: string; name: string; data: Buffer }[] = [];
    for (const zip of zips)
      for (const e of await readZipEntries(join(dir!, zip), isImageName))
        entries.push({ zip, name: e.name, data: e.data });
    entries.sort((a, b) => (a.zip + a.name < b.zip + b.name ? -1 : 1));
    const order = new Random(options.seed).shuffle(entries);
    const images: BankImage[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    for (const e of order) {
      if (images.length >= options.count) break;
      const image = await resizeImage(await decodeImage(e.data, `${e.zip}:${e.name}`), options.size, options.size);
      const key = pixelKey(image);
      if (seen.has(key)) {
        duplicates++;
        continue;
      }
      seen.add(key);
      images.push({ id: `${e.zip.replace(/\.zip$/, "")}/${e.name}`, origin: `v4:${e.zip}:${e.name}`, image });
      if (images.length % 500 === 0) log(`image bank: decoded ${images.length}/${options.count}`);
    }
    return {
      kind: "v4-images",
      description:
        `${images.length} images sampled from ${entries.length} in ${zips.length} V4 session zips (` +
        `${dir}); ${duplicates} duplicates skipped`,
      images,
    };
  }
  const per = Math.ceil(options.count / 3);
  const families = ["gratings", "dots", "noise"] as const;
  const images: BankImage[] = [];
  const seen = new Set<string>();
  families.forEach((g, f) => {
    generateImages(g, per, options.size, options.seed * 31 + f).forEach((image, i) => {
      const key = pixelKey(image);
      if (seen.has(key)) return;
      seen.add(key);
      images.push({ id: `${g}/${i}`, origin: `generator:${g}:${options.seed * 31 + f}:${i}`, image });
    });
  });
  const mixed = new Random(options.seed + 1).shuffle(images).slice(0, options.count);
  return {
    kind: "generated",
    description:
      `${mixed.length} generated images (gratings, dots, noise; no V4 image zips` +
      `${dir !== undefined ? ` in ${dir}` : ""})`,
    images: mixed,
  };
}
