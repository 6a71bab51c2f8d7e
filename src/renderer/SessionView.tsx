import type { ReactNode } from "react";
import type { SessionDetail } from "../main/api/contract.js";
import { useApi } from "./api.js";
import { ExportPanel } from "./ExportPanel.js";
import { formatDate } from "./format.js";
import { sessionTabs, type Dispatched, type ReviewState } from "./state.js";
import { Status } from "./Status.js";
import { FaultsTab } from "./tabs/FaultsTab.js";
import { ModelsTab } from "./tabs/ModelsTab.js";
import { CausalTab, causalTabReason } from "./tabs/CausalTab.js";
import { Overview } from "./tabs/Overview.js";
import { PresentationsTab } from "./tabs/PresentationsTab.js";
import { ResponsesTab } from "./tabs/ResponsesTab.js";
import { TuningTab } from "./tabs/TuningTab.js";
import { UnitTab } from "./tabs/UnitTab.js";
import type { TabProps } from "./controls.js";

export function SessionView({ state, dispatch }: { state: ReviewState; dispatch: (d: Dispatched) => void }) {
  const id = state.sessionId as number;
  const detail = useApi("getSession", { session: id }, String(id));
  return (
    <section>
      <nav className="crumbs">
        <a
          className="link"
          href="#/"
          onClick={(e) => {
            e.preventDefault();
            dispatch({ action: "backToSessions", payload: undefined });
          }}
          data-testid="back"
        >
          ← All sessions
        </a>
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
                {...(t.id === "causal" ? causalTabReason(detail.value) : {})}
              >
                {t.label}
                {t.id === "faults" && detail.value.faults > 0 ? (
                  <span className="count warn">{detail.value.faults}</span>
                ) : null}
              </button>
            ))}
          </div>
          <div className="tab-body" role="tabpanel">
            <TabBody id={id} detail={detail.value} state={state} dispatch={dispatch} />
          </div>
        </>
      )}
    </section>
  );
}

function TabBody(props: TabProps) {
  switch (props.state.tab) {
    case "overview":
      return <Overview s={props.detail} />;
    case "responses":
      return <ResponsesTab {...props} />;
    case "unit":
      return <UnitTab {...props} />;
    case "tuning":
      return <TuningTab {...props} />;
    case "presentations":
      return <PresentationsTab {...props} />;
    case "faults":
      return <FaultsTab {...props} />;
    case "models":
      return <ModelsTab {...props} />;
    case "causal":
      return <CausalTab {...props} />;
    case "export":
      return <ExportPanel sessionId={props.id} sessionName={props.detail.name} state={props.detail.state} />;
  }
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
        {s.name}{" "}
        <span className="muted mono">
          #{s.id} · {s.uuid}
        </span>
      </h2>
      <p className="muted">
        {formatDate(s.createdAt)} · protocol <strong>{s.protocolName}</strong> · rig <strong>{s.rigName}</strong>
        {` · seed ${s.seed} · count window ${s.countWindow.startMs}–${s.countWindow.endMs} ms`}
        {` in ${s.countWindow.bins} bin${s.countWindow.bins === 1 ? "" : "s"}`}
      </p>
      <div className="stats">
        <Stat label="state">
          <span className={`badge state-${s.state}`}>{s.state}</span>
        </Stat>
        <Stat label="presentations">{s.counts.presentations}</Stat>
        <Stat label="with counts">{s.counts.withCounts}</Stat>
        <Stat label="incomplete / missing" tone={s.counts.incomplete + s.counts.missing > 0 ? "warn" : undefined}>
          <span data-testid="incomplete-count">{s.counts.incomplete}</span> / {s.counts.missing}
        </Stat>
        <Stat label="units">{s.units}</Stat>
        <Stat label="faults" tone={s.faults > 0 ? "warn" : undefined}>
          {s.faults}
        </Stat>
      </div>
    </header>
  );
}
