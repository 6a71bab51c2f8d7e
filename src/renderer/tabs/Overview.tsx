import type { SessionDetail } from "../../main/api/contract.js";
import { formatDate } from "../format.js";

export function Overview({ s }: { s: SessionDetail }) {
  return (
    <div className="two-col">
      <div>
        <h3>Protocol</h3>
        <pre className="code" data-testid="protocol-text">
          {s.protocolText}
        </pre>
        <details>
          <summary>Rig configuration</summary>
          <pre className="code">{s.rigText}</pre>
        </details>
      </div>
      <div>
        <h3>State history</h3>
        <ol className="events">
          {s.events.map((e, i) => (
            <li key={i}>
              <span className="mono muted">{formatDate(e.at)}</span>{" "}
              <span className={`badge state-${e.kind}`}>{e.kind}</span> {e.detail}
            </li>
          ))}
        </ol>
        <h3>Presentations</h3>
        <table className="grid compact">
          <tbody>
            <tr>
              <td>shown</td>
              <td className="num">{s.counts.shown}</td>
            </tr>
            <tr>
              <td>unconfirmed</td>
              <td className="num">{s.counts.unconfirmed}</td>
            </tr>
            <tr>
              <td>skipped</td>
              <td className="num">{s.counts.skipped}</td>
            </tr>
            <tr>
              <td>counts complete</td>
              <td className="num">{s.counts.withCounts}</td>
            </tr>
            <tr>
              <td>counts incomplete (not averaged)</td>
              <td className="num">{s.counts.incomplete}</td>
            </tr>
            <tr>
              <td>no counts stored</td>
              <td className="num">{s.counts.missing}</td>
            </tr>
          </tbody>
        </table>
      </div>
    </div>
  );
}
