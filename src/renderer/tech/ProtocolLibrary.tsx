/** The protocol library: files and stored protocols, validated, with counts and durations; a dry run of any. */
import type { LibraryEntry } from "../../main/api/contract.js";
import { useApi } from "../api.js";
import { Status } from "../Status.js";
import { formatDuration } from "./format.js";
import type { TechJobs } from "./useTechJobs.js";

function count(n: number | null): string {
  return n === null ? "—" : String(n);
}

function Blocks({ entry }: { entry: LibraryEntry }) {
  if (entry.blocks.length === 0) return null;
  return (
    <span className="muted small">
      {entry.blocks.map((b) => `${b.name}: ${count(b.images)} × ${b.repeats}`).join(" · ")}
    </span>
  );
}

export function ProtocolLibrary({ jobs, canRun, reload }: { jobs: TechJobs; canRun: boolean; reload: number }) {
  const library = useApi("protocolLibrary", {}, `library-${reload}`);
  return (
    <section className="panel tech-section" data-testid="protocol-library">
      <h2>Protocol library</h2>
      <Status state={library} what="the protocol library" />
      {library.status === "ok" && (
        <>
          <p className="muted" data-testid="library-summary">
            {library.value.length} protocols: {library.value.filter((e) => e.valid).length} valid,{" "}
            {library.value.filter((e) => !e.valid).length} invalid. Durations are fixation + presentations × (stimulus +
            interval).
          </p>
          <table className="grid" data-testid="library-table">
            <thead>
              <tr>
                <th>Protocol</th>
                <th>Where</th>
                <th>Valid</th>
                <th className="num">Images</th>
                <th className="num">Presentations</th>
                <th className="num">Duration</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {library.value.map((e) => (
                <tr key={e.id} data-testid="library-row" data-id={e.id} data-valid={e.valid ? "yes" : "no"}>
                  <td>
                    <strong>{e.name}</strong>
                    <br />
                    <Blocks entry={e} />
                    {e.notes.map((n) => (
                      <div key={n} className="warn small">
                        {n}
                      </div>
                    ))}
                  </td>
                  <td className="mono small">
                    {e.origin === "stored" ? `${e.location} · ${e.sessions} session(s)` : e.location}
                  </td>
                  <td>
                    {e.valid ? (
                      <span className="badge check-pass">valid</span>
                    ) : (
                      <>
                        <span className="badge check-fail">invalid</span>
                        <div className="bad-text small" data-testid="library-error">
                          {e.error}
                        </div>
                      </>
                    )}
                  </td>
                  <td className="num">{count(e.images)}</td>
                  <td className="num">{count(e.presentations)}</td>
                  <td className="num">{formatDuration(e.durationMs)}</td>
                  <td>
                    <button
                      type="button"
                      disabled={!e.valid || !canRun}
                      title={canRun ? "a short session on the simulated rig" : "runs are not allowed on this server"}
                      onClick={() => void jobs.start({ kind: "dry-run", protocol: e.id, rig: "sim" })}
                      data-testid="dry-run"
                    >
                      Dry run
                    </button>
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
