/** Replays and dry runs: progress while they run, the recorded session when they end. */
import type { TechJobInfo } from "../../main/api/contract.js";
import { progressFraction } from "./format.js";
import type { TechJobs } from "./useTechJobs.js";

function JobRow({ job, onCancel, onOpen }: { job: TechJobInfo; onCancel: () => void; onOpen: (id: number) => void }) {
  const running = job.state === "starting" || job.state === "running";
  const pct = Math.round(progressFraction(job.done, job.total) * 100);
  return (
    <li className={`job job-${job.state}`} data-testid="job" data-state={job.state} data-kind={job.kind}>
      <div className="job-head">
        <strong>{job.title}</strong> <span className="muted">on {job.rigName}</span>{" "}
        <span className={`badge job-state-${job.state}`} data-testid="job-state">
          {job.state}
        </span>
        {running && (
          <button type="button" onClick={onCancel} data-testid="cancel-job">
            Cancel
          </button>
        )}
        {job.sessionId !== null && !running && (
          <button type="button" className="link" onClick={() => onOpen(job.sessionId!)} data-testid="job-session">
            open session #{job.sessionId}
          </button>
        )}
      </div>
      <div
        className="progress"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={job.total}
        aria-valuenow={job.done}
        data-testid="job-progress"
      >
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <div className="small" data-testid="job-message">
        {job.done}/{job.total} presentations with counts stored · {job.message}
      </div>
      {job.state === "failed" && job.log.length > 0 && (
        <pre className="job-log small">{job.log.slice(-8).join("\n")}</pre>
      )}
    </li>
  );
}

export function Jobs({ jobs, onOpenSession }: { jobs: TechJobs; onOpenSession: (id: number) => void }) {
  return (
    <section className="panel tech-section" data-testid="jobs">
      <h2>Runs</h2>
      {jobs.error !== null && (
        <div className="error" role="alert" data-testid="jobs-error">
          <p>{jobs.error}</p>
        </div>
      )}
      {jobs.jobs.length === 0 ? (
        <p className="muted">No replay or dry run yet in this controller.</p>
      ) : (
        <ul className="jobs">
          {jobs.jobs.map((j) => (
            <JobRow key={j.id} job={j} onCancel={() => void jobs.cancel(j.id)} onOpen={onOpenSession} />
          ))}
        </ul>
      )}
    </section>
  );
}
