import { useApi } from "../api.js";
import { ImageHeatmap, PresentationHeatmap } from "../charts/Heatmaps.js";
import { ReliabilityChart } from "../charts/Models.js";
import { CountingControl, currentUnit, UnitPicker, type TabProps } from "../controls.js";
import type { HeatmapOrder } from "../route.js";
import { Status } from "../Status.js";

export function ResponsesTab({ id, state, dispatch }: TabProps) {
  const request = { session: id, includeIncomplete: state.includeIncomplete };
  const key = `${id}:${state.includeIncomplete}`;
  const responses = useApi("unitResponses", request, key);
  const reliability = useApi("reliability", request, key);
  const base = `session-${id}`;
  if (responses.status !== "ok") return <Status state={responses} what="the unit responses" />;
  const data = responses.value;
  if (data.units.length === 0) return <p className="muted">No units recorded spikes in this session.</p>;
  const unitIndex = currentUnit(data.units, state.unitId);
  return (
    <>
      <CountingControl state={state} dispatch={dispatch} text={data.counting.text} />
      <div className="row controls">
        <label className="picker">
          Order images by{" "}
          <select
            value={state.heatmapOrder}
            onChange={(e) => dispatch({ action: "setHeatmapOrder", payload: e.target.value as HeatmapOrder })}
            data-testid="heatmap-order"
          >
            <option value="population">population response</option>
            <option value="unit">one unit's response</option>
            <option value="shown">first presentation</option>
          </select>
        </label>
        {state.heatmapOrder === "unit" && (
          <UnitPicker
            units={data.units}
            index={unitIndex}
            onPick={(u) => dispatch({ action: "selectUnit", payload: u })}
          />
        )}
        <span className="muted small">
          Not yet: ordering by a model's predictions (model versions do not store predictions per image).
        </span>
      </div>
      <ImageHeatmap data={data} order={state.heatmapOrder} unitIndex={unitIndex} fileName={`${base}-units-by-images`} />
      <PresentationHeatmap data={data} fileName={`${base}-units-by-presentations`} />
      {reliability.status === "ok" ? (
        <ReliabilityChart data={reliability.value} fileName={`${base}-reliability`} />
      ) : (
        <Status state={reliability} what="the reliability" />
      )}
    </>
  );
}
