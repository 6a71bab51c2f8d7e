/** A campaign's part of the live view: the retraining job's validation curve, the curve so far, and the proposal. */
import { useState } from "react";
import type { LiveState, ProposalItem, ProposalPredictions } from "../../main/api/contract.js";
import { useCortexloop } from "../api.js";
import { formatNumber } from "../format.js";
import { Thumb } from "../Thumb.js";

export function LiveTraining({ state }: { state: LiveState }) {
  const t = state.training;
  if (t === null && state.retrained.length === 0) return null;
  const last = t?.points[t.points.length - 1];
  return (
    <section className="panel" data-testid="live-training">
      <h2>Retraining</h2>
      {t !== null ? (
        <>
          <p>
            {t.label}: training after session {t.afterSession}, cycle{" "}
            <strong data-testid="live-training-cycle">{last?.cycle ?? 0}</strong> of at most {t.maxCycles};
            {" validation "}
            {formatNumber(last?.validation ?? null, 3)} (loss {formatNumber(last?.validationLoss ?? null, 3)})
          </p>
          <Curve points={t.points.map((p) => ({ x: p.cycle, y: p.validation }))} label="validation by cycle" />
        </>
      ) : null}
      {state.retrained.length > 0 ? (
        <ul className="live-retrained">
          {state.retrained.map((r) => (
            <li key={`${r.label}-${r.afterSession}-${r.modelVersionId}`}>
              after session {r.afterSession}: held-out r²_ER median {formatNumber(r.r2er, 3)} (model version{" "}
              {r.modelVersionId})
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function Curve({ points, label }: { points: { x: number; y: number | null }[]; label: string }) {
  const ys = points.flatMap((p) => (p.y === null ? [] : [p.y]));
  if (ys.length === 0) return null;
  const w = 240;
  const h = 80;
  const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  const xMax = Math.max(1, ...points.map((p) => p.x));
  const path = points
    .filter((p) => p.y !== null)
    .map((p) => `${(p.x / xMax) * (w - 8) + 4},${h - 4 - ((p.y! - lo) / Math.max(1e-9, hi - lo)) * (h - 8)}`)
    .join(" ");
  return (
    <svg width={w} height={h} role="img" aria-label={label} className="live-curve">
      <polyline points={path} fill="none" stroke="#2457c5" strokeWidth={2} />
    </svg>
  );
}

/** Mean predicted count per stimulus (over the units that have one), when the proposal carries predictions. */
function predictedMeans(p: ProposalPredictions): Map<string, number> {
  const out = new Map<string, number>();
  p.stimuli.forEach((sha, j) => {
    const vs = p.predictions.flatMap((row) => (row === null || row[j] === undefined ? [] : [row[j]!]));
    if (vs.length > 0) out.set(sha, vs.reduce((a, b) => a + b, 0) / vs.length);
  });
  return out;
}

const shownImages = 48;

export function LiveProposal({ state }: { state: LiveState }) {
  const api = useCortexloop();
  const [decided, setDecided] = useState<ProposalItem | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const p = state.proposal;
  if (p === null) return null;
  const decision = (decided?.id === p.id ? decided.decision : null) ?? p.decision;
  const predicted = p.predictions === undefined ? undefined : predictedMeans(p.predictions);
  const decide = async (d: "approve" | "decline"): Promise<void> => {
    setBusy(true);
    setError(null);
    const reply = await api.approveProposal({ id: p.id, decision: d });
    setBusy(false);
    if (reply.ok) setDecided(reply.value);
    else setError(reply.message);
  };
  return (
    <section className="panel" data-testid="live-proposal" data-proposal={p.id}>
      <h2>
        Proposal {p.id}: {p.campaign} session {p.sessionNumber}
      </h2>
      <p>{p.description}</p>
      <p className="muted small">
        {p.presentations} presentations;{" "}
        {p.blocks.map((b) => `${b.name}: ${b.images} images × ${b.repeats}`).join(", ")}
        {p.modelVersionId !== null ? `; designed by model version ${p.modelVersionId}` : ""}
      </p>
      <div className="live-proposal-images">
        {p.stimuli.slice(0, shownImages).map((sha) => (
          <figure key={sha} className="live-proposal-image">
            <Thumb sha256={sha} size={56} />
            {predicted !== undefined ? (
              <figcaption className="small" data-testid="live-predicted" title="mean predicted count over units">
                {formatNumber(predicted.get(sha) ?? null, 2)}
              </figcaption>
            ) : null}
          </figure>
        ))}
        {p.stimuli.length > shownImages ? (
          <span className="muted small">and {p.stimuli.length - shownImages} more</span>
        ) : null}
      </div>
      {predicted === undefined ? (
        <p className="muted small">This proposal carries no predicted responses.</p>
      ) : (
        <p className="muted small">Under each image: the models&apos; mean predicted count over units.</p>
      )}
      {decision === null ? (
        <div className="live-controls">
          <button
            type="button"
            className="primary"
            disabled={busy}
            onClick={() => void decide("approve")}
            data-testid="live-approve"
          >
            Approve and run
          </button>
          <button type="button" disabled={busy} onClick={() => void decide("decline")} data-testid="live-decline">
            Decline
          </button>
        </div>
      ) : (
        <p data-testid="live-decision">
          <strong>{decision.decision}</strong> ({decision.via}, {decision.decidedAt})
        </p>
      )}
      {error !== null ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
    </section>
  );
}
