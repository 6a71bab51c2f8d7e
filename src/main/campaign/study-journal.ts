// What a study has done, step by step, in the store: the campaign writes a step after each piece of
// work and, when it resumes after a crash, reads them back to go on from the last one done.
import { hostname } from "node:os";
import type { SessionStore } from "../store/index.js";
import { getProposal, putProposal, type ProposalRow } from "../store/proposals.js";
import {
  appendStudyStep,
  createStudy,
  studySteps,
  StudyError,
  type StudyRow,
  type StudyStep,
  type StudyStepKind,
} from "../store/studies.js";
import { proposalDetail } from "./approve-prompt.js";
import type { CompactPoint } from "./compact-step.js";
import type { CurvePoint, Proposal, Turnaround } from "./types.js";

export interface RetrainedStep {
  afterSession: number;
  modelVersionId: number;
  point: CurvePoint;
  seconds: number;
}

export interface DesignedStep {
  number: number;
  file: string;
  protocolText: string;
  /** Bank ids of the candidates it picked (active learning or random). */
  picked: string[];
  scored: number;
  selectSeconds: number;
  turnaround: Turnaround;
}

// JSON has no NaN (a unit that could not be scored): kept as strings and read back as numbers.
function encode(value: unknown): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)),
  ) as Record<string, unknown>;
}

function decode<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value), (_k, v: unknown) =>
    v === "NaN" || v === "Infinity" || v === "-Infinity" ? Number(v) : v,
  ) as T;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class StudyJournal {
  private steps: StudyStep[];

  private constructor(
    private readonly store: SessionStore,
    readonly study: StudyRow,
    private readonly log: (line: string) => void,
  ) {
    this.steps = studySteps(store.db, study.id);
  }

  /** A new study, stored with its settings and rig. */
  static start(
    store: SessionStore,
    input: { name: string; rigFile: string | null; rigText: string; settings: Record<string, unknown> },
    log: (line: string) => void = () => {},
  ): StudyJournal {
    const journal = new StudyJournal(store, createStudy(store.db, input), log);
    journal.append({ kind: "started", detail: { pid: process.pid, host: hostname() } });
    return journal;
  }

  /**
   * Picks a stored study up again: refuses one still running in another process on this machine; a
   * session that was being recorded when the controller stopped is kept, marked interrupted (or taken
   * as recorded if it had completed).
   */
  static resume(store: SessionStore, study: StudyRow, log: (line: string) => void = () => {}): StudyJournal {
    const journal = new StudyJournal(store, study, log);
    const last = [...journal.steps].reverse().find((s) => s.kind === "started" || s.kind === "resumed");
    const pid = Number(last?.detail.pid);
    if (last?.detail.host === hostname() && pid !== process.pid && Number.isInteger(pid) && alive(pid))
      throw new StudyError(
        "conflict",
        `Study ${study.id} "${study.name}" is still running in process ${pid} on this machine; nothing was done. ` +
          `Stop that process first (or wait for it to finish), then resume.`,
      );
    journal.append({ kind: "resumed", detail: { pid: process.pid, host: hostname() } });
    journal.settleInterrupted();
    return journal;
  }

  get name(): string {
    return this.study.name;
  }

  private append(step: {
    kind: StudyStepKind;
    sessionNumber?: number;
    sessionId?: number;
    modelVersionId?: number;
    detail?: Record<string, unknown>;
  }): void {
    appendStudyStep(this.store.db, this.study.id, step);
    this.steps = studySteps(this.store.db, this.study.id);
  }

  private lastOf(kind: StudyStepKind, sessionNumber: number): StudyStep | undefined {
    return [...this.steps].reverse().find((s) => s.kind === kind && s.sessionNumber === sessionNumber);
  }

  /** Sessions the study already accounted for (recorded or interrupted). */
  private claimed(): Set<number> {
    return new Set(
      this.steps.filter((s) => s.kind === "recorded" || s.kind === "interrupted").map((s) => s.sessionId!),
    );
  }

  private settleInterrupted(): void {
    for (const step of this.steps.filter((s) => s.kind === "recording")) {
      const number = step.sessionNumber!;
      if (this.recorded(number) !== undefined) continue;
      const claimed = this.claimed();
      const ids = (
        this.store.db
          .prepare("SELECT id FROM sessions WHERE protocol_id = ? AND created_at >= ? ORDER BY id")
          .all(step.detail.protocolId, step.at) as { id: number }[]
      )
        .map((r) => r.id)
        .filter((id) => !claimed.has(id));
      for (const id of ids) {
        const state = this.store.sessionState(id);
        const presented = this.store.presentations(id).length;
        if (state === "completed" && this.recorded(number) === undefined) {
          // Killed after the session ended but before the study noted it: it is recorded.
          this.log(`${this.name}: session ${number} (session ${id}) had completed before the stop; it is kept`);
          this.noteRecorded(number, id, String(step.detail.file));
          continue;
        }
        if (state !== "interrupted" && state !== "failed" && state !== "completed")
          this.store.appendSessionEvent(
            id,
            "interrupted",
            `The controller stopped while this session was recording; found when study "${this.name}" resumed. ` +
              `The ${presented} presentations recorded are kept; the study records session ${number} again.`,
          );
        this.append({
          kind: "interrupted",
          sessionNumber: number,
          sessionId: id,
          detail: { presented, state },
        });
        this.log(
          `${this.name}: session ${number} was interrupted when the controller stopped (session ${id}, ` +
            `${presented} presentations); it is kept, marked interrupted, and session ${number} is recorded again`,
        );
      }
    }
  }

  recorded(number: number): { sessionId: number; file: string } | undefined {
    const s = this.lastOf("recorded", number);
    return s === undefined ? undefined : { sessionId: s.sessionId!, file: String(s.detail.file) };
  }

  retrained(afterSession: number): RetrainedStep | undefined {
    const s = this.lastOf("retrained", afterSession);
    if (s === undefined) return undefined;
    return {
      afterSession,
      modelVersionId: s.modelVersionId!,
      point: decode<CurvePoint>(s.detail.point),
      seconds: Number(s.detail.seconds),
    };
  }

  compact(afterSession: number): CompactPoint | undefined {
    const s = this.lastOf("compact", afterSession);
    return s === undefined ? undefined : decode<CompactPoint>(s.detail.compact);
  }

  designed(number: number): DesignedStep | undefined {
    const s = this.lastOf("designed", number);
    return s === undefined ? undefined : decode<DesignedStep>(s.detail);
  }

  noteRecording(number: number, protocolId: number, file: string): void {
    this.append({ kind: "recording", sessionNumber: number, detail: { protocolId, file } });
  }

  noteRecorded(number: number, sessionId: number, file: string): void {
    this.append({ kind: "recorded", sessionNumber: number, sessionId, detail: { file } });
  }

  noteInterrupted(number: number, sessionId: number, detail: Record<string, unknown>): void {
    this.append({ kind: "interrupted", sessionNumber: number, sessionId, detail });
  }

  noteRetrained(step: RetrainedStep): void {
    this.append({
      kind: "retrained",
      sessionNumber: step.afterSession,
      modelVersionId: step.modelVersionId,
      detail: encode({ point: step.point, seconds: step.seconds }),
    });
  }

  noteCompact(afterSession: number, compact: CompactPoint): void {
    this.append({ kind: "compact", sessionNumber: afterSession, detail: encode({ compact }) });
  }

  noteDesigned(step: DesignedStep): void {
    this.append({ kind: "designed", sessionNumber: step.number, detail: encode(step) });
  }

  noteStopped(number: number, proposalId: number | undefined): void {
    this.append({ kind: "stopped", sessionNumber: number, detail: { proposalId, declined: true } });
  }

  noteFinished(detail: Record<string, unknown>): void {
    this.append({ kind: "finished", detail: encode(detail) });
  }

  /**
   * The stored proposal of session `number` with this protocol: the one written before a crash, or a
   * new one. Every designed session a study asks about is a proposal in the store.
   */
  proposal(p: Proposal): ProposalRow {
    const protocolId = this.store.putProtocol(`${p.label} session ${p.session} (proposed)`, p.protocolText);
    const found = this.store.db
      .prepare(
        "SELECT id FROM proposals WHERE campaign = ? AND session_number = ? AND protocol_id = ? ORDER BY id DESC",
      )
      .get(p.label, p.session, protocolId) as { id: number } | undefined;
    const id =
      found?.id ??
      putProposal(this.store.db, {
        campaign: p.label,
        sessionNumber: p.session,
        protocolId,
        protocolFile: p.protocolFile,
        modelVersionId: p.modelVersionId ?? null,
        detail: proposalDetail(p),
      });
    return getProposal(this.store.db, id)!;
  }
}
