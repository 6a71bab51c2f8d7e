// Front-end features of a session's images, kept on disk beside the lab database so that a
// retrain over every session the lab has recorded does not run the front end again over images it
// has already seen. One file per (front end, image size, session); it is only used when it holds
// exactly the session's images in the same order, and it is written to a temporary name first.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface CachedFeatures {
  shape: [number, number, number];
  features: Float32Array;
}

interface Header {
  v: 1;
  frontEnd: string;
  imageSize: number;
  shape: [number, number, number];
  /** SHA-256 of the concatenated image keys: the session's images, in order. */
  images: string;
  count: number;
}

const magic = Buffer.from("CLFEAT01", "latin1");

function digest(keys: readonly string[]): string {
  return createHash("sha256").update(keys.join("\n")).digest("hex");
}

/** The cache folder of a database file (`lab.db` → `lab.db.features`); undefined for an in-memory store. */
export function featureCacheDir(dbFile: string): string | undefined {
  if (dbFile === ":memory:" || dbFile === "") return undefined;
  return `${dbFile}.features`;
}

export class FeatureCache {
  constructor(readonly dir: string) {}

  private file(frontEnd: string, imageSize: number, sessionKey: string): string {
    const fe = createHash("sha256").update(`${frontEnd}\n${imageSize}`).digest("hex").slice(0, 16);
    return path.join(this.dir, fe, `${sessionKey.replace(/[^A-Za-z0-9_.-]/g, "_")}.f32`);
  }

  /** The cached features of these images, or undefined when absent, stale or unreadable. */
  get(
    frontEnd: string,
    imageSize: number,
    sessionKey: string,
    imageKeys: readonly string[],
  ): CachedFeatures | undefined {
    const file = this.file(frontEnd, imageSize, sessionKey);
    if (!existsSync(file)) return undefined;
    try {
      const bytes = readFileSync(file);
      if (!bytes.subarray(0, 8).equals(magic)) return undefined;
      const headerLength = bytes.readUInt32LE(8);
      const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString("utf8")) as Header;
      if (
        header.frontEnd !== frontEnd ||
        header.imageSize !== imageSize ||
        header.images !== digest(imageKeys) ||
        header.count !== imageKeys.length
      )
        return undefined;
      const per = header.shape[0] * header.shape[1] * header.shape[2];
      const offset = 12 + headerLength;
      if (bytes.byteLength - offset !== per * header.count * 4) return undefined;
      const features = new Float32Array(per * header.count);
      new Uint8Array(features.buffer).set(bytes.subarray(offset));
      return { shape: header.shape, features };
    } catch {
      return undefined;
    }
  }

  /** Stores features; a failure to write is reported to `log` and otherwise ignored (the cache is only a shortcut). */
  put(
    frontEnd: string,
    imageSize: number,
    sessionKey: string,
    imageKeys: readonly string[],
    value: CachedFeatures,
    log?: (line: string) => void,
  ): void {
    const file = this.file(frontEnd, imageSize, sessionKey);
    const header: Header = {
      v: 1,
      frontEnd,
      imageSize,
      shape: value.shape,
      images: digest(imageKeys),
      count: imageKeys.length,
    };
    const json = Buffer.from(JSON.stringify(header), "utf8");
    const length = Buffer.alloc(4);
    length.writeUInt32LE(json.byteLength);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(
        tmp,
        Buffer.concat([
          magic,
          length,
          json,
          Buffer.from(value.features.buffer, value.features.byteOffset, value.features.byteLength),
        ]),
      );
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      log?.(
        `feature cache: could not write ${file} (${err instanceof Error ? err.message : String(err)}); features ` +
          `will be computed again next time`,
      );
    }
  }
}
