import { useMemo } from "react";
import { useApi } from "../api.js";
import type { TabProps } from "../controls.js";
import { formatTimestamp } from "../format.js";
import { Status } from "../Status.js";

export function FaultsTab({ id, state, dispatch }: TabProps) {
  const faults = useApi("faults", { session: id }, String(id));
  const all = faults.status === "ok" ? faults.value : [];
  const ordered = useMemo(() => [...all].sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.id - b.id), [all]);
  if (faults.status !== "ok") return <Status state={faults} what="the faults" />;
  if (all.length === 0)
    return (
      <p className="muted" data-testid="no-faults">
        No faults were recorded in this session.
      </p>
    );
  const codes = [...new Set(all.map((f) => f.code))].sort();
  const rows = ordered.filter((f) => state.faultCode === "" || f.code === state.faultCode);
  return (
    <>
      <div className="filters" role="group" aria-label="filter faults">
        <label>
          Code
          <select
            value={state.faultCode}
            onChange={(e) => dispatch({ action: "setFaultCode", payload: e.target.value })}
            data-testid="filter-code"
          >
            <option value="">all</option>
            {codes.map((c) => (
              <option key={c} value={c}>
                {c} ({all.filter((f) => f.code === c).length})
              </option>
            ))}
          </select>
        </label>
        <span className="muted" data-testid="faults-shown">
          {rows.length} of {all.length} faults, oldest first
        </span>
      </div>
      <table className="grid" data-testid="faults-table">
        <thead>
          <tr>
            <th>When (local time)</th>
            <th>Code</th>
            <th>What happened</th>
            <th>Presentations</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((f) => (
            <tr key={f.id}>
              <td className="mono nowrap" title={f.at}>
                {formatTimestamp(f.at)}
              </td>
              <td>
                <code>{f.code}</code>
              </td>
              <td>{f.message}</td>
              <td className="mono">
                {f.presentationIdxs.length > 12
                  ? `${f.presentationIdxs.slice(0, 12).join(", ")} … (${f.presentationIdxs.length})`
                  : f.presentationIdxs.join(", ")}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
