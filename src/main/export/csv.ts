import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SessionReview, defaultCounting, type CountingRule } from "../review/index.js";
import type { SessionStore } from "../store/store.js";
import { writeFileAtomic } from "./atomic.js";
import { assertFinished, sessionOrThrow } from "./errors.js";

function csvField(v: string | number | null | boolean): string {
  if (v === null) return "";
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csv(header: string[], rows: (string | number | null | boolean)[][]): string {
  return [header.join(","), ...rows.map((r) => r.map(csvField).join(","))].join("\n") + "\n";
}

/** The CSV files' names, in the order they are written. */
export const csvFileNames = [
  "presentations.csv",
  "units.csv",
  "spike_counts.csv",
  "responses.csv",
  "faults.csv",
] as const;

/** The CSV files of one session, by file name (used by the command line, the web API and the bundle). */
export function sessionCsvFiles(
  store: SessionStore,
  sessionRef: string | number,
  rule: CountingRule = defaultCounting,
): Map<string, string> {
  const session = sessionOrThrow(store, sessionRef);
  const review = new SessionReview(store, session.id);
  const { data } = review;
  const files = new Map<string, string>();
  const presentations = store.presentations(session.id);
  const results = new Map(store.countResults(session.id).map((r) => [r.presentationIdx, r]));
  files.set(
    "presentations.csv",
    csv(
      [
        "idx",
        "block",
        "stimulus_sha256",
        "event_code",
        "scheduled_ms",
        "shown_ms",
        "duration_ms",
        "status",
        "onset_sample",
        "counts_complete",
      ],
      presentations.map((p) => {
        const r = results.get(p.idx);
        return [
          p.idx,
          p.block,
          p.stimulusSha256,
          p.eventCode,
          p.scheduledMs,
          p.shownMs,
          p.durationMs,
          p.status,
          r?.onsetSample ?? null,
          r === undefined ? null : r.complete,
        ];
      }),
    ),
  );
  const units = store.units(session.id);
  files.set(
    "units.csv",
    csv(
      ["unit_id", "electrode", "sorted_id"],
      units.map((u) => [u.id, u.electrode, u.sortedId]),
    ),
  );
  files.set(
    "spike_counts.csv",
    csv(
      ["presentation_idx", "unit_id", "bin", "count", "counts_complete"],
      store
        .spikeCounts(session.id)
        .map((c) => [c.presentationIdx, c.unitId, c.bin, c.count, results.get(c.presentationIdx)?.complete ?? null]),
    ),
  );
  const rows: (string | number | null)[][] = [];
  for (const s of review.means(rule)) {
    data.units.forEach((u, k) => {
      rows.push([
        s.sha256,
        s.block,
        u.id,
        s.presentations,
        s.nByUnit[k]!,
        s.incomplete,
        rule.includeIncomplete ? "complete+incomplete" : "complete",
        s.meanByUnit[k]!,
        s.semByUnit[k]!,
      ]);
    });
  }
  files.set(
    "responses.csv",
    csv(
      [
        "stimulus_sha256",
        "block",
        "unit_id",
        "presentations",
        "n_counted",
        "n_incomplete",
        "counted",
        "mean_count",
        "sem_count",
      ],
      rows,
    ),
  );
  files.set(
    "faults.csv",
    csv(
      ["fault_id", "at", "code", "message", "presentation_idxs"],
      store.faults(session.id).map((f) => [f.id, f.at, f.code, f.message, f.presentationIdxs.join(" ")]),
    ),
  );
  return files;
}

/** Writes the CSV files into `dir`, each under a temporary name renamed once complete. */
export function exportSessionCsv(
  store: SessionStore,
  sessionRef: string | number,
  dir: string,
  options: { allowUnfinished?: boolean } = {},
): string[] {
  const session = sessionOrThrow(store, sessionRef);
  assertFinished(store, session, options.allowUnfinished ?? false);
  const files = sessionCsvFiles(store, session.id);
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of files) {
    const path = join(dir, name);
    writeFileAtomic(path, Buffer.from(text, "utf8"), "CSV");
    written.push(path);
  }
  return written;
}
