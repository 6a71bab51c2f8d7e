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

const shownImages = 48;
const shownPerBlock = 24;

/** A proposal's images by block, each with the models' predicted response (and disagreement where stored). */
function PredictedBlocks({ p }: { p: ProposalPredictions }) {
  const blocks = [...new Set(p.images.map((i) => i.block))];
  return (
    <>
      {blocks.map((block) => {
        const images = p.images.filter((i) => i.block === block);
        const values = images.flatMap((i) => (i.predicted === null ? [] : [i.predicted]));
        return (
          <div key={block} className="live-proposal-block" data-testid="live-proposal-block" data-block={block}>
            <h3 className="small">
              {block}: {images.length} images
              {values.length > 0
                ? `, predicted ${formatNumber(Math.min(...values), 2)} to ${formatNumber(Math.max(...values), 2)}`
                : ""}
            </h3>
            <div className="live-proposal-images">
              {images.slice(0, shownPerBlock).map((i) => (
                <figure key={i.sha256} className="live-proposal-image">
                  <Thumb sha256={i.sha256} size={56} />
                  <figcaption
                    className="small"
                    data-testid="live-predicted"
                    title="the models' mean predicted response (z-scored); d: the members' disagreement"
                  >
                    {formatNumber(i.predicted, 2)}
                    {i.disagreement !== undefined ? (
                      <span className="muted" data-testid="live-disagreement">
                        {" "}
                        d {formatNumber(i.disagreement, 2)}
                      </span>
                    ) : null}
                  </figcaption>
                </figure>
              ))}
              {images.length > shownPerBlock ? (
                <span className="muted small">and {images.length - shownPerBlock} more</span>
              ) : null}
            </div>
          </div>
        );
      })}
      <p className="muted small">
        Under each image: the models&apos; predicted response, the mean over the {p.members} members and {p.units} units
        {p.modelVersionId === null ? "" : ` of model version ${p.modelVersionId}`} ({p.scale}: in SDs of each
        unit&apos;s training responses)
        {p.images.some((i) => i.disagreement !== undefined)
          ? "; d: the members' disagreement, which active learning chose those images by"
          : ""}
        .
      </p>
    </>
  );
}

export function LiveProposal({ state }: { state: LiveState }) {
  const api = useCortexloop();
  const [decided, setDecided] = useState<ProposalItem | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const p = state.proposal;
  if (p === null) return null;
  const decision = (decided?.id === p.id ? decided.decision : null) ?? p.decision;
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
      {p.predictions !== undefined ? (
        <PredictedBlocks p={p.predictions} />
      ) : (
        <>
          <div className="live-proposal-images">
            {p.stimuli.slice(0, shownImages).map((sha) => (
              <figure key={sha} className="live-proposal-image">
                <Thumb sha256={sha} size={56} />
              </figure>
            ))}
            {p.stimuli.length > shownImages ? (
              <span className="muted small">and {p.stimuli.length - shownImages} more</span>
            ) : null}
          </div>
          <p className="muted small">This proposal carries no predicted responses.</p>
        </>
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
