import { useApi } from "./api.js";
import { formatDate } from "./format.js";
import { Status } from "./Status.js";

export function SessionList({ onOpen }: { onOpen: (id: number) => void }) {
  const sessions = useApi("listSessions", {}, "all");
  return (
    <section>
      <h2>Sessions</h2>
      <Status state={sessions} what="the sessions" />
      {sessions.status === "ok" && sessions.value.length === 0 && <p className="muted">This database has no sessions yet. Run one with <code>cortexloop run</code> or <code>cortexloop demo</code>.</p>}
      {sessions.status === "ok" && sessions.value.length > 0 && (
        <table className="grid" data-testid="sessions-table">
          <thead>
            <tr>
              <th>Session</th>
              <th>Date</th>
              <th>Protocol</th>
              <th>Rig</th>
              <th className="num">Units</th>
              <th className="num">Presentations</th>
              <th className="num">Faults</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {sessions.value.map((s) => (
              <tr key={s.id}>
                <td>
                  <button type="button" className="link" onClick={() => onOpen(s.id)} data-testid={`open-session-${s.id}`}>
                    {s.name} <span className="muted mono">#{s.id} · {s.uuid.slice(0, 8)}</span>
                  </button>
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
      )}
    </section>
  );
}
