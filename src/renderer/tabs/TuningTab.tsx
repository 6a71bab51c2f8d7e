import { useApi } from "../api.js";
import { TuningCharts } from "../charts/Tuning.js";
import { CountingControl, currentUnit, UnitPicker, type TabProps } from "../controls.js";
import { Status } from "../Status.js";

export function TuningTab({ id, state, dispatch }: TabProps) {
  const tuning = useApi(
    "tuning",
    { session: id, includeIncomplete: state.includeIncomplete },
    `${id}:${state.includeIncomplete}`,
  );
  if (tuning.status !== "ok") return <Status state={tuning} what="the tuning curves" />;
  const t = tuning.value;
  if (t.units.length === 0) return <p className="muted">No units recorded spikes in this session.</p>;
  if (t.curves.length === 0)
    return (
      <p className="muted" data-testid="no-tuning">
        No tuning curves: this session showed no generated gratings, dots or noise whose parameters are known (at least
        3 images of a family).
      </p>
    );
  const unitIndex = currentUnit(t.units, state.unitId);
  return (
    <>
      <div className="row controls">
        <UnitPicker units={t.units} index={unitIndex} onPick={(u) => dispatch({ action: "selectUnit", payload: u })} />
      </div>
      <CountingControl state={state} dispatch={dispatch} text={t.counting.text} />
      {t.curves.some((c) => c.predicted !== undefined) && (
        <p className="muted" data-testid="tuning-predicted-note">
          This session showed a <code>design tuning</code> sweep: beside each measured curve (mean ± s.e.), the dashed
          curve is the prediction stored with the design, averaged over the same images as each measured point, on its
          own right-hand axis (the model&apos;s scale is not spike counts; compare shapes, not heights).
        </p>
      )}
      <TuningCharts tuning={t} unitIndex={unitIndex} fileName={`session-${id}-tuning`} />
    </>
  );
}
