/**
 * The experimenter's live view (`#/live`): the running session pushed from the controller (never polled): the rig's
 * link, progress with the current image and an ETA, counts per unit as they arrive, faults, pause / resume / stop;
 * for a campaign, the retraining job and the proposal to approve.
 */
import { liveEtaMs, type LiveState } from "../../main/api/live-state.js";
import { Thumb } from "../Thumb.js";
import { LiveControls } from "./LiveControls.js";
import { LiveUnits } from "./LiveUnits.js";
import { LiveProposal, LiveTraining } from "./LiveCampaign.js";
import { useLive, type LiveFeed } from "./useLive.js";
import { DesktopLiveView } from "./DesktopLive.js";
import "./live.css";

function formatEta(ms: number | null): string {
  if (ms === null) return "–";
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

const phaseText: Record<LiveState["phase"], string> = {
  idle: "waiting for a session",
  running: "running",
  paused: "paused",
  ended: "ended",
};

function FeedStatusLine({ feed }: { feed: LiveFeed }) {
  if (feed.status === "open") return null;
  return (
    <p className={feed.status === "unavailable" ? "error" : "muted"} role="status" data-testid="live-feed-status">
      {feed.status === "connecting" ? "Connecting to the controller…" : (feed.detail ?? feed.status)}
    </p>
  );
}

/** In the desktop app, the page attached to a session running with --serve; in a browser, its own controller's. */
export function LiveView() {
  return window.cortexloop !== undefined ? (
    <DesktopLiveView page={(feed) => <LivePage feed={feed} />} />
  ) : (
    <BrowserLive />
  );
}

function BrowserLive() {
  return <LivePage feed={useLive()} />;
}

/** The page itself, the same in both: fed by a LiveFeed, its controls calling the ApiContext's transport. */
export function LivePage({ feed }: { feed: LiveFeed }) {
  const { state } = feed;
  const progress = state.progress;
  const total = state.session?.total ?? 0;
  const done = progress?.n ?? 0;
  return (
    <div className="live" data-testid="live-view" data-batches={feed.batches}>
      <FeedStatusLine feed={feed} />
      <section className="panel live-head">
        <h2>
          {state.session === null ? "No session yet" : state.session.name}{" "}
          <span className={`badge live-phase ${state.phase}`} data-testid="live-phase" data-phase={state.phase}>
            {phaseText[state.phase]}
          </span>{" "}
          <span
            className={`badge live-link ${state.link?.state ?? "unknown"}`}
            data-testid="live-link"
            title={state.link?.message ?? ""}
          >
            rig {state.link?.state ?? "link not reported yet"}
          </span>
        </h2>
        {state.pause !== null ? (
          <p className="live-pause" data-testid="live-pause-reason">
            Paused before presentation {state.pause.atPresentation} ({state.pause.by}): {state.pause.reason}
          </p>
        ) : null}
        {state.ended !== null ? (
          <p data-testid="live-ended">
            Session {state.ended.state}: {state.ended.presented} of {state.ended.scheduled} presented,{" "}
            {state.ended.countsStored} with complete counts, {state.ended.faults} faults.
          </p>
        ) : null}
        {state.session === null ? (
          <p className="muted" data-testid="live-idle">
            No session has started in this controller yet: the view fills in as soon as one does (a campaign&apos;s
            retraining and proposals show below meanwhile).
          </p>
        ) : null}
        <div className="live-progress" hidden={state.session === null}>
          {progress !== null ? <Thumb sha256={progress.sha256} size={96} /> : <span className="thumb placeholder" />}
          <div>
            <p>
              <strong data-testid="live-progress" data-n={done} data-total={total}>
                {done} of {total}
              </strong>{" "}
              presentations · ETA{" "}
              <span data-testid="live-eta">{state.phase === "paused" ? "paused" : formatEta(liveEtaMs(state))}</span>
            </p>
            <progress max={Math.max(1, total)} value={done} />
            <p className="muted small" data-testid="live-committed" data-committed={state.committed}>
              {state.committed} presentations with counts stored ({state.complete} complete)
              {progress !== null ? ` · now showing ${progress.sha256.slice(0, 10)}…` : ""}
            </p>
          </div>
        </div>
        {state.session !== null ? <LiveControls state={state} /> : null}
      </section>
      <section className="panel">
        <h2>Units</h2>
        <LiveUnits state={state} />
      </section>
      <section className="panel" data-testid="live-faults">
        <h2>Faults ({state.faultCount})</h2>
        {state.faults.length === 0 ? (
          <p className="muted">None so far.</p>
        ) : (
          <ul className="live-faults">
            {[...state.faults].reverse().map((f, i) => (
              <li key={`${state.faultCount - i}`}>
                <code>{f.code}</code> {f.message}
              </li>
            ))}
          </ul>
        )}
      </section>
      <LiveTraining state={state} />
      <LiveProposal state={state} />
    </div>
  );
}
