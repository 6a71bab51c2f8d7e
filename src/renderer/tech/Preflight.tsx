/** Pre-flight of the configured rig: each check's result as the controller found it, run again on demand. */
import { useState } from "react";
import type { PreflightReport, PreflightStatus } from "../../main/api/contract.js";
import { useCortexloop } from "../api.js";
import { formatDate } from "../format.js";

const statusText: Record<PreflightStatus, string> = { pass: "pass", warn: "warning", fail: "FAIL", skip: "skipped" };

export function Preflight({ rigFile }: { rigFile: string | null }) {
  const api = useCortexloop();
  const [report, setReport] = useState<PreflightReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(): Promise<void> {
    setBusy(true);
    setError(null);
    const reply = await api.preflight({});
    setBusy(false);
    if (!reply.ok) {
      setReport(null);
      setError(`${reply.message} (${reply.code})`);
      return;
    }
    setReport(reply.value);
  }

  return (
    <section className="panel tech-section" data-testid="preflight">
      <h2>Pre-flight</h2>
      <p className="muted">
        Before a session: the rig's data port and heartbeat, the event box or Network Events, the display, disk space
        and the database.{" "}
        {rigFile === null ? (
          "No rig file is configured."
        ) : (
          <>
            Rig file <code>{rigFile}</code>.
          </>
        )}
      </p>
      <button type="button" className="primary" onClick={() => void run()} disabled={busy} data-testid="run-preflight">
        {busy ? "Checking…" : report === null ? "Run pre-flight" : "Run again"}
      </button>
      {error !== null && (
        <div className="error" role="alert" data-testid="preflight-error">
          <p>{error}</p>
        </div>
      )}
      {report !== null && (
        <>
          <p className={report.ok ? "ok-text" : "bad-text"} data-testid="preflight-verdict">
            {report.ok
              ? `Ready: rig "${report.rigName}" passed every check.`
              : `Not ready: ${report.checks.filter((c) => c.status === "fail").length} check(s) failed on rig ` +
                `"${report.rigName}".`}{" "}
            <span className="muted small">checked {formatDate(report.at)}</span>
          </p>
          <table className="grid" data-testid="preflight-checks">
            <thead>
              <tr>
                <th>Check</th>
                <th>Result</th>
                <th>What was found</th>
                <th className="num">ms</th>
              </tr>
            </thead>
            <tbody>
              {report.checks.map((c) => (
                <tr key={c.id} data-testid={`check-${c.id}`} data-status={c.status}>
                  <td>{c.label}</td>
                  <td>
                    <span className={`badge check-${c.status}`}>{statusText[c.status]}</span>
                  </td>
                  <td className="check-detail">{c.detail}</td>
                  <td className="num">{c.ms}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
