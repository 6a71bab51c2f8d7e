/**
 * Writing an export so that no partial file ever looks complete: the bytes go to a hidden
 * temporary file beside the target, are flushed to disk, and only then is it renamed to the
 * target's name. Any failure (a full disk, a removed folder) removes the temporary file.
 */
import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { ExportError } from "./errors.js";

/** The one write call, replaceable in tests to fail like a full disk does. */
export type WriteChunk = (fd: number, bytes: Uint8Array, offset: number, length: number) => number;

const chunkBytes = 1 << 20;

export function temporaryPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.partial-${process.pid}-${randomBytes(4).toString("hex")}`);
}

export function writeFileAtomic(
  target: string,
  bytes: Uint8Array,
  what: string,
  writeChunk: WriteChunk = writeSync,
): void {
  let isDir = false;
  try {
    isDir = statSync(target).isDirectory();
  } catch {
    // Not there yet: the usual case.
  }
  if (isDir)
    throw new ExportError(
      "bad-target",
      `${target} is a folder; nothing was written. Name the ${what} file to write, ` +
        `e.g. ${join(target, `session.${what.toLowerCase()}`)}.`,
    );
  const tmp = temporaryPathFor(target);
  let fd: number;
  try {
    fd = openSync(tmp, "wx");
  } catch (err) {
    throw new ExportError(
      "write-failed",
      `Could not create the ${what} file in ${dirname(target)} (${reason(err)}); nothing was written. ` +
        "Check the folder exists and is writable.",
    );
  }
  let written = 0;
  try {
    while (written < bytes.length)
      written += writeChunk(fd, bytes, written, Math.min(chunkBytes, bytes.length - written));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, target);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
    try {
      unlinkSync(tmp);
    } catch {
      // Never created or already gone.
    }
    throw new ExportError(
      "write-failed",
      `Writing the ${what} file ${target} failed after ${written} of ${bytes.length} bytes (${reason(err)}); ` +
        `the partial file was removed and nothing named ${basename(target)} was written. The database is unchanged. ` +
        "Free some space or choose another folder, and export again.",
    );
  }
}

function reason(err: unknown): string {
  if (err instanceof Error) {
    const code = "code" in err && typeof err.code === "string" ? err.code : undefined;
    return code === undefined || err.message.startsWith(code) ? err.message : `${code}: ${err.message}`;
  }
  return String(err);
}
