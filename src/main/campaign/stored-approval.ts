import { createInterface } from "node:readline/promises";
import type { SessionStore } from "../store/index.js";
import {
  decideProposal,
  getProposal,
  ProposalError,
  putProposal,
  type DecisionVia,
  type ProposalDecision,
  type ProposalRow,
} from "../store/proposals.js";
import { describeProposal, proposalDetail } from "./approve-prompt.js";
import type { Proposal } from "./campaign.js";

export interface StoredApprovalOptions {
  /** Ask on this terminal too (the first answer, here or from the app, decides). */
  terminal?: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream };
  /** How often the store is read for a decision made elsewhere (the app, another process). */
  pollMs?: number;
  log?: (line: string) => void;
  /** Told of each proposal when it starts waiting and when it is decided (the live view shows it). */
  onProposal?: (row: ProposalRow) => void;
}

/**
 * Approval through the store: each designed session is stored as a proposal (its protocol too) and
 * the campaign waits until it is decided, from the app (the web API's approveProposal, through
 * `decide`) or the terminal. The decision is stored once and never changed.
 */
export class StoredApproval {
  private current: number | undefined;

  constructor(
    private readonly store: SessionStore,
    private readonly options: StoredApprovalOptions = {},
  ) {}

  /** The proposal the campaign is waiting on, if any. */
  pending(): ProposalRow | undefined {
    return this.current === undefined ? undefined : getProposal(this.store.db, this.current);
  }

  /** A decision from the app; refused (ProposalError) for an unknown, decided or broken proposal. */
  decide(id: number, decision: ProposalDecision, via: DecisionVia = "web"): ProposalRow {
    return decideProposal(this.store.db, id, decision, via);
  }

  /** The campaign's approve hook. */
  readonly approve = async (p: Proposal): Promise<boolean> => {
    const log = this.options.log ?? (() => {});
    // A study stores its proposals itself (and finds the one it was waiting on before a crash).
    const id =
      p.proposalId ??
      putProposal(this.store.db, {
        campaign: p.label,
        sessionNumber: p.session,
        protocolId: this.store.putProtocol(`${p.label} session ${p.session} (proposed)`, p.protocolText),
        protocolFile: p.protocolFile,
        modelVersionId: p.modelVersionId ?? null,
        detail: proposalDetail(p),
      });
    this.current = id;
    const told = getProposal(this.store.db, id);
    if (told !== undefined) this.options.onProposal?.(told);
    for (const line of describeProposal(p)) log(line);
    log(
      `proposal ${id} is waiting for approval` +
        `${this.options.terminal === undefined ? "" : " (answer here or in the app)"}`,
    );
    const abort = new AbortController();
    const asked = this.options.terminal === undefined ? undefined : this.ask(id, p.session, abort.signal);
    try {
      for (;;) {
        const row = getProposal(this.store.db, id)!;
        if (row.decision !== null) {
          log(`proposal ${id} ${row.decision.decision} (${row.decision.via})`);
          this.options.onProposal?.(row);
          return row.decision.decision === "approved";
        }
        await new Promise((r) => setTimeout(r, this.options.pollMs ?? 200));
      }
    } finally {
      abort.abort();
      await asked;
      this.current = undefined;
    }
  };

  private async ask(id: number, session: number, signal: AbortSignal): Promise<void> {
    const { input, output } = this.options.terminal!;
    const rl = createInterface({ input, output });
    try {
      const answer = await rl.question(`Run session ${session} now? [y/N] `, { signal });
      this.decide(id, /^\s*y(es)?\s*$/i.test(answer) ? "approved" : "declined", "terminal");
    } catch (err) {
      // Decided in the app first (the question was withdrawn), or decided there between the answer and now.
      if (!(signal.aborted || err instanceof ProposalError)) throw err;
    } finally {
      rl.close();
    }
  }
}
