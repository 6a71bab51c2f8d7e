import type { ReactNode } from "react";
import type { PresentationRow, SessionDetail } from "../main/api/contract.js";
import { useApi } from "./api.js";
import { Heatmap, ResponsesChart } from "./charts.js";
import { ExportPanel } from "./ExportPanel.js";
import { formatDate, formatNumber } from "./format.js";
import { sessionTabs, type Dispatched, type ReviewState } from "./state.js";
import { Status } from "./Status.js";
import { Thumb } from "./Thumb.js";

const pageSize = 50;

export function SessionView({ state, dispatch }: { state: ReviewState; dispatch: (d: Dispatched) => void }) {
  const id = state.sessionId as number;
  const key = String(id);
  const detail = useApi("getSession", { session: id }, key);
  return (
    <section>
      <nav className="crumbs">
        <button type="button" className="link" onClick={() => dispatch({ action: "backToSessions", payload: undefined })} data-testid="back">
          ← All sessions
        </button>
      </nav>
      <Status state={detail} what={`session ${id}`} />
      {detail.status === "ok" && (
        <>
          <SessionHeader s={detail.value} />
          <div className="tabs" role="tablist">
            {sessionTabs.map((t) => (
              <button
                key={t.id}
                type="button"
                role="tab"
                aria-selected={state.tab === t.id}
                className={state.tab === t.id ? "tab active" : "tab"}
                onClick={() => dispatch({ action: "selectTab", payload: t.id })}
                data-testid={`tab-${t.id}`}
              >
                {t.label}
                {t.id === "faults" && detail.value.faults > 0 ? <span className="count warn">{detail.value.faults}</span> : null}
              </button>
            ))}
          </div>
          <div className="tab-body" role="tabpanel">
            {state.tab === "overview" && <Overview s={detail.value} />}
            {state.tab === "responses" && <Responses id={id} state={state} dispatch={dispatch} />}
            {state.tab === "presentations" && <Presentations id={id} page={state.presentationsPage} dispatch={dispatch} />}
            {state.tab === "faults" && <Faults id={id} />}
            {state.tab === "models" && <Models id={id} />}
            {state.tab === "export" && <ExportPanel sessionId={id} sessionName={detail.value.name} />}
          </div>
        </>
      )}
    </section>
  );
}

function Stat({ label, children, tone }: { label: string; children: ReactNode; tone?: "warn" }) {
  return (
    <div className={`stat ${tone ?? ""}`}>
      <div className="stat-value">{children}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

function SessionHeader({ s }: { s: SessionDetail }) {
  return (
    <header className="session-head">
      <h2>
        {s.name} <span className="muted mono">#{s.id} · {s.uuid}</span>
      </h2>
      <p className="muted">
        {formatDate(s.createdAt)} · protocol <strong>{s.protocolName}</strong> · rig <strong>{s.rigName}</strong> · seed {s.seed} · count window {s.countWindow.startMs}–{s.countWindow.endMs} ms in{" "}
        {s.countWindow.bins} bin{s.countWindow.bins === 1 ? "" : "s"}
      </p>
      <div className="stats">
        <Stat label="state">
          <span className={`badge state-${s.state}`}>{s.state}</span>
        </Stat>
        <Stat label="presentations">{s.counts.presentations}</Stat>
        <Stat label="with counts">{s.counts.withCounts}</Stat>
        <Stat label="incomplete / missing" tone={s.counts.incomplete + s.counts.missing > 0 ? "warn" : undefined}>
          {s.counts.incomplete} / {s.counts.missing}
        </Stat>
        <Stat label="units">{s.units}</Stat>
        <Stat label="faults" tone={s.faults > 0 ? "warn" : undefined}>
          {s.faults}
        </Stat>
      </div>
    </header>
  );
}

function Overview({ s }: { s: SessionDetail }) {
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
              <span className="mono muted">{formatDate(e.at)}</span> <span className={`badge state-${e.kind}`}>{e.kind}</span> {e.detail}
            </li>
          ))}
        </ol>
        <h3>Presentations</h3>
        <table className="grid compact">
          <tbody>
            <tr><td>shown</td><td className="num">{s.counts.shown}</td></tr>
            <tr><td>unconfirmed</td><td className="num">{s.counts.unconfirmed}</td></tr>
            <tr><td>skipped</td><td className="num">{s.counts.skipped}</td></tr>
            <tr><td>counts complete</td><td className="num">{s.counts.withCounts}</td></tr>
            <tr><td>counts incomplete</td><td className="num">{s.counts.incomplete}</td></tr>
            <tr><td>no counts stored</td><td className="num">{s.counts.missing}</td></tr>
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Responses({ id, state, dispatch }: { id: number; state: ReviewState; dispatch: (d: Dispatched) => void }) {
  const responses = useApi("unitResponses", { session: id }, String(id));
  return (
    <>
      <Status state={responses} what="the unit responses" />
      {responses.status === "ok" && responses.value.units.length === 0 && <p className="muted">No units recorded spikes in this session.</p>}
      {responses.status === "ok" && responses.value.units.length > 0 && (
        <>
          <ResponsesChart
            data={responses.value}
            hiddenUnits={state.hiddenUnits}
            onToggleUnit={(u) => dispatch({ action: "toggleUnit", payload: u })}
            onShowAll={() => dispatch({ action: "showAllUnits", payload: undefined })}
          />
          <Heatmap data={responses.value} />
        </>
      )}
    </>
  );
}

function Presentations({ id, page, dispatch }: { id: number; page: number; dispatch: (d: Dispatched) => void }) {
  const rows = useApi("presentations", { session: id }, String(id));
  if (rows.status !== "ok") return <Status state={rows} what="the presentations" />;
  const pages = Math.max(1, Math.ceil(rows.value.length / pageSize));
  const current = Math.min(page, pages - 1);
  const shown = rows.value.slice(current * pageSize, (current + 1) * pageSize);
  const pager = (
    <div className="pager">
      <button type="button" disabled={current === 0} onClick={() => dispatch({ action: "setPresentationsPage", payload: current - 1 })}>
        ← Previous
      </button>
      <span className="muted">
        {current * pageSize + 1}–{current * pageSize + shown.length} of {rows.value.length}
      </span>
      <button type="button" disabled={current >= pages - 1} onClick={() => dispatch({ action: "setPresentationsPage", payload: current + 1 })}>
        Next →
      </button>
    </div>
  );
  return (
    <>
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
    <tr>
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
      <td className="num">{formatNumber(p.durationMs, 1)}</td>
      <td>
        <span className={`badge pres-${p.status}`}>{p.status}</span>
      </td>
      <td className="num">{p.onsetSample ?? "—"}</td>
      <td>{p.countsComplete === null ? <span className="warn">none</span> : p.countsComplete ? "complete" : <span className="warn">incomplete</span>}</td>
    </tr>
  );
}

function Faults({ id }: { id: number }) {
  const faults = useApi("faults", { session: id }, String(id));
  if (faults.status !== "ok") return <Status state={faults} what="the faults" />;
  if (faults.value.length === 0) return <p className="muted" data-testid="no-faults">No faults were recorded in this session.</p>;
  return (
    <table className="grid" data-testid="faults-table">
      <thead>
        <tr>
          <th>When</th>
          <th>Code</th>
          <th>What happened</th>
          <th>Presentations</th>
        </tr>
      </thead>
      <tbody>
        {faults.value.map((f) => (
          <tr key={f.id}>
            <td className="mono">{formatDate(f.at)}</td>
            <td>
              <code>{f.code}</code>
            </td>
            <td>{f.message}</td>
            <td className="mono">{f.presentationIdxs.length > 12 ? `${f.presentationIdxs.slice(0, 12).join(", ")} … (${f.presentationIdxs.length})` : f.presentationIdxs.join(", ")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Models({ id }: { id: number }) {
  const models = useApi("modelVersions", { session: id }, String(id));
  if (models.status !== "ok") return <Status state={models} what="the model versions" />;
  if (models.value.length === 0) return <p className="muted">No model version was trained on this session yet.</p>;
  return (
    <table className="grid" data-testid="models-table">
      <thead>
        <tr>
          <th className="num">Id</th>
          <th>Name</th>
          <th>Kind</th>
          <th>Created</th>
          <th className="num">Parent</th>
          <th>Sessions</th>
          <th className="num" title="noise-corrected explained variance">r²<sub>ER</sub></th>
        </tr>
      </thead>
      <tbody>
        {models.value.map((m) => (
          <tr key={m.id}>
            <td className="num">{m.id}</td>
            <td>{m.name}</td>
            <td>{m.kind}</td>
            <td>{formatDate(m.createdAt)}</td>
            <td className="num">{m.parentId ?? "—"}</td>
            <td className="mono">{m.sessionIds.join(", ")}</td>
            <td className="num" data-testid="r2er">{formatNumber(m.r2er, 3)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
