/**
 * The live endpoint record: `run --serve` and `campaign --serve` write `<db>.live.json` beside the database (the live
 * view's URL and token, the process id, when it started), so the desktop app open on the same database can attach to
 * the running session. Written atomically with mode 0600 (it holds the token); removed when the process ends normally;
 * a record whose process is gone is stale: readers ignore it and the next writer replaces it.
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";

export interface LiveEndpointRecord {
  /** The web API's base URL (http://127.0.0.1:<port>). */
  url: string;
  token: string;
  pid: number;
  startedAt: string;
  /** Which command serves it. */
  kind: "run" | "campaign";
}

const recordSchema = z
  .object({
    url: z.string().regex(/^http:\/\/[^/?#\s]+$/, "an http:// base URL"),
    token: z.string().min(1).max(512),
    pid: z.number().int().positive(),
    startedAt: z.string().min(1).max(64),
    kind: z.enum(["run", "campaign"]),
  })
  .strict();

/** What a reader finds beside a database. */
export type LiveEndpointLookup =
  { state: "running"; file: string; record: LiveEndpointRecord } | { state: "none"; file: string; message: string };

/** The record's path for a database file (undefined for an in-memory database). */
export function liveEndpointPath(db: string): string | undefined {
  if (db === ":memory:" || db === "") return undefined;
  return `${resolve(db)}.live.json`;
}

/** Whether a process with this id exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reads the record beside `db`; a missing, unreadable or stale one reads as none, with the reason. */
export function readLiveEndpoint(db: string, alive: (pid: number) => boolean = processAlive): LiveEndpointLookup {
  const file = liveEndpointPath(db);
  if (file === undefined)
    return { state: "none", file: "", message: "This database is in memory; no session can be attached to it." };
  const none = (why: string): LiveEndpointLookup => ({
    state: "none",
    file,
    message:
      `No session runs with --serve on ${resolve(db)} (${why}). Start one with ` +
      `\`cortexloop run <protocol> --db ${resolve(db)} --serve\` (or \`campaign --serve\`).`,
  });
  if (!existsSync(file)) return none("no live endpoint file");
  let record: LiveEndpointRecord;
  try {
    const parsed = recordSchema.safeParse(JSON.parse(readFileSync(file, "utf8")) as unknown);
    if (!parsed.success) return none(`${file} is not a live endpoint record; it was ignored`);
    record = parsed.data;
  } catch (err) {
    return none(`${file} could not be read (${err instanceof Error ? err.message : String(err)}); it was ignored`);
  }
  if (!alive(record.pid)) return none(`the record left by process ${record.pid} is stale: that process has ended`);
  return { state: "running", file, record };
}

/** A written record: `remove()` deletes it if it is still this one (idempotent; also runs at process exit). */
export interface LiveEndpointHandle {
  file: string;
  remove(): void;
}

/**
 * Writes the record for this process (atomically: a 0600 temporary file renamed over). A record of another process
 * that is still alive is kept (that session stays the one the desktop attaches to) and undefined is returned, with
 * the reason logged.
 */
export function writeLiveEndpoint(
  db: string,
  endpoint: { url: string; token: string; kind: LiveEndpointRecord["kind"] },
  log: (line: string) => void = () => {},
  options: { pid?: number; alive?: (pid: number) => boolean } = {},
): LiveEndpointHandle | undefined {
  const file = liveEndpointPath(db);
  if (file === undefined) return undefined;
  const pid = options.pid ?? process.pid;
  const existing = readLiveEndpoint(db, options.alive);
  if (existing.state === "running" && existing.record.pid !== pid) {
    log(
      `another session (process ${existing.record.pid}) already serves ${file}; the desktop app attaches to that ` +
        `one, this one is reached by the URL printed here`,
    );
    return undefined;
  }
  const record: LiveEndpointRecord = { ...endpoint, pid, startedAt: new Date().toISOString() };
  const tmp = `${file}.${pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(record, null, 1)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing was written.
    }
    log(
      `could not write the live endpoint file ${file} (${err instanceof Error ? err.message : String(err)}); ` +
        `the desktop app will not find this session, open the printed URL instead`,
    );
    return undefined;
  }
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    process.off("exit", remove);
    try {
      const now = JSON.parse(readFileSync(file, "utf8")) as { pid?: unknown; startedAt?: unknown };
      if (now.pid === record.pid && now.startedAt === record.startedAt) unlinkSync(file);
    } catch {
      // Already gone, or replaced by another process: not ours to remove.
    }
  };
  process.on("exit", remove);
  return { file, remove };
}
