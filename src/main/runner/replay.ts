import type { Protocol } from "../protocol/schema.js";
import { protocolSchema } from "../protocol/schema.js";
import type { SessionStore } from "../store/store.js";

/**
 * A protocol that replays a stored session's exact sequence of stimuli: one `stored` source and one
 * sequential block per run of consecutive presentations of the same block; timing, seed and count window kept.
 */
export function replayProtocol(store: SessionStore, sessionRef: string | number): Protocol {
  const session = store.findSession(sessionRef);
  if (session === undefined)
    throw new Error(`No session "${sessionRef}" in ${store.file}; run \`cortexloop sessions\` to list them.`);
  const original = protocolSchema.parse(JSON.parse(store.protocolText(session.protocolId)));
  const presented = store.presentations(session.id).filter((p) => p.status !== "skipped");
  if (presented.length === 0) throw new Error(`Session ${session.uuid} has no presentations to replay.`);
  const runs: { block: string; hashes: string[] }[] = [];
  for (const p of presented) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.block === p.block) last.hashes.push(p.stimulusSha256);
    else runs.push({ block: p.block, hashes: [p.stimulusSha256] });
  }
  const sources: Protocol["sources"] = {};
  const blocks: Protocol["blocks"] = [];
  runs.forEach((run, i) => {
    const name = `replay-${String(i + 1).padStart(3, "0")}`;
    sources[name] = { kind: "stored", hashes: run.hashes };
    blocks.push({ name: run.block, source: name, repeats: 1, order: "sequential" });
  });
  const baseName = original.name.replace(/^replay of /, "");
  return {
    version: 1,
    name: `replay of ${baseName}`,
    description: `Exact replay of session ${session.uuid} (${presented.length} presentations).`,
    ...(original.rig === undefined ? {} : { rig: original.rig }),
    seed: original.seed,
    timing: original.timing,
    countWindow: session.countWindow,
    sources,
    blocks,
  };
}
