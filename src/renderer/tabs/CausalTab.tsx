/**
 * The causal test of a session (issue 20, Cowley et al. 2023 Fig. 2): per kind of designed image the measured %Δr
 * (mean ± s.e. over units, sign-flip permutation p) next to the model's predicted %Δr, measured against predicted
 * per unit and kind, and every image the session showed with its unit, kind, base image and responses.
 */
import { useState } from "react";
import type { CausalKindRow, CausalUnitRow, SessionDetail } from "../../main/api/contract.js";
import { useApi } from "../api.js";
import { CausalKindChart, CausalScatter } from "../charts/CausalCharts.js";
import { CausalGallery } from "../charts/CausalGallery.js";
import { formatChange, formatFit, formatP, formatPredicted, kindLabel } from "../charts/causal-format.js";
import type { TabProps } from "../controls.js";
import { formatDate, formatNumber } from "../format.js";
import { Status } from "../Status.js";

/** The tab button's state: disabled, with the reason as its tooltip, for a session without causal images. */
export function causalTabReason(s: SessionDetail): { disabled?: boolean; title: string } {
  if (s.causalImages > 0) return { title: `${s.causalImages} designed images of a causal test` };
  return {
    disabled: true,
    title:
      "This session showed no designed images of a causal test (maximizing synthesized, adversarial or smoothed; " +
      "cortexloop design causal writes such a protocol).",
  };
}

export function CausalTab({ id }: TabProps) {
  // Design unit → the session's unit, where their names differ (as `analyze causal --unit-map`); a session's own:
  // another session's map would name units that session may not have (the API refuses such a map).
  const [mapOf, setMapOf] = useState<{ session: number; map: Record<string, string> }>({ session: id, map: {} });
  const unitMap = mapOf.session === id ? mapOf.map : {};
  const setUnitMap = (map: Record<string, string>): void => setMapOf({ session: id, map });
  const mapped = Object.keys(unitMap).length > 0;
  const review = useApi(
    "causal",
    mapped ? { session: id, unitMap } : { session: id },
    `${id}:${JSON.stringify(unitMap)}`,
  );
  if (review.status !== "ok") return <Status state={review} what="the causal test" />;
  const r = review.value;
  if (!r.available)
    return (
      <p className="muted" data-testid="causal-none">
        {r.message}
      </p>
    );
  const base = `session-${id}-causal`;
  const predictedIn =
    r.scale === "compact"
      ? "compact models' units"
      : r.scale === "z-scored"
        ? "the ensemble's z-scored units"
        : r.scale === "responses"
          ? "spikes in the count window"
          : "units the design did not record";
  // %Δr of raw predictions means something only where they are spikes.
  const spikes = r.scale === "responses";
  return (
    <>
      <p className="muted" data-testid="causal-design">
        Design {r.designId}
        {r.modelVersionId !== null ? ` from model version ${r.modelVersionId}` : ""}, {formatDate(r.designedAt)}
        {` · ${r.images.length} images shown · predictions in ${predictedIn} · ${r.counting.text}`}
      </p>
      <p className="muted" data-testid="causal-predicted-scale">
        Predicted %Δr: each unit's predictions mapped onto its measured responses by least squares over its normal
        images (random normal, maximizing normal, bases), so it is on the measured scale
        {spikes ? "; beside it, the %Δr of the model's own predictions in spikes" : ""}.
      </p>
      {r.missingUnits.length > 0 && (
        <p className="warn" data-testid="causal-missing">
          Units of the design that this session did not record (left out): {r.missingUnits.join(", ")}. Where the
          session names them otherwise (a simulated rig's electrodes for imported models), say which unit each is:
        </p>
      )}
      {(r.missingUnits.length > 0 || mapped) && (
        <div className="row controls" data-testid="causal-unit-map">
          {[...new Set([...r.missingUnits, ...Object.keys(unitMap)])].sort().map((u) => (
            <label key={u} className="picker">
              {u} is{" "}
              <select
                value={unitMap[u] ?? ""}
                onChange={(e) => {
                  const next = { ...unitMap };
                  if (e.target.value === "") delete next[u];
                  else next[u] = e.target.value;
                  setUnitMap(next);
                }}
                data-testid={`causal-map-${u}`}
              >
                <option value="">not recorded</option>
                {r.recordedUnits.map((x) => (
                  <option key={x} value={x}>
                    {x}
                  </option>
                ))}
              </select>
            </label>
          ))}
        </div>
      )}
      <h3>Measured against predicted, by kind</h3>
      {r.summary.length === 0 ? (
        <p className="muted">
          No kind has both tested images and their comparison images among this session's recorded units.
        </p>
      ) : (
        <KindTable rows={r.summary} spikes={spikes} />
      )}
      <div className="two-even">
        {r.summary.length > 0 && <CausalKindChart rows={r.summary} fileName={`${base}-by-kind`} />}
        {r.rows.length > 0 && <CausalScatter rows={r.rows} fileName={`${base}-measured-vs-predicted`} />}
      </div>
      {r.rows.length > 0 && (
        <details>
          <summary>Per unit and kind ({r.rows.length} rows)</summary>
          <UnitTable rows={r.rows} spikes={spikes} />
        </details>
      )}
      <h3>Images</h3>
      <CausalGallery images={r.images} fileName={`${base}-images`} />
    </>
  );
}

function KindTable({ rows, spikes }: { rows: CausalKindRow[]; spikes: boolean }) {
  return (
    <table className="grid" data-testid="causal-table">
      <thead>
        <tr>
          <th>Kind</th>
          <th>Against</th>
          <th className="num">Units</th>
          <th className="num" title="100 (r − r_base) / r_base, mean ± s.e. over units">
            Measured %Δr
          </th>
          <th className="num" title="sign-flip permutation test of the units' measured %Δr">
            p
          </th>
          <th className="num" title="%Δr of each unit's predictions mapped onto its measured responses, mean ± s.e.">
            Predicted %Δr (fit to measured)
          </th>
          {spikes && (
            <th className="num" title="%Δr of the model's own predictions, in spikes, mean ± s.e. over units">
              Predicted %Δr (model's spikes)
            </th>
          )}
        </tr>
      </thead>
      <tbody>
        {rows.map((s) => (
          <tr key={s.kind} data-testid={`causal-kind-${s.kind}`}>
            <td>{kindLabel(s.kind)}</td>
            <td>{s.against}</td>
            <td className="num" data-testid="units">
              {s.units}
            </td>
            <td className="num" data-testid="measured">
              {formatChange(s.mean, s.se)}
            </td>
            <td className="num" data-testid="p">
              {formatP(s.p)}
            </td>
            <td className="num" data-testid="predicted">
              {formatPredicted(s.predictedMean, s.predictedSe, s.predictedUnits, s.units)}
            </td>
            {spikes && (
              <td className="num" data-testid="predicted-model">
                {formatChange(s.modelMean, s.modelSe)}
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function UnitTable({ rows, spikes }: { rows: CausalUnitRow[]; spikes: boolean }) {
  return (
    <table className="grid" data-testid="causal-unit-table">
      <thead>
        <tr>
          <th>Unit</th>
          <th>Model</th>
          <th>Kind</th>
          <th className="num">Images</th>
          <th className="num" title="mean response to the kind's images">
            Measured
          </th>
          <th className="num" title="mean response to the images it is compared with">
            Comparison
          </th>
          <th className="num">Measured %Δr</th>
          <th className="num" title="%Δr of the unit's predictions mapped onto its measured responses">
            Predicted %Δr
          </th>
          {spikes && <th className="num">Predicted %Δr (model's spikes)</th>}
          <th className="num" title="label permutation test of the presentations' responses">
            p
          </th>
          <th title="the unit's fit of measured on predicted responses over its normal images">Fit</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={`${r.unit}|${r.kind}`}>
            <td className="mono">{r.unit}</td>
            <td>{r.source}</td>
            <td>{kindLabel(r.kind)}</td>
            <td className="num">{r.images}</td>
            <td className="num">{formatNumber(r.measured)}</td>
            <td className="num">{formatNumber(r.measuredBase)}</td>
            <td className="num">{formatChange(r.measuredChange, null)}</td>
            <td className="num">{formatChange(r.predictedChange, null)}</td>
            {spikes && <td className="num">{formatChange(r.predictedModelChange, null)}</td>}
            <td className="num">{formatP(r.p)}</td>
            <td data-testid="causal-fit">{r.note ?? formatFit(r.fitSlope, r.fitIntercept, r.fitImages)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
