import sharp from "sharp";
import { readdir, readFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { inflateRawSync } from "node:zlib";
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

/** Bytes of one zip entry, read from the whole file in memory (its local header says where the data starts). */
function zipEntryData(buf: Buffer, entry: yauzl.Entry): Buffer {
  const at = entry.relativeOffsetOfLocalHeader;
  if (at + 30 > buf.length || buf.readUInt32LE(at) !== 0x04034b50) throw new Error("bad local file header");
  const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
  if (start + entry.compressedSize > buf.length) throw new Error("entry data runs past the end of the file");
  const raw = buf.subarray(start, start + entry.compressedSize);
  if (entry.isEncrypted()) throw new Error("encrypted entries are not supported");
  let data: Buffer;
  if (entry.compressionMethod === 0) data = Buffer.from(raw);
  else if (entry.compressionMethod === 8) data = inflateRawSync(raw);
  else throw new Error(`unsupported compression method ${entry.compressionMethod}`);
  if (data.length !== entry.uncompressedSize)
    throw new Error(`expected ${entry.uncompressedSize} bytes, got ${data.length}`);
  return data;
}

/**
 * The entries of a zip whose names pass `keep`, in the zip's order. The file is read whole (the
 * banks are a few MB) and each entry inflated in one call: about 8 times faster than a stream per
 * entry (0.1 against 0.8 ms an entry on the V4 image zips).
 */
export async function readZipEntries(
  file: string,
  keep: (name: string) => boolean,
): Promise<{ name: string; data: Buffer }[]> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new ImageDecodeError(file, `not a readable zip file (${err instanceof Error ? err.message : String(err)})`);
  }
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true }, (openErr, zip) => {
      if (openErr || zip === undefined) {
        reject(new ImageDecodeError(file, `not a readable zip file (${openErr?.message ?? "unknown error"})`));
        return;
      }
      const out: { name: string; data: Buffer }[] = [];
      zip.on("entry", (entry: yauzl.Entry) => {
        if (!entry.fileName.endsWith("/") && keep(entry.fileName)) {
          try {
            out.push({ name: entry.fileName, data: zipEntryData(buf, entry) });
          } catch (err) {
            reject(new ImageDecodeError(`${file}:${entry.fileName}`, err instanceof Error ? err.message : String(err)));
            return;
          }
        }
        zip.readEntry();
      });
      zip.on("error", (e: Error) => reject(new ImageDecodeError(file, e.message)));
      zip.on("end", () => resolve(out));
      zip.readEntry();
    });
  });
}
