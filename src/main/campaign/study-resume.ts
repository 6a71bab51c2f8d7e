// `cortexloop campaign --resume <study>`: finds the study, checks that it can go on (not finished, not
// declined, on the same rig), and gives back the settings it started with. No tfjs here: bad input is
// refused before the models load.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { loadRigFile } from "../protocol/load.js";
import { rigSchema } from "../protocol/schema.js";
import type { SessionStore } from "../store/index.js";
import { findStudy, listStudies, studyState, studySteps, StudyError, type StudyRow } from "../store/studies.js";

function flatten(value: unknown, path: string, out: Map<string, string>): Map<string, string> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, path === "" ? k : `${path}.${k}`, out);
  } else out.set(path, JSON.stringify(value));
  return out;
}

function normalized(text: string): unknown {
  const raw = JSON.parse(text) as unknown;
  const parsed = rigSchema.safeParse(raw);
  return parsed.success ? parsed.data : raw;
}

/** Where two rig files differ, one line per setting ("acquisition.dataPort: 5001 in the study, 6001 now"). */
export function rigDifferences(studyText: string, fileText: string): string[] {
  const a = flatten(normalized(studyText), "", new Map());
  const b = flatten(normalized(fileText), "", new Map());
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys
    .filter((k) => a.get(k) !== b.get(k))
    .map((k) => `${k}: ${a.get(k) ?? "(not set)"} in the study, ${b.get(k) ?? "(not set)"} in the rig file`);
}

/** The study to resume, or a StudyError that says why it cannot be (nothing is written either way). */
export function studyToResume(store: SessionStore, ref: string, rigFile: string | undefined): StudyRow {
  const study = findStudy(store.db, ref);
  if (study === undefined) {
    const known = listStudies(store.db);
    throw new StudyError(
      "not-found",
      `There is no study "${ref}" in ${store.file}; nothing was done. ` +
        `${
          known.length === 0
            ? "This database holds no studies yet; start one with `cortexloop campaign`."
            : `Its studies: ${known.map((s) => `${s.id} "${s.name}"`).join(", ")}.`
        }`,
    );
  }
  const steps = studySteps(store.db, study.id);
  const state = studyState(steps);
  const label = `Study ${study.id} "${study.name}"`;
  if (state === "finished") {
    const at = steps.filter((s) => s.kind === "finished").at(-1)!.at;
    const sessions = steps.filter((s) => s.kind === "recorded").length;
    throw new StudyError(
      "conflict",
      `${label} finished at ${at} with ${sessions} sessions recorded; there is nothing to resume and nothing was ` +
        `done. Start a new study with \`cortexloop campaign --study <name>\`.`,
    );
  }
  if (state === "stopped") {
    const stop = steps.filter((s) => s.kind === "stopped").at(-1)!;
    throw new StudyError(
      "conflict",
      `${label} stopped at ${stop.at}: its proposal for session ${stop.sessionNumber} was declined, and a decision ` +
        `is never changed. Nothing was done; its sessions and models are kept. Start a new study to go on.`,
    );
  }
  if (study.rigFile === null) {
    if (rigFile !== undefined)
      throw new StudyError(
        "conflict",
        `${label} records on the simulated rig inside the controller, not on a rig file; nothing was done. Resume ` +
          `it without --rig-file.`,
      );
    return study;
  }
  const file = resolve(rigFile ?? study.rigFile);
  if (!existsSync(file))
    throw new StudyError(
      "not-found",
      `${label} records on the rig file ${study.rigFile}, which is not there any more; nothing was done. Pass the ` +
        `rig's file with --rig-file (it must describe the same rig).`,
    );
  const differences = rigDifferences(study.rigText, loadRigFile(file).text);
  if (differences.length > 0)
    throw new StudyError(
      "conflict",
      `${label} records on the rig of ${study.rigFile}, and ${file} describes a different rig ` +
        `(${differences.slice(0, 6).join("; ")}${differences.length > 6 ? `; ${differences.length - 6} more` : ""}). ` +
        `Nothing was done. Resume with the study's rig file, or start a new study for this rig.`,
    );
  return study;
}

/** One line of `cortexloop studies`: where a study stands. */
export interface StudySummary {
  id: number;
  name: string;
  state: "running or stopped by a crash" | "declined" | "finished";
  sessions: number;
  models: number;
  lastStep: string;
  rig: string;
}

/** Every study in the store with its state, sessions recorded, models trained and last step. */
export function summarizeStudies(store: SessionStore): StudySummary[] {
  return listStudies(store.db).map((study) => {
    const steps = studySteps(store.db, study.id);
    const state = studyState(steps);
    const last = steps.filter((s) => s.kind !== "started" && s.kind !== "resumed").at(-1);
    return {
      id: study.id,
      name: study.name,
      state: state === "running" ? "running or stopped by a crash" : state === "stopped" ? "declined" : "finished",
      sessions: steps.filter((s) => s.kind === "recorded").length,
      models: steps.filter((s) => s.kind === "retrained").length,
      lastStep:
        last === undefined
          ? "none"
          : `${last.kind}${last.sessionNumber === null ? "" : ` (session ${last.sessionNumber})`} at ${last.at}`,
      rig: study.rigFile ?? "simulated in the controller",
    };
  });
}
