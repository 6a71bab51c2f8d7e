/**
 * A session as an NWB 2.7 file (Neurodata Without Borders, the field's exchange format): the
 * units, every presentation as a row of a TimeIntervals table (times, event code, stimulus,
 * block, status, TTL onset, counts state, spike counts per unit and bin), the stimulus images as
 * templates with an IndexSeries of what was shown when, the faults as a second TimeIntervals
 * table, the protocol and rig text, and the software that wrote it.
 */
import { randomBytes } from "node:crypto";
import type { Group } from "h5wasm";
import { decodeImage } from "../../stimulus/index.js";
import { SessionReview, defaultCounting, type SessionCounts } from "../review/index.js";
import type { SessionStore } from "../store/index.js";
import { writeFileAtomic, type WriteChunk } from "./atomic.js";
import { assertFinished, sessionOrThrow } from "./errors.js";
import { dynamicTable, loadH5, textScalar, typed } from "./nwb-h5.js";
import { safeName, softwareVersion } from "./provenance.js";

export const nwbVersion = "2.7.0";

export interface NwbExport {
  fileName: string;
  bytes: Uint8Array;
  /** The main objects written, for the command line's report. */
  contents: string[];
}

export interface NwbOptions {
  /** Export a session whose last state is still started/paused/resumed (a crashed controller). */
  allowUnfinished?: boolean;
}

const countsStates = ["complete", "incomplete", "none"] as const;

function sampleRateOf(rigText: string): number | null {
  try {
    const rig = JSON.parse(rigText) as { acquisition?: { sampleRate?: unknown } };
    const rate = rig.acquisition?.sampleRate;
    return typeof rate === "number" && rate > 0 ? rate : null;
  } catch {
    return null;
  }
}

/** Builds the NWB file in memory; nothing is written to disk here. */
export async function sessionNwb(
  store: SessionStore,
  sessionRef: string | number,
  options: NwbOptions = {},
): Promise<NwbExport> {
  const session = sessionOrThrow(store, sessionRef);
  assertFinished(store, session, options.allowUnfinished ?? false);
  const { h5, fs } = await loadH5();
  const review = new SessionReview(store, session.id);
  const data = review.data;
  const state = store.sessionState(session.id);
  const events = store.sessionEvents(session.id);
  const started = events.find((e) => e.kind === "started")?.at ?? session.createdAt;
  const startedMs = Date.parse(started);
  const protocolText = store.protocolText(session.protocolId);
  const rigText = store.rigText(session.rigId);
  const rigName = store.listSessions().find((s) => s.id === session.id)?.rigName ?? "rig";
  const sw = softwareVersion();
  const windowText = `${session.countWindow.startMs}–${session.countWindow.endMs}`;

  // Decode every stimulus before touching the HDF5 file, so a bad PNG fails early and cleanly.
  const shas = [...new Set(data.presentations.map((p) => p.sha256))];
  const images: { sha: string; pixels: Uint8Array; width: number; height: number }[] = [];
  for (const sha of shas) {
    const png = store.getStimulusPng(sha);
    if (png === undefined) continue;
    const img = await decodeImage(png, `stimulus ${sha}`);
    images.push({ sha, pixels: img.pixels0to255, width: img.width, height: img.height });
  }
  const imageIndex = new Map(images.map((im, i) => [im.sha, i]));

  const memPath = `/cortexloop-${randomBytes(6).toString("hex")}.nwb`;
  const file = new h5.File(memPath, "w");
  const contents: string[] = [];
  try {
    typed(file, "NWBFile", "core");
    file.create_attribute("nwb_version", nwbVersion);
    file.create_dataset({ name: "file_create_date", data: [new Date().toISOString()] });
    textScalar(file, "identifier", session.uuid);
    textScalar(
      file,
      "session_description",
      `cortexloop session ${session.id} "${session.name}" (state when exported: ${state})`,
    );
    textScalar(file, "session_start_time", started);
    textScalar(file, "timestamps_reference_time", started);
    for (const g of ["acquisition", "analysis", "processing"]) file.create_group(g);
    const stimulus = file.create_group("stimulus");
    const presentationGroup = stimulus.create_group("presentation");
    const templates = stimulus.create_group("templates");

    writeGeneral(file.create_group("general"), {
      sessionUuid: session.uuid,
      protocolText,
      rigText,
      rigName,
      software: `${sw.name} ${sw.version}`,
      notes:
        `${review.counting(defaultCounting).text}. Session state when exported: ${state}. ` +
        `Count window ${windowText} ms after onset in ${data.bins} bin(s).`,
    });
    contents.push(`general: protocol, rig "${rigName}", ${sw.name} ${sw.version}`);

    writeUnits(file, data);
    contents.push(`units: ${data.units.length}`);

    const sampleRate = sampleRateOf(rigText);
    const startTimes = new Float64Array(data.presentations.map((p) => (p.shownMs ?? p.scheduledMs) / 1000));
    const nP = data.presentations.length;
    const counts = new Int32Array(nP * data.units.length * data.bins).fill(-1);
    // The store's layout is [unit][presentation][bin]; the table's rows are presentations.
    for (let u = 0; u < data.units.length; u++)
      for (let j = 0; j < nP; j++)
        for (let b = 0; b < data.bins; b++) {
          const v = data.values[(u * nP + j) * data.bins + b]!;
          if (!Number.isNaN(v)) counts[(j * data.units.length + u) * data.bins + b] = Math.round(v);
        }
    const intervals = file.create_group("intervals");
    dynamicTable(
      intervals,
      "presentations",
      { neurodataType: "TimeIntervals", namespace: "core" },
      "Every stimulus presentation of the session, in order. Times are seconds from session_start_time on the " +
        "controller's clock (the display's reported flip; the planned time where it was not shown).",
      new Int32Array(data.presentations.map((p) => p.idx)),
      [
        {
          name: "start_time",
          description: "Onset: the display's reported flip, seconds (planned time if not shown).",
          data: startTimes,
        },
        {
          name: "stop_time",
          description: "Offset: start_time plus the stimulus duration, seconds.",
          data: new Float64Array(data.presentations.map((p, j) => startTimes[j]! + p.durationMs / 1000)),
        },
        {
          name: "event_code",
          description: "Event code sent to the rig for this presentation.",
          data: new Int32Array(data.presentations.map((p) => p.eventCode)),
        },
        {
          name: "stimulus_sha256",
          description: "SHA-256 of the stimulus PNG; the image is /stimulus/templates/stimuli/<sha256>.",
          data: data.presentations.map((p) => p.sha256),
        },
        {
          name: "stimulus_index",
          description:
            "Row of the image in /stimulus/templates/stimuli/order_of_images (-1: image not in the database).",
          data: new Int32Array(data.presentations.map((p) => imageIndex.get(p.sha256) ?? -1)),
        },
        {
          name: "block",
          description: "Protocol block the presentation belongs to.",
          data: data.presentations.map((p) => p.block),
        },
        {
          name: "status",
          description: "shown, unconfirmed (event code not confirmed by the rig) or skipped.",
          data: data.presentations.map((p) => p.status),
        },
        {
          name: "onset_sample",
          description:
            `TTL onset on the rig's clock in samples${sampleRate === null ? "" : ` at ${sampleRate} Hz`}; ` +
            "counts are aligned on it; -1 when none.",
          data: new BigInt64Array(data.presentations.map((p) => BigInt(p.onsetSample ?? -1))),
        },
        {
          name: "counts_state",
          description:
            "complete, incomplete (the rig's count window was cut short: excluded from means by default) " +
            "or none (no counts stored).",
          data: data.presentations.map((p) => p.counts),
        },
        {
          name: "spike_counts",
          description:
            `Spikes per unit (rows of /units, in order) and bin of the count window ${windowText} ms ` +
            `after onset (${data.bins} bin(s) of ${data.binMs} ms); -1 where no count was stored.`,
          data: counts,
          shape: [nP, data.units.length, data.bins],
        },
      ],
    );
    contents.push(
      `intervals/presentations: ${nP} rows ` +
        `(${data.presentations.filter((p) => p.counts === "incomplete").length} with incomplete counts)`,
    );

    writeFaults(intervals, store.faults(session.id), startedMs);
    contents.push(`intervals/faults: ${store.faults(session.id).length} rows`);

    writeTemplates(templates, images);
    contents.push(`stimulus/templates/stimuli: ${images.length} images`);
    writeIndexSeries(
      presentationGroup,
      data.presentations.map((p) => imageIndex.get(p.sha256) ?? -1),
      startTimes,
      images.length,
    );
  } catch (err) {
    file.close();
    fs.unlink(memPath);
    throw err;
  }
  file.close();
  const bytes = fs.readFile(memPath);
  fs.unlink(memPath);
  return { fileName: `${safeName(session.name)}-${session.id}.nwb`, bytes, contents };
}

interface GeneralFacts {
  sessionUuid: string;
  protocolText: string;
  rigText: string;
  rigName: string;
  software: string;
  notes: string;
}

function writeGeneral(general: Group, f: GeneralFacts): void {
  textScalar(general, "session_id", f.sessionUuid);
  textScalar(general, "protocol", f.protocolText);
  textScalar(general, "data_collection", f.rigText);
  textScalar(general, "notes", f.notes);
  textScalar(general, "stimulus", "Images stored by the SHA-256 of their PNG bytes; see /stimulus/templates/stimuli.");
  const script = textScalar(general, "source_script", f.software);
  script.create_attribute("file_name", "cortexloop");
  const device = general.create_group("devices").create_group(safeName(f.rigName, "rig"));
  typed(device, "Device", "core");
  device.create_attribute("description", `Rig "${f.rigName}"; its configuration is in /general/data_collection.`);
}

function writeUnits(file: Group, data: SessionCounts): void {
  dynamicTable(
    file,
    "units",
    { neurodataType: "Units", namespace: "core" },
    "Units of the rig's spike sorter: one row per (electrode, sorted unit). " +
      "Their counts are in /intervals/presentations/spike_counts.",
    new Int32Array(data.units.map((u) => u.id)),
    [
      {
        name: "electrode_label",
        description: "Electrode (channel) label from the rig.",
        data: data.units.map((u) => u.electrode),
      },
      {
        name: "sorted_id",
        description: "The spike sorter's unit number on that electrode.",
        data: new Int32Array(data.units.map((u) => u.sortedId)),
      },
    ],
  );
}

function writeFaults(
  intervals: Group,
  faults: { id: number; at: string; code: string; message: string; presentationIdxs: number[] }[],
  startedMs: number,
): void {
  const t = new Float64Array(faults.map((f) => (Date.parse(f.at) - startedMs) / 1000));
  dynamicTable(
    intervals,
    "faults",
    { neurodataType: "TimeIntervals", namespace: "core" },
    "Faults recorded during the session (what happened, what was kept). " +
      "Times are seconds from session_start_time on the controller's wall clock.",
    new Int32Array(faults.map((f) => f.id)),
    [
      { name: "start_time", description: "When the fault was recorded, seconds.", data: t },
      {
        name: "stop_time",
        description: "Same as start_time: a fault is recorded at one moment.",
        data: new Float64Array(t),
      },
      {
        name: "code",
        description: "Fault code from a closed set (heartbeat-lost, counts-incomplete, ...).",
        data: faults.map((f) => f.code),
      },
      {
        name: "message",
        description: "What happened, what was kept, what to do next.",
        data: faults.map((f) => f.message),
      },
      { name: "recorded_at", description: "When it was recorded, ISO 8601 (UTC).", data: faults.map((f) => f.at) },
    ],
    [
      {
        name: "presentation_idxs",
        description: "Presentations (ids of /intervals/presentations) the fault concerns.",
        rows: faults.map((f) => f.presentationIdxs),
      },
    ],
  );
}

function writeTemplates(
  templates: Group,
  images: { sha: string; pixels: Uint8Array; width: number; height: number }[],
): void {
  const g = templates.create_group("stimuli");
  typed(g, "Images", "core");
  g.create_attribute(
    "description",
    "Every stimulus of the session, named by the SHA-256 of its PNG bytes; " +
      "pixels 0..255 RGB, shape (height, width, 3).",
  );
  const refs = images.map((im) => {
    // Deflate (built into HDF5, read by every reader): stimuli are most of the file.
    const d = g.create_dataset({
      name: im.sha,
      data: im.pixels,
      shape: [im.height, im.width, 3],
      chunks: [im.height, im.width, 3],
      compression: 6,
    });
    typed(d, "RGBImage", "core");
    d.create_attribute("description", `stimulus ${im.sha}`);
    return d.create_reference();
  });
  if (refs.length > 0) {
    const order = g.create_dataset({ name: "order_of_images", data: refs });
    typed(order, "ImageReferences", "core");
  }
}

function writeIndexSeries(presentation: Group, indexes: number[], startTimes: Float64Array, imageCount: number): void {
  const shown = indexes.map((v, i) => [v, i] as const).filter(([v]) => v >= 0);
  if (shown.length === 0 || imageCount === 0) return;
  const g = presentation.create_group("stimuli_shown");
  typed(g, "IndexSeries", "core");
  g.create_attribute(
    "description",
    "Which image of /stimulus/templates/stimuli was on screen at each presentation's onset.",
  );
  g.create_attribute("comments", "Presentations whose image is not in the database are left out.");
  const d = g.create_dataset({ name: "data", data: new Uint32Array(shown.map(([v]) => v)) });
  d.create_attribute("unit", "N/A");
  d.create_attribute("conversion", 1, null, "<f");
  d.create_attribute("resolution", -1, null, "<f");
  d.create_attribute("offset", 0, null, "<f");
  const ts = g.create_dataset({ name: "timestamps", data: new Float64Array(shown.map(([, i]) => startTimes[i]!)) });
  ts.create_attribute("interval", 1, null, "<i");
  ts.create_attribute("unit", "seconds");
  g.create_soft_link("/stimulus/templates/stimuli", "indexed_images");
}

export { countsStates };

export async function writeSessionNwb(
  store: SessionStore,
  sessionRef: string | number,
  target: string,
  options: NwbOptions = {},
  writeChunk?: WriteChunk,
): Promise<NwbExport> {
  const nwb = await sessionNwb(store, sessionRef, options);
  writeFileAtomic(target, nwb.bytes, "NWB", writeChunk);
  return nwb;
}
