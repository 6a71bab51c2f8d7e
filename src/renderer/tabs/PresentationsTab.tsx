import { useMemo } from "react";
import type { PresentationRow } from "../../main/api/contract.js";
import { useApi } from "../api.js";
import type { TabProps } from "../controls.js";
import { formatNumber } from "../format.js";
import type { PresentationFilters } from "../route.js";
import { Status } from "../Status.js";
import { Thumb } from "../Thumb.js";

const pageSize = 50;

/** How much later than planned the display reported the flip (ms); null when not shown. */
export function latenessMs(p: PresentationRow): number | null {
  return p.shownMs === null ? null : p.shownMs - p.scheduledMs;
}

export function filterPresentations(rows: readonly PresentationRow[], f: PresentationFilters): PresentationRow[] {
  return rows.filter((p) => {
    if (f.block !== "" && p.block !== f.block) return false;
    if (f.status !== "" && p.status !== f.status) return false;
    const counts = p.countsComplete === null ? "none" : p.countsComplete ? "complete" : "incomplete";
    if (f.counts !== "" && counts !== f.counts) return false;
    if (f.lateMs !== null) {
      const late = latenessMs(p);
      if (late === null || late <= f.lateMs) return false;
    }
    return true;
  });
}

export function PresentationsTab({ id, state, dispatch }: TabProps) {
  const rows = useApi("presentations", { session: id }, String(id));
  const f = state.presentations;
  const all = rows.status === "ok" ? rows.value : [];
  const kept = useMemo(() => filterPresentations(all, f), [all, f]);
  if (rows.status !== "ok") return <Status state={rows} what="the presentations" />;
  const pages = Math.max(1, Math.ceil(kept.length / pageSize));
  const current = Math.min(state.page, pages - 1);
  const shown = kept.slice(current * pageSize, (current + 1) * pageSize);
  const set = (payload: Partial<PresentationFilters>): void => dispatch({ action: "setPresentationFilters", payload });
  const blocks = [...new Set(all.map((p) => p.block))];
  const pager = (
    <div className="pager">
      <button
        type="button"
        disabled={current === 0}
        onClick={() => dispatch({ action: "setPresentationsPage", payload: current - 1 })}
      >
        ← Previous
      </button>
      <span className="muted" data-testid="presentations-shown">
        {kept.length === 0 ? 0 : current * pageSize + 1}–{current * pageSize + shown.length} of {kept.length}
        {kept.length !== all.length ? ` (filtered from ${all.length})` : ""}
      </span>
      <button
        type="button"
        disabled={current >= pages - 1}
        onClick={() => dispatch({ action: "setPresentationsPage", payload: current + 1 })}
      >
        Next →
      </button>
    </div>
  );
  return (
    <>
      <div className="filters" role="group" aria-label="filter presentations">
        <label>
          Block
          <select value={f.block} onChange={(e) => set({ block: e.target.value })} data-testid="filter-block">
            <option value="">all</option>
            {blocks.map((b) => (
              <option key={b}>{b}</option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={f.status} onChange={(e) => set({ status: e.target.value })} data-testid="filter-status">
            <option value="">all</option>
            <option>shown</option>
            <option>unconfirmed</option>
            <option>skipped</option>
          </select>
        </label>
        <label>
          Counts
          <select
            value={f.counts}
            onChange={(e) => set({ counts: e.target.value as PresentationFilters["counts"] })}
            data-testid="filter-counts"
          >
            <option value="">all</option>
            <option value="complete">complete</option>
            <option value="incomplete">incomplete</option>
            <option value="none">none</option>
          </select>
        </label>
        <label>
          Late by more than
          <input
            type="number"
            min={0}
            step={0.5}
            value={f.lateMs ?? ""}
            placeholder="ms"
            onChange={(e) => set({ lateMs: e.target.value === "" ? null : Math.max(0, Number(e.target.value)) })}
            data-testid="filter-late"
          />{" "}
          ms
        </label>
      </div>
      {pager}
      <table className="grid" data-testid="presentations-table">
        <thead>
          <tr>
            <th className="num">#</th>
            <th>Stimulus</th>
            <th>Block</th>
            <th className="num">Event code</th>
            <th className="num">Scheduled ms</th>
            <th className="num">Shown ms</th>
            <th className="num" title="shown − scheduled">
              Late ms
            </th>
            <th className="num">Duration ms</th>
            <th>Status</th>
            <th className="num">Onset sample</th>
            <th>Counts</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((p) => (
            <PresentationTr key={p.idx} p={p} />
          ))}
        </tbody>
      </table>
      {pager}
    </>
  );
}

function PresentationTr({ p }: { p: PresentationRow }) {
  return (
    <tr className={p.countsComplete === false ? "row-incomplete" : undefined}>
      <td className="num">{p.idx}</td>
      <td>
        <span className="stim">
          <Thumb sha256={p.stimulusSha256} />
          <span className="mono muted" title={p.stimulusSha256}>
            {p.stimulusSha256.slice(0, 10)}
          </span>
        </span>
      </td>
      <td>{p.block}</td>
      <td className="num">{p.eventCode}</td>
      <td className="num">{formatNumber(p.scheduledMs, 1)}</td>
      <td className="num">{formatNumber(p.shownMs, 1)}</td>
      <td className="num">{formatNumber(latenessMs(p), 1)}</td>
      <td className="num">{formatNumber(p.durationMs, 1)}</td>
      <td>
        <span className={`badge pres-${p.status}`}>{p.status}</span>
      </td>
      <td className="num">{p.onsetSample ?? "—"}</td>
      <td>
        {p.countsComplete === null ? (
          <span className="warn">none</span>
        ) : p.countsComplete ? (
          "complete"
        ) : (
          <span className="badge incomplete">incomplete</span>
        )}
      </td>
    </tr>
  );
}
