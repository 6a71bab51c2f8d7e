/**
 * The lab tech's view: pre-flight of the rig, the protocol library with dry runs, replay of any session, and the
 * runs in progress. What the server was not started with (a rig file, --allow-runs) is said at the top.
 */
import { useApi } from "../api.js";
import { Status } from "../Status.js";
import { Jobs } from "./Jobs.js";
import { Preflight } from "./Preflight.js";
import { ProtocolLibrary } from "./ProtocolLibrary.js";
import { Replay } from "./Replay.js";
import { useTechJobs } from "./useTechJobs.js";
import "./tech.css";

export function TechView({ onOpenSession }: { onOpenSession: (id: number) => void }) {
  const config = useApi("techConfig", {}, "config");
  const jobs = useTechJobs();
  return (
    <div className="tech" data-testid="tech-view">
      <h2>Tech</h2>
      <Status state={config} what="the tech view's settings" />
      {config.status === "ok" && (
        <>
          <p className="muted small" data-testid="tech-config">
            Database <code>{config.value.db}</code>
            {config.value.rigFile !== null && (
              <>
                {" "}
                · rig <strong>{config.value.rigName ?? "?"}</strong> <code>{config.value.rigFile}</code>
              </>
            )}{" "}
            · protocols from{" "}
            {config.value.protocolDirs.map((d) => (
              <code key={d}>{d} </code>
            ))}
          </p>
          {config.value.notes.map((n) => (
            <p key={n} className="note" data-testid="tech-note">
              {n}
            </p>
          ))}
          <Jobs jobs={jobs} onOpenSession={onOpenSession} />
          <Preflight rigFile={config.value.rigFile} />
          <Replay
            jobs={jobs}
            canRun={config.value.allowRuns}
            hasRig={config.value.rigFile !== null}
            reload={jobs.finished}
            onOpenSession={onOpenSession}
          />
          <ProtocolLibrary jobs={jobs} canRun={config.value.allowRuns} reload={jobs.finished} />
        </>
      )}
    </div>
  );
}
