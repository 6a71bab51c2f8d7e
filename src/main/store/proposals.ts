/**
 * Proposals: designed sessions waiting for the experimenter (schema 7). A proposal names its
 * protocol (stored, by content hash) and what designed it; it gets at most one decision, approved or
 * declined, which is never changed (both tables are append-only).
 */
import type Database from "better-sqlite3";

export type ProposalDecision = "approved" | "declined";
export type DecisionVia = "terminal" | "web" | "program";

export interface ProposalDetail {
  description: string;
  blocks: { name: string; images: number; repeats: number }[];
  presentations: number;
  /** Every stimulus the protocol shows (SHA-256). */
  stimuli: string[];
  /** The models' predicted responses to its images, stored at design time (absent in older proposals). */
  predictions?: ProposalPredictions;
}

/**
 * What the ensemble that designed a session predicted for its images: per image of each block, the mean over members
 * and over the units of every readout the designer scored with, in the units the designer scores in (responses
 * z-scored per unit with its training images' mean and SD), and the members' disagreement (the median pairwise
 * distance of their population predictions, the active-learning score) for the images active learning chose.
 */
export interface ProposalPredictions {
  modelVersionId: number | null;
  /** The ensemble's readouts (one per session trained on, or one pooled) whose units were averaged. */
  readouts: string[];
  units: number;
  members: number;
  scale: "z-scored";
  /** One entry per image and block, in the protocol's block order; null where a prediction was not finite. */
  images: { block: string; sha256: string; predicted: number | null; disagreement?: number | null }[];
}

export interface ProposalRow extends ProposalDetail {
  id: number;
  campaign: string;
  sessionNumber: number;
  protocolId: number;
  protocolFile: string;
  modelVersionId: number | null;
  createdAt: string;
  decision: { decision: ProposalDecision; via: DecisionVia; decidedAt: string } | null;
}

/** A decision the store refuses: why, in a person's words (what happened, what was kept, what to do). */
export class ProposalError extends Error {
  constructor(
    readonly code: "not-found" | "conflict",
    message: string,
  ) {
    super(message);
    this.name = "ProposalError";
  }
}

function now(): string {
  return new Date().toISOString();
}

export function putProposal(
  db: Database.Database,
  input: {
    campaign: string;
    sessionNumber: number;
    protocolId: number;
    protocolFile: string;
    modelVersionId: number | null;
    detail: ProposalDetail;
  },
): number {
  const info = db
    .prepare(
      "INSERT INTO proposals (campaign, session_number, protocol_id, protocol_file, model_version_id, detail_json, " +
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .run(
      input.campaign,
      input.sessionNumber,
      input.protocolId,
      input.protocolFile,
      input.modelVersionId,
      JSON.stringify(input.detail),
      now(),
    );
  return Number(info.lastInsertRowid);
}

type Raw = {
  id: number;
  campaign: string;
  session_number: number;
  protocol_id: number;
  protocol_file: string;
  model_version_id: number | null;
  detail_json: string;
  created_at: string;
  decision: ProposalDecision | null;
  via: DecisionVia | null;
  decided_at: string | null;
};

const select =
  `SELECT p.*, d.decision, d.via, d.decided_at FROM proposals p LEFT JOIN proposal_decisions d ON ` +
  `d.proposal_id = p.id`;

function row(r: Raw): ProposalRow {
  const detail = JSON.parse(r.detail_json) as ProposalDetail;
  return {
    id: r.id,
    campaign: r.campaign,
    sessionNumber: r.session_number,
    protocolId: r.protocol_id,
    protocolFile: r.protocol_file,
    modelVersionId: r.model_version_id,
    createdAt: r.created_at,
    ...detail,
    decision: r.decision === null ? null : { decision: r.decision, via: r.via!, decidedAt: r.decided_at! },
  };
}

export function getProposal(db: Database.Database, id: number): ProposalRow | undefined {
  const r = db.prepare(`${select} WHERE p.id = ?`).get(id) as Raw | undefined;
  return r === undefined ? undefined : row(r);
}

export function listProposals(db: Database.Database): ProposalRow[] {
  // A database from before schema 7 (opened read-only, so not migrated) has none.
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'proposals'").get() === undefined)
    return [];
  return (db.prepare(`${select} ORDER BY p.id`).all() as Raw[]).map(row);
}

/**
 * Records the one decision on a proposal. Refused, with nothing written: an unknown proposal, one
 * already decided (approving twice is an error, not a second session), and approving one whose
 * images are no longer all in the store.
 */
export function decideProposal(
  db: Database.Database,
  id: number,
  decision: ProposalDecision,
  via: DecisionVia,
): ProposalRow {
  return db.transaction(() => {
    const p = getProposal(db, id);
    if (p === undefined)
      throw new ProposalError(
        "not-found",
        `There is no proposal ${id}; nothing was decided. List the proposals to see which are waiting.`,
      );
    if (p.decision !== null) {
      throw new ProposalError(
        "conflict",
        `Proposal ${id} (session ${p.sessionNumber} of ${p.campaign}) was already ${p.decision.decision} (` +
          `${p.decision.via}, ${p.decision.decidedAt}); a decision is never changed and nothing was done.`,
      );
    }
    if (decision === "approved") {
      const has = db.prepare("SELECT 1 FROM stimuli WHERE sha256 = ?");
      const missing = p.stimuli.filter((sha) => has.get(sha) === undefined);
      if (missing.length > 0) {
        throw new ProposalError(
          "conflict",
          `Proposal ${id} shows ${missing.length} image(s) that are no longer in the store (first ${missing[0]}); ` +
            `it was not approved and nothing was run. Decline it and let the campaign design the session again.`,
        );
      }
    }
    db.prepare("INSERT INTO proposal_decisions (proposal_id, decision, via, decided_at) VALUES (?, ?, ?, ?)").run(
      id,
      decision,
      via,
      now(),
    );
    return getProposal(db, id)!;
  })();
}
