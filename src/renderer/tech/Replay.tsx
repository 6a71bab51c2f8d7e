/** Replay of any past session in one click (simulated rig or the configured one), and its protocol to download. */
import { useState } from "react";
import { useApi, useCortexloop } from "../api.js";
import { formatDate } from "../format.js";
import { Status } from "../Status.js";
import { downloadBase64 } from "./format.js";
import type { TechJobs } from "./useTechJobs.js";

export function Replay({
  jobs,
  canRun,
  hasRig,
  reload,
  onOpenSession,
}: {
  jobs: TechJobs;
  canRun: boolean;
  hasRig: boolean;
  reload: number;
  onOpenSession: (id: number) => void;
}) {
  const api = useCortexloop();
  const sessions = useApi("listSessions", {}, `sessions-${reload}`);
  const [error, setError] = useState<string | null>(null);

  async function download(id: number): Promise<void> {
    setError(null);
    const reply = await api.replayProtocolFile({ session: id });
    if (!reply.ok) return setError(`${reply.message} (${reply.code})`);
    downloadBase64(reply.value.fileName, reply.value.mediaType, reply.value.base64);
  }

  return (
    <section className="panel tech-section" data-testid="replay">
      <h2>Replay a session</h2>
      <p className="muted">
        The same stimuli in the same order, with the session's timing and count window, recorded as a new session.
      </p>
      <Status state={sessions} what="the sessions" />
      {error !== null && (
        <div className="error" role="alert">
          <p>{error}</p>
        </div>
      )}
      {sessions.status === "ok" && (
        <table className="grid" data-testid="replay-table">
          <thead>
            <tr>
              <th>Session</th>
              <th>Date</th>
              <th>Protocol</th>
              <th>Rig</th>
              <th className="num">Presentations</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {[...sessions.value].reverse().map((s) => (
              <tr key={s.id} data-testid="replay-row" data-session={s.id}>
                <td>
                  <button type="button" className="link" onClick={() => onOpenSession(s.id)}>
                    {s.name}
                  </button>{" "}
                  <span className="muted mono">#{s.id}</span>
                </td>
                <td>{formatDate(s.createdAt)}</td>
                <td>{s.protocolName}</td>
                <td>{s.rigName}</td>
                <td className="num">{s.presentations}</td>
                <td className="actions">
                  <button type="button" onClick={() => void download(s.id)} data-testid="download-replay">
                    Replay protocol
                  </button>
                  <button
                    type="button"
                    className="primary"
                    disabled={!canRun || s.presentations === 0}
                    onClick={() => void jobs.start({ kind: "replay", session: s.id, rig: "sim" })}
                    data-testid="replay-sim"
                  >
                    Replay (simulated rig)
                  </button>
                  <button
                    type="button"
                    disabled={!canRun || !hasRig || s.presentations === 0}
                    title={hasRig ? "on the rig file the server was started with" : "no rig file is configured"}
                    onClick={() => void jobs.start({ kind: "replay", session: s.id, rig: "configured" })}
                    data-testid="replay-rig"
                  >
                    Replay on rig
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
