/** Pause / resume / stop from the page, through the contract's liveControl channel (everything so far is saved). */
import { useState } from "react";
import type { LiveControlRequest, LiveState } from "../../main/api/contract.js";
import { useCortexloop } from "../api.js";

type ControlAction = LiveControlRequest["action"];

export function LiveControls({ state }: { state: LiveState }) {
  const api = useCortexloop();
  const [busy, setBusy] = useState(false);
  const [asked, setAsked] = useState<ControlAction | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirmStop, setConfirmStop] = useState(false);
  const running = state.phase === "running" || state.phase === "paused";
  const operatorPaused = state.phase === "paused" && state.pause?.by === "operator";

  const act = async (action: ControlAction): Promise<void> => {
    setBusy(true);
    setError(null);
    setConfirmStop(false);
    const reply = await api.liveControl({ action });
    setBusy(false);
    if (reply.ok) setAsked(action);
    else setError(reply.message);
  };

  // A pause takes effect before the next presentation: until then the request is shown as waiting.
  const pending = asked === "pause" && state.phase === "running";
  return (
    <div className="live-controls" aria-label="session controls">
      <button
        type="button"
        disabled={busy || state.phase !== "running" || pending}
        onClick={() => void act("pause")}
        data-testid="live-pause"
      >
        Pause
      </button>
      <button
        type="button"
        className="primary"
        disabled={busy || !operatorPaused}
        onClick={() => void act("resume")}
        data-testid="live-resume"
      >
        Resume
      </button>
      {confirmStop ? (
        <span className="live-confirm">
          End the session now? Everything so far is saved.{" "}
          <button type="button" className="danger" onClick={() => void act("stop")} data-testid="live-stop-confirm">
            Stop now
          </button>{" "}
          <button type="button" onClick={() => setConfirmStop(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button type="button" disabled={busy || !running} onClick={() => setConfirmStop(true)} data-testid="live-stop">
          Stop…
        </button>
      )}
      {pending ? <span className="muted small">pausing before the next presentation…</span> : null}
      {state.phase === "paused" && state.pause !== null && state.pause.by !== "operator" ? (
        <span className="muted small">waiting for the rig; the session resumes by itself when it is back</span>
      ) : null}
      {error !== null ? (
        <p className="error" role="alert" data-testid="live-control-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}
