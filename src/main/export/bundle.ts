/**
 * One zip with everything an analyst needs to take a session elsewhere: the CSV files, the exact
 * protocol and rig text, a protocol that replays the session, every stimulus as PNG named by its
 * SHA-256, and a README of the columns.
 */
import { zipSync, type Zippable } from "fflate";
import { replayProtocol } from "../runner/replay.js";
import { SessionReview, defaultCounting } from "../review/index.js";
import type { SessionStore } from "../store/index.js";
import { writeFileAtomic, type WriteChunk } from "./atomic.js";
import { sessionCsvFiles } from "./csv.js";
import { assertFinished, sessionOrThrow } from "./errors.js";
import { safeName, softwareVersion } from "./provenance.js";

export interface SessionBundle {
  fileName: string;
  /** Top folder inside the zip. */
  folder: string;
  /** Entries, relative to the top folder. */
  entries: string[];
  zip: Uint8Array;
}

const encoder = new TextEncoder();

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export function sessionBundle(
  store: SessionStore,
  sessionRef: string | number,
  options: { allowUnfinished?: boolean } = {},
): SessionBundle {
  const session = sessionOrThrow(store, sessionRef);
  assertFinished(store, session, options.allowUnfinished ?? false);
  const folder = `${safeName(session.name)}-${session.id}`;
  const files = new Map<string, Uint8Array>();
  for (const [name, text] of sessionCsvFiles(store, session.id)) files.set(name, encoder.encode(text));
  const protocolText = store.protocolText(session.protocolId);
  const rigText = store.rigText(session.rigId);
  const protocolName = isJson(protocolText) ? "protocol.json" : "protocol.txt";
  const rigName = isJson(rigText) ? "rig.json" : "rig.txt";
  files.set(protocolName, encoder.encode(protocolText));
  files.set(rigName, encoder.encode(rigText));
  let replayNote: string;
  try {
    files.set(
      "replay-protocol.json",
      encoder.encode(`${JSON.stringify(replayProtocol(store, session.id), null, 2)}\n`),
    );
    replayNote =
      "`replay-protocol.json`: a protocol that shows the same stimuli in the same order " +
      "(`cortexloop run` it with this database).";
  } catch (err) {
    replayNote = `No replay protocol: ${err instanceof Error ? err.message : String(err)}`;
  }
  const shas = [...new Set(store.presentations(session.id).map((p) => p.stimulusSha256))];
  const missing: string[] = [];
  for (const sha of shas) {
    const png = store.getStimulusPng(sha);
    if (png === undefined) missing.push(sha);
    else files.set(`stimuli/${sha}.png`, new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
  }
  const counting = new SessionReview(store, session.id).counting(defaultCounting);
  const readme = bundleReadme({
    session: {
      id: session.id,
      uuid: session.uuid,
      name: session.name,
      createdAt: session.createdAt,
      state: store.sessionState(session.id),
    },
    countWindow: session.countWindow,
    counting: counting.text,
    protocolName,
    rigName,
    replayNote,
    stimuli: shas.length - missing.length,
    missing,
  });
  files.set("README.md", encoder.encode(readme));
  const tree: Zippable = {};
  const entries = [...files.keys()].sort();
  // PNGs are already compressed: store them, deflate the text.
  for (const name of entries) tree[`${folder}/${name}`] = [files.get(name)!, { level: name.endsWith(".png") ? 0 : 6 }];
  const zip = zipSync(tree, { mtime: new Date(session.createdAt) });
  return { fileName: `${folder}.zip`, folder, entries, zip };
}

export function writeSessionBundle(
  store: SessionStore,
  sessionRef: string | number,
  target: string,
  options: { allowUnfinished?: boolean } = {},
  writeChunk?: WriteChunk,
): SessionBundle {
  const bundle = sessionBundle(store, sessionRef, options);
  writeFileAtomic(target, bundle.zip, "zip", writeChunk);
  return bundle;
}

interface ReadmeFacts {
  session: { id: number; uuid: string; name: string; createdAt: string; state: string };
  countWindow: { startMs: number; endMs: number; bins: number };
  counting: string;
  protocolName: string;
  rigName: string;
  replayNote: string;
  stimuli: number;
  missing: string[];
}

/** The columns of every file, as the bundle's README documents them. */
export const bundleColumns: Record<string, [string, string][]> = {
  "presentations.csv": [
    ["idx", "presentation number in the session, from 0"],
    ["block", "protocol block it belongs to"],
    ["stimulus_sha256", "SHA-256 of the stimulus PNG (stimuli/<sha256>.png)"],
    ["event_code", "event code sent to the rig for this presentation"],
    ["scheduled_ms", "when it was planned, ms from the session's start (controller clock)"],
    ["shown_ms", "when the display reported the flip, ms from the session's start; empty when not shown"],
    ["duration_ms", "how long the stimulus stayed on"],
    ["status", "shown, unconfirmed (the event code was not confirmed) or skipped"],
    ["onset_sample", "TTL onset on the rig's clock (samples); counts are aligned on it"],
    ["counts_complete", "true: complete counts; false: incomplete (excluded from means); empty: none stored"],
  ],
  "units.csv": [
    ["unit_id", "the database's unit id"],
    ["electrode", "electrode (channel) label from the rig"],
    ["sorted_id", "the spike sorter's unit number on that electrode"],
  ],
  "spike_counts.csv": [
    ["presentation_idx", "presentations.csv idx"],
    ["unit_id", "units.csv unit_id"],
    ["bin", "bin of the count window, from 0"],
    ["count", "spikes in that bin"],
    ["counts_complete", "whether the presentation's counts are complete (as in presentations.csv)"],
  ],
  "responses.csv": [
    ["stimulus_sha256", "the stimulus"],
    ["block", "block of its first presentation"],
    ["unit_id", "units.csv unit_id"],
    ["presentations", "presentations of this stimulus"],
    ["n_counted", "repeats averaged (counted presentations with a value for this unit)"],
    ["n_incomplete", "presentations of this stimulus with incomplete counts"],
    ["counted", "complete: incomplete counts were excluded; complete+incomplete: they were included"],
    ["mean_count", "mean spikes in the whole count window over the counted repeats"],
    ["sem_count", "standard error of that mean (empty with fewer than 2 repeats)"],
  ],
  "faults.csv": [
    ["fault_id", "the database's fault id"],
    ["at", "when it was recorded (ISO 8601, UTC)"],
    ["code", "fault code from a closed set (heartbeat-lost, counts-incomplete, ...)"],
    ["message", "what happened, what was kept"],
    ["presentation_idxs", "presentations it concerns, space-separated"],
  ],
};

function bundleReadme(f: ReadmeFacts): string {
  const sw = softwareVersion();
  const lines = [
    `# Session ${f.session.id}: ${f.session.name}`,
    "",
    `- uuid: ${f.session.uuid}`,
    `- created: ${f.session.createdAt}; state when exported: ${f.session.state}`,
    `- count window: ${f.countWindow.startMs}–${f.countWindow.endMs} ms after onset, in ${f.countWindow.bins} bin(s)`,
    `- means: ${f.counting}`,
    `- exported by ${sw.name} ${sw.version} on ${new Date().toISOString()}`,
    "",
    "## Files",
    "",
    "- `presentations.csv`, `units.csv`, `spike_counts.csv`, `responses.csv`, `faults.csv`: columns below.",
    `- \`${f.protocolName}\`: the exact protocol text the session ran.`,
    `- \`${f.rigName}\`: the exact rig configuration text.`,
    `- ${f.replayNote}`,
    `- \`stimuli/<sha256>.png\`: the ${f.stimuli} stimuli shown, each named by the SHA-256 of its PNG bytes.`,
    ...(f.missing.length > 0 ? [`- Not in the database, so not here: ${f.missing.join(", ")}`] : []),
    "- `README.md`: this file.",
    "",
  ];
  for (const [file, cols] of Object.entries(bundleColumns)) {
    lines.push(`## ${file}`, "", "| column | meaning |", "|---|---|");
    for (const [c, m] of cols) lines.push(`| ${c} | ${m} |`);
    lines.push("");
  }
  return lines.join("\n");
}
