import { useMemo } from "react";
import type { SessionListItem } from "../main/api/contract.js";
import { useApi } from "./api.js";
import { formatDate } from "./format.js";
import type { SessionFilters, SessionSortKey } from "./route.js";
import type { Dispatched, ReviewState } from "./state.js";
import { Status } from "./Status.js";

/** The sessions the filters keep, in the chosen order (pure, so it is tested without a browser). */
export function filterSessions(rows: readonly SessionListItem[], f: SessionFilters): SessionListItem[] {
  const since = f.since === "" ? undefined : Date.parse(`${f.since}T00:00:00`);
  const kept = rows.filter(
    (s) =>
      (f.protocol === "" || s.protocolName === f.protocol) &&
      (f.rig === "" || s.rigName === f.rig) &&
      (f.faults === "" || (f.faults === "with" ? s.faults > 0 : s.faults === 0)) &&
      (since === undefined || Date.parse(s.createdAt) >= since),
  );
  const key: Record<SessionSortKey, (s: SessionListItem) => string | number> = {
    date: (s) => Date.parse(s.createdAt),
    name: (s) => s.name.toLowerCase(),
    protocol: (s) => s.protocolName.toLowerCase(),
    rig: (s) => s.rigName.toLowerCase(),
    faults: (s) => s.faults,
    presentations: (s) => s.presentations,
  };
  const k = key[f.sort];
  const sign = f.dir === "asc" ? 1 : -1;
  return [...kept].sort((a, b) => {
    const x = k(a);
    const y = k(b);
    return (x < y ? -1 : x > y ? 1 : 0) * sign || (a.id - b.id) * sign;
  });
}

export function SessionList({ state, dispatch }: { state: ReviewState; dispatch: (d: Dispatched) => void }) {
  const sessions = useApi("listSessions", {}, "all");
  const f = state.sessions;
  const rows = useMemo(() => (sessions.status === "ok" ? filterSessions(sessions.value, f) : []), [sessions, f]);
  const options = (pick: (s: SessionListItem) => string): string[] =>
    sessions.status === "ok" ? [...new Set(sessions.value.map(pick))].sort() : [];
  const set = (payload: Partial<SessionFilters>): void => dispatch({ action: "setSessionFilters", payload });
  const header = (key: SessionSortKey, label: string, className?: string) => (
    <th className={className} aria-sort={f.sort === key ? (f.dir === "asc" ? "ascending" : "descending") : "none"}>
      <button
        type="button"
        className="link sort"
        onClick={() => dispatch({ action: "sortSessions", payload: key })}
        data-testid={`sort-${key}`}
      >
        {label}
        {f.sort === key ? (f.dir === "asc" ? " ▲" : " ▼") : ""}
      </button>
    </th>
  );
  return (
    <section>
      <h2>Sessions</h2>
      <Status state={sessions} what="the sessions" />
      {sessions.status === "ok" && sessions.value.length === 0 && (
        <p className="muted">
          This database has no sessions yet. Run one with <code>cortexloop run</code> or <code>cortexloop demo</code>.
        </p>
      )}
      {sessions.status === "ok" && sessions.value.length > 0 && (
        <>
          <div className="filters" role="group" aria-label="filter sessions">
            <label>
              Protocol
              <select
                value={f.protocol}
                onChange={(e) => set({ protocol: e.target.value })}
                data-testid="filter-protocol"
              >
                <option value="">all</option>
                {options((s) => s.protocolName).map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
            <label>
              Rig
              <select value={f.rig} onChange={(e) => set({ rig: e.target.value })} data-testid="filter-rig">
                <option value="">all</option>
                {options((s) => s.rigName).map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
            <label>
              Faults
              <select
                value={f.faults}
                onChange={(e) => set({ faults: e.target.value as SessionFilters["faults"] })}
                data-testid="filter-faults"
              >
                <option value="">any</option>
                <option value="with">with faults</option>
                <option value="without">without faults</option>
              </select>
            </label>
            <label>
              Since
              <input
                type="date"
                value={f.since}
                onChange={(e) => set({ since: e.target.value })}
                data-testid="filter-since"
              />
            </label>
            <span className="muted" data-testid="sessions-shown">
              {rows.length} of {sessions.value.length} sessions
            </span>
          </div>
          <table className="grid" data-testid="sessions-table">
            <thead>
              <tr>
                {header("name", "Session")}
                {header("date", "Date")}
                {header("protocol", "Protocol")}
                {header("rig", "Rig")}
                <th className="num">Units</th>
                {header("presentations", "Presentations", "num")}
                {header("faults", "Faults", "num")}
                <th>State</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.id}>
                  <td>
                    <a
                      className="link"
                      href={`#/session/${s.id}/overview`}
                      onClick={(e) => {
                        e.preventDefault();
                        dispatch({ action: "openSession", payload: s.id });
                      }}
                      data-testid={`open-session-${s.id}`}
                    >
                      {s.name}{" "}
                      <span className="muted mono">
                        #{s.id} · {s.uuid.slice(0, 8)}
                      </span>
                    </a>
                  </td>
                  <td>{formatDate(s.createdAt)}</td>
                  <td>{s.protocolName}</td>
                  <td>{s.rigName}</td>
                  <td className="num">{s.units}</td>
                  <td className="num">{s.presentations}</td>
                  <td className={`num ${s.faults > 0 ? "warn" : ""}`}>{s.faults}</td>
                  <td>
                    <span className={`badge state-${s.state}`}>{s.state}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
