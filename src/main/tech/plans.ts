/** What a replay or a dry run runs: the protocol written for it, its length, and the names it is stored under. */
import { dirname, isAbsolute, resolve } from "node:path";
import { parseProtocolText } from "../protocol/load.js";
import { protocolSchema, type Protocol } from "../protocol/schema.js";
import { replayProtocol } from "../runner/replay.js";
import type { SessionStore } from "../store/index.js";
import type { JobPlan } from "./jobs.js";
import type { LibraryEntry, TechJobRig } from "./types.js";

/** Presentations a dry run shows at most (each block once, the first images of each). */
export const dryRunPresentations = 40;

function presentationsOf(protocol: Protocol): number {
  return protocol.blocks.reduce((sum, b) => {
    const source = protocol.sources[b.source];
    const n = source?.kind === "stored" ? source.hashes.length : 0;
    return sum + (b.maxImages === undefined ? n : Math.min(n, b.maxImages)) * b.repeats;
  }, 0);
}

/** The replay protocol of a session (the `rig` entry dropped: a replay runs on the rig it is given). */
export function replayOf(store: SessionStore, ref: string | number): { protocol: Protocol; presentations: number } {
  const session = store.findSession(ref);
  let stored: unknown;
  try {
    stored = session === undefined ? undefined : JSON.parse(store.protocolText(session.protocolId));
  } catch {
    stored = undefined;
  }
  if (session !== undefined && !protocolSchema.safeParse(stored).success)
    throw new Error(
      `Session ${session.id} was not recorded from a protocol (an imported recording?), so it cannot be replayed; ` +
        "nothing was started.",
    );
  const { rig: _rig, ...protocol } = replayProtocol(store, ref);
  return { protocol, presentations: presentationsOf(protocol) };
}

export function replayPlan(store: SessionStore, ref: string | number, rig: TechJobRig): JobPlan {
  const session = store.findSession(ref);
  if (session === undefined) throw new Error(`No session "${ref}" in this database; nothing was started.`);
  const { protocol, presentations } = replayOf(store, session.id);
  return {
    kind: "replay",
    rig,
    title: `replay of session #${session.id} (${session.name})`,
    protocol,
    total: presentations,
    sessionName: `replay of ${session.name}${rig === "sim" ? " (simulated rig)" : ""}`,
  };
}

/**
 * A short run of a library protocol: every block once, its first images, at most `limit` presentations in all;
 * folder and zip sources point at the original file's folder.
 */
export function dryRunPlan(entry: LibraryEntry, text: string, rig: TechJobRig, limit = dryRunPresentations): JobPlan {
  if (!entry.valid) throw new Error(`${entry.location} is not a valid protocol (${entry.error}); nothing was started.`);
  const file = entry.origin === "file" ? entry.location : undefined;
  const original = parseProtocolText(entry.location, text).protocol;
  const perBlock = Math.max(1, Math.ceil(limit / original.blocks.length));
  const base = file === undefined ? undefined : dirname(resolve(file));
  const sources: Protocol["sources"] = {};
  for (const [name, source] of Object.entries(original.sources)) {
    sources[name] =
      (source.kind === "folder" || source.kind === "zip") && base !== undefined && !isAbsolute(source.path)
        ? { ...source, path: resolve(base, source.path) }
        : source;
  }
  const blocks = original.blocks.map((b) => ({
    ...b,
    repeats: 1,
    maxImages: Math.min(b.maxImages ?? perBlock, perBlock),
  }));
  const { rig: _rig, ...rest } = original;
  const protocol: Protocol = {
    ...rest,
    name: `dry run of ${original.name}`,
    description: `Dry run of ${entry.location}: each block once, at most ${perBlock} image(s) each.`,
    sources,
    blocks,
  };
  const total = entry.blocks.reduce((sum, b, i) => sum + Math.min(b.images ?? perBlock, blocks[i]!.maxImages), 0);
  return {
    kind: "dry-run",
    rig,
    title: `dry run of ${original.name}`,
    protocol,
    total,
    sessionName: `dry run of ${original.name}${rig === "sim" ? " (simulated rig)" : ""}`,
  };
}
