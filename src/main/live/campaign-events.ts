/** A campaign's part of the live view: its proposals and its retrains, as events for the hub. */
import type { ProposalEvent, ProposalPredictions, RetrainedEvent, LiveEvent } from "../api/live-contract.js";
import type { ProposalRow } from "../store/proposals.js";
import type { SessionStore } from "../store/store.js";
import type { CompactPoint, RetrainedEnsemble } from "../campaign/compact-step.js";
import { r2erOf } from "../review/index.js";

/** A stored proposal as the page shows it (with the models' predictions when its designer stored them). */
export function liveProposal(row: ProposalRow & { predictions?: ProposalPredictions }): ProposalEvent {
  const { protocolId: _protocolId, ...item } = row;
  return { kind: "proposal", proposal: item };
}

/**
 * Wraps the campaign's after-retrain hook (the compact-model step, or none) so each stored model version is told to
 * the live view with its held-out r²_ER; the hook itself runs as before.
 */
export function liveRetrained(
  publish: ((event: LiveEvent) => void) | undefined,
  store: SessionStore,
  next: ((e: RetrainedEnsemble) => Promise<CompactPoint | undefined>) | undefined,
): ((e: RetrainedEnsemble) => Promise<CompactPoint | undefined>) | undefined {
  if (publish === undefined) return next;
  return async (e) => {
    const version = store.listModelVersions().find((v) => v.id === e.modelVersionId);
    const event: RetrainedEvent = {
      kind: "retrained",
      label: e.label,
      afterSession: e.afterSession,
      r2er: version === undefined ? null : r2erOf(version.metrics),
      modelVersionId: e.modelVersionId,
    };
    publish(event);
    return next?.(e);
  };
}
