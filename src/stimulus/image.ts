import sharp from "sharp";
import { readdir, readFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import yauzl from "yauzl";

/** An image in memory: row-major RGB, 0..255. */
export interface RgbImage {
  width: number;
  height: number;
  pixels0to255: Uint8Array;
}

export interface NamedImage extends RgbImage {
  name: string;
}

export class ImageDecodeError extends Error {
  readonly code = "image-decode";
  constructor(
    readonly source: string,
    reason: string,
  ) {
    super(
      `Could not decode image ${source}: ${reason}. Nothing was stored from it; replace or remove the file and try ` +
        `again.`,
    );
    this.name = "ImageDecodeError";
  }
}

const imageExtensions = new Set([".png", ".jpg", ".jpeg"]);

export function isImageName(name: string): boolean {
  return imageExtensions.has(extname(name).toLowerCase()) && !basename(name).startsWith(".");
}

/** Decodes PNG or JPEG bytes to RGB (alpha dropped, greyscale expanded). */
export async function decodeImage(bytes: Uint8Array, source: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes)
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    return {
      width: info.width,
      height: info.height,
      pixels0to255: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  } catch (err) {
    throw new ImageDecodeError(source, err instanceof Error ? err.message : String(err));
  }
}

/** Encodes RGB pixels as PNG; identical pixels give identical bytes, so content hashes are stable. */
export async function encodePng(image: RgbImage): Promise<Buffer> {
  assertImage(image, "encodePng");
  return sharp(Buffer.from(image.pixels0to255.buffer, image.pixels0to255.byteOffset, image.pixels0to255.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
    .toBuffer();
}

export async function encodeJpeg(image: RgbImage, quality = 90): Promise<Buffer> {
  assertImage(image, "encodeJpeg");
  return sharp(Buffer.from(image.pixels0to255), { raw: { width: image.width, height: image.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}

/** Resizes to exactly width x height (models and displays want fixed sizes). */
export async function resizeImage(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const data = await sharp(Buffer.from(image.pixels0to255), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize(width, height, { fit: "fill" })
    .raw()
    .toBuffer();
  return { width, height, pixels0to255: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function assertImage(image: RgbImage, where: string): void {
  const expected = image.width * image.height * 3;
  if (image.pixels0to255.length !== expected) {
    throw new Error(
      `${where}: ${image.width}x${image.height} RGB needs ${expected} bytes, got ${image.pixels0to255.length}`,
    );
  }
}

/** Reads every PNG/JPEG of a folder (sorted by name). A broken file is an ImageDecodeError naming it. */
export async function readImageFolder(dir: string): Promise<NamedImage[]> {
  const names = (await readdir(dir)).filter(isImageName).sort();
  const out: NamedImage[] = [];
  for (const name of names) {
    const path = join(dir, name);
    out.push({ name, ...(await decodeImage(await readFile(path), path)) });
  }
  return out;
}

/** Lists and reads the image entries of a zip (sorted by entry name). */
export async function readImageZip(file: string): Promise<NamedImage[]> {
  const entries = await readZipEntries(file, isImageName);
  const out: NamedImage[] = [];
  for (const { name, data } of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    out.push({ name, ...(await decodeImage(data, `${file}:${name}`)) });
  }
  return out;
}

export function readZipEntries(
  file: string,
  keep: (name: string) => boolean,
): Promise<{ name: string; data: Buffer }[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (openErr, zip) => {
      if (openErr || zip === undefined) {
        reject(new ImageDecodeError(file, `not a readable zip file (${openErr?.message ?? "unknown error"})`));
        return;
      }
      const out: { name: string; data: Buffer }[] = [];
      zip.on("entry", (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith("/") || !keep(entry.fileName)) {
          zip.readEntry();
          return;
        }
        zip.openReadStream(entry, (err, stream) => {
          if (err || stream === undefined) {
            reject(new ImageDecodeError(`${file}:${entry.fileName}`, err?.message ?? "unreadable entry"));
            return;
          }
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("error", (e: Error) => reject(new ImageDecodeError(`${file}:${entry.fileName}`, e.message)));
          stream.on("end", () => {
            out.push({ name: entry.fileName, data: Buffer.concat(chunks) });
            zip.readEntry();
          });
        });
      });
      zip.on("error", (e: Error) => reject(new ImageDecodeError(file, e.message)));
      zip.on("end", () => resolve(out));
      zip.readEntry();
    });
  });
}
