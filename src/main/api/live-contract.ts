/**
 * The live view's half of the contract: what a running session (and a campaign around it) pushes to a watching page,
 * over the WebSocket (/api/ws, after `{"subscribe":"live"}`) or Electron's IPC events. Types only, plus the control
 * request's validator, so the renderer can import it.
 */
import { z } from "zod";
import type { RunnerEvent } from "../runner/events.js";
import type { ProposalItem } from "./contract.js";
import type { LiveState } from "./live-state.js";
import type { ProposalPredictions } from "../store/proposals.js";

export type { RunnerEvent, PausedBy } from "../runner/events.js";

/** A campaign's retraining job, once per validation check (a cycle of the ensemble's training). */
export interface TrainingProgressEvent {
  kind: "training";
  label: string;
  afterSession: number;
  cycle: number;
  maxCycles: number;
  loss: number;
  validationLoss: number | null;
  /** The validation figure the job stops on (r²_ER or correlation), when it has one. */
  validation: number | null;
}

/** A retrain finished: its held-out score joins the campaign's curve. */
export interface RetrainedEvent {
  kind: "retrained";
  label: string;
  afterSession: number;
  r2er: number | null;
  modelVersionId: number;
}

/** Predicted responses a proposal carries when its designer stored them: per image of each block (see the store). */
export type { ProposalPredictions };

/** A designed session waiting for the experimenter (decision null), or just decided. */
export interface ProposalEvent {
  kind: "proposal";
  proposal: ProposalItem;
}

export type LiveEvent = RunnerEvent | TrainingProgressEvent | RetrainedEvent | ProposalEvent;

/** What a watching page receives: the whole state when it attaches, then batches of events (at most ~10 a second). */
export type LiveMessage =
  { type: "snapshot"; state: LiveState } | { type: "batch"; seq: number; events: LiveEvent[]; dropped: number };

/**
 * The desktop's way to a session running in another process: the live endpoint record beside its database
 * (`<db>.live.json`, written by `run --serve` and `campaign --serve`), or why there is none.
 */
export type LiveEndpointReply =
  | { state: "running"; url: string; token: string; pid: number; startedAt: string; kind: "run" | "campaign" }
  | { state: "none"; message: string };

export const liveControlSchema = z.object({ action: z.enum(["pause", "resume", "stop"]) }).strict();
export type LiveControlRequest = z.infer<typeof liveControlSchema>;
