/**
 * What the tech view's channels reply (the protocol library, the pre-flight checklist, replay and dry-run jobs). No
 * Node imports, so the renderer can import these types through the contract.
 */
import type { Timing } from "../protocol/schema.js";

export interface LibraryBlock {
  name: string;
  source: string;
  repeats: number;
  /** Images the block shows once (after maxImages); null when its source cannot be counted here. */
  images: number | null;
}

export interface LibraryEntry {
  /** `file:<path>` or `stored:<id>`: what a dry run names. */
  id: string;
  origin: "file" | "stored";
  /** The file's path, or `stored protocol #<id>`. */
  location: string;
  /** The protocol's name (the file name when it does not parse). */
  name: string;
  sha256: string | null;
  valid: boolean;
  /** The parser's message when invalid (what, where, and what to do). */
  error: string | null;
  description: string | null;
  /** Distinct images over its sources; null when a source cannot be counted. */
  images: number | null;
  presentations: number | null;
  /** fixation + presentations × (stimulus + inter-stimulus), ms; null when presentations are unknown. */
  durationMs: number | null;
  timing: Timing | null;
  blocks: LibraryBlock[];
  /** Why a count is missing or doubtful (a folder that is not there, stored images not in this database). */
  notes: string[];
  /** Sessions recorded with it (stored protocols). */
  sessions: number;
  createdAt: string | null;
}

export const preflightCheckIds = [
  "data-port",
  "data-stream",
  "heartbeat",
  "event-codes",
  "display",
  "disk-space",
  "database",
] as const;
export type PreflightCheckId = (typeof preflightCheckIds)[number];

export type PreflightStatus = "pass" | "warn" | "fail" | "skip";

export interface PreflightCheck {
  id: PreflightCheckId;
  /** What was checked, in a few words (the checklist's left column). */
  label: string;
  status: PreflightStatus;
  /** What was found, and on a warning or failure what to do next. */
  detail: string;
  ms: number;
}

export interface PreflightReport {
  rigName: string;
  rigFile: string | null;
  db: string;
  at: string;
  /** Every check passed or was skipped (warnings do not stop a session; failures would). */
  ok: boolean;
  checks: PreflightCheck[];
}

export type TechJobKind = "replay" | "dry-run";
/** Where a job's session runs: a simulated rig started for it, or the rig file the server was given. */
export type TechJobRig = "sim" | "configured";
export type TechJobState = "starting" | "running" | "completed" | "failed" | "cancelled";

/** A replay or dry run: a `cortexloop run` child process (and a `cortexloop sim-rig` one on the simulated rig). */
export interface TechJobInfo {
  id: number;
  kind: TechJobKind;
  rig: TechJobRig;
  /** What runs, e.g. `replay of session 3 (demo)`. */
  title: string;
  rigName: string;
  state: TechJobState;
  /** Presentations whose counts are stored so far, out of `total`. */
  done: number;
  total: number;
  startedAt: string;
  endedAt: string | null;
  /** The recorded session, once the run has made it. */
  sessionId: number | null;
  sessionUuid: string | null;
  /** The latest word on it: progress, the run's summary line, or why it failed. */
  message: string;
  /** The child processes' last lines (stderr). */
  log: string[];
}

/** What the server was started with for the tech view, and what it therefore refuses. */
export interface TechConfig {
  db: string;
  protocolDirs: string[];
  rigFile: string | null;
  rigName: string | null;
  /** Replays and dry runs may start (`--allow-runs`). */
  allowRuns: boolean;
  /** Why something is not available, in the words shown on the page. */
  notes: string[];
}
