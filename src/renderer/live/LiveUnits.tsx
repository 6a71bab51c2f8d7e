/** Per-unit counts as they arrive: running mean, responsiveness so far (F of the image effect), and a raster. */
import { unitResponsiveness, type LiveState } from "../../main/api/live-state.js";
import { formatNumber, rampColor } from "../format.js";

const cellPx = 10;

export function LiveUnits({ state }: { state: LiveState }) {
  const units = unitResponsiveness(state);
  if (units.length === 0)
    return (
      <p className="muted" data-testid="live-units-empty">
        No counts yet: they appear here as the rig sends them.
      </p>
    );
  const maxMean = Math.max(1e-9, ...units.map((u) => u.mean));
  return (
    <div className="live-units">
      <table className="table" data-testid="live-units">
        <thead>
          <tr>
            <th>unit</th>
            <th title="presentations with complete counts">n</th>
            <th title="mean spike count in the count window (complete counts only)">mean count</th>
            <th />
            <th title="one-way ANOVA F of the image effect so far (needs repeats)">F (images)</th>
          </tr>
        </thead>
        <tbody>
          {units.map((u, i) => (
            <tr key={u.key} data-testid="live-unit" data-unit={u.key} data-n={u.n} data-sum={state.units[i]!.sum}>
              <td>{u.key}</td>
              <td>{u.n}</td>
              <td>{formatNumber(u.mean, 2)}</td>
              <td>
                <span className="live-bar" style={{ width: `${Math.round((u.mean / maxMean) * 80)}px` }} />
              </td>
              <td title={u.f === null ? "" : `F(${u.dfImages}, ${u.dfWithin})`}>
                {u.f === null ? "–" : formatNumber(u.f, 1)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Raster state={state} />
    </div>
  );
}

/** The newest presentations (columns, oldest left) × units (rows), shaded by each unit's own largest count. */
function Raster({ state }: { state: LiveState }) {
  const rows = state.units.length;
  const cols = state.recent.length;
  const max = state.units.map((_, u) => Math.max(1, ...state.recent.map((r) => r.counts[u] ?? 0)));
  return (
    <figure className="live-raster">
      <svg
        width={Math.max(1, cols) * cellPx}
        height={rows * cellPx}
        role="img"
        aria-label="newest presentations by unit"
        data-testid="live-raster"
      >
        {state.recent.map((r, c) =>
          state.units.map((_, u) => {
            const v = r.counts[u] ?? null;
            return (
              <rect
                key={`${r.idx}-${u}`}
                x={c * cellPx}
                y={u * cellPx}
                width={cellPx - 1}
                height={cellPx - 1}
                fill={v === null ? "#eee" : rampColor(v / max[u]!)}
                opacity={r.complete ? 1 : 0.4}
              >
                <title>{`presentation ${r.idx}, unit ${state.units[u]!.key}: ${v ?? "no count"}`}</title>
              </rect>
            );
          }),
        )}
      </svg>
      <figcaption className="muted small">
        the newest {cols} presentations (left to right) by unit; faded: incomplete counts
      </figcaption>
    </figure>
  );
}
