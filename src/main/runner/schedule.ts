import { dirname, resolve } from "node:path";
import type { Block, ImageSource, Protocol } from "../protocol/schema.js";
import type { SessionStore } from "../store/store.js";
import {
  decodeImage,
  encodePng,
  generateImages,
  readImageFolder,
  readImageZip,
  Random,
  type RgbImage,
} from "../../stimulus/index.js";

export interface StoredImage {
  sha256: string;
  image: RgbImage;
}

export interface ScheduledPresentation {
  idx: number;
  block: string;
  sha256: string;
  image: RgbImage;
}

/** Loads a source's images, stores each PNG once by content hash, and returns them in source order. */
export async function resolveSource(
  source: ImageSource,
  protocolFile: string,
  store: SessionStore,
): Promise<StoredImage[]> {
  const base = dirname(resolve(protocolFile));
  if (source.kind === "stored") {
    const out: StoredImage[] = [];
    const cache = new Map<string, RgbImage>();
    for (const sha of source.hashes) {
      let image = cache.get(sha);
      if (image === undefined) {
        const png = store.getStimulusPng(sha);
        if (png === undefined) {
          throw new Error(
            `Stimulus ${sha} named by ${protocolFile} is not in the database ${store.file}; nothing was run. Use ` +
              `the database the session was recorded in.`,
          );
        }
        image = await decodeImage(png, `stimulus ${sha}`);
        cache.set(sha, image);
      }
      out.push({ sha256: sha, image });
    }
    return out;
  }
  let images: { image: RgbImage; origin: string }[];
  if (source.kind === "generator") {
    images = generateImages(source.generator, source.count, source.size, source.seed).map((image, i) => ({
      image,
      origin: `${source.generator}:${source.seed}:${i}`,
    }));
  } else {
    const path = resolve(base, source.path);
    const named = source.kind === "folder" ? await readImageFolder(path) : await readImageZip(path);
    if (named.length === 0)
      throw new Error(
        `${path} holds no PNG or JPEG images; nothing was run. Point the protocol's source at a folder or zip of ` +
          `images.`,
      );
    images = named.map((n) => ({ image: n, origin: `${source.kind}:${source.path}:${n.name}` }));
  }
  const out: StoredImage[] = [];
  for (const { image, origin } of images) {
    const png = await encodePng(image);
    const sha256 = store.putStimulus(png, { width: image.width, height: image.height, channels: 3, origin });
    out.push({ sha256, image: { width: image.width, height: image.height, pixels0to255: image.pixels0to255 } });
  }
  return out;
}

/** The exact sequence of presentations a protocol asks for, deterministic from its seed. */
export function expandBlocks(protocol: Protocol, sources: Map<string, StoredImage[]>): ScheduledPresentation[] {
  const out: ScheduledPresentation[] = [];
  protocol.blocks.forEach((block: Block, b) => {
    const all = sources.get(block.source);
    if (all === undefined)
      throw new Error(`expandBlocks: block "${block.name}" names unknown source "${block.source}"`);
    const items = block.maxImages === undefined ? all : all.slice(0, block.maxImages);
    const rng = new Random((protocol.seed * 1000003 + b * 7919) >>> 0);
    const once = block.order === "shuffle" ? rng.shuffle(items) : items;
    for (let r = 0; r < block.repeats; r++) {
      const order = block.order === "shuffle-each-repeat" ? rng.shuffle(items) : once;
      for (const item of order)
        out.push({ idx: out.length, block: block.name, sha256: item.sha256, image: item.image });
    }
  });
  return out;
}

export async function buildSchedule(
  protocol: Protocol,
  protocolFile: string,
  store: SessionStore,
): Promise<ScheduledPresentation[]> {
  const sources = new Map<string, StoredImage[]>();
  for (const name of new Set(protocol.blocks.map((b) => b.source))) {
    sources.set(name, await resolveSource(protocol.sources[name]!, protocolFile, store));
  }
  return expandBlocks(protocol, sources);
}
