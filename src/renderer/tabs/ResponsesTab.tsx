import { useApi } from "../api.js";
import { imageOrder, ImageHeatmap, PresentationHeatmap } from "../charts/Heatmaps.js";
import { PredictedHeatmap } from "../charts/PredictedHeatmap.js";
import { ReliabilityChart } from "../charts/Models.js";
import { CountingControl, currentUnit, UnitPicker, type TabProps } from "../controls.js";
import type { HeatmapOrder } from "../route.js";
import { Status } from "../Status.js";

export function ResponsesTab({ id, state, dispatch }: TabProps) {
  const request = { session: id, includeIncomplete: state.includeIncomplete };
  const key = `${id}:${state.includeIncomplete}`;
  const responses = useApi("unitResponses", request, key);
  const reliability = useApi("reliability", request, key);
  // Asked for on opening the tab (the selector says which version, or why none); the controller keeps the answer.
  const predictedRequest = state.modelId === null ? { session: id } : { session: id, model: state.modelId };
  const predicted = useApi("predictedResponses", predictedRequest, `${id}:${state.modelId ?? "default"}`);
  const base = `session-${id}`;
  if (responses.status !== "ok") return <Status state={responses} what="the unit responses" />;
  const data = responses.value;
  if (data.units.length === 0) return <p className="muted">No units recorded spikes in this session.</p>;
  const unitIndex = currentUnit(data.units, state.unitId);
  const p = predicted.status === "ok" ? predicted.value : undefined;
  const prediction = p?.available === true ? p : undefined;
  const byPrediction = state.heatmapOrder === "prediction" || state.heatmapOrder === "unit-prediction";
  const why =
    predicted.status === "loading"
      ? "loading…"
      : predicted.status === "error"
        ? predicted.message
        : p?.available === false
          ? p.message
          : "";
  const version = prediction === undefined ? "" : ` (version ${prediction.modelVersion.id})`;
  const predictionLabel =
    predicted.status === "loading" ? " (loading…)" : prediction === undefined ? `: unavailable, ${why}` : version;
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
            <option value="prediction" disabled={prediction === undefined} title={why || undefined}>
              model prediction{predictionLabel}
            </option>
            <option value="unit-prediction" disabled={prediction === undefined} title={why || undefined}>
              one unit's model prediction{predictionLabel}
            </option>
          </select>
        </label>
        {p !== undefined && p.candidates.length > 0 && (byPrediction || state.modelId !== null) && (
          <label className="picker">
            Model version{" "}
            <select
              value={p.modelVersion?.id ?? ""}
              onChange={(e) => dispatch({ action: "selectModel", payload: Number(e.target.value) })}
              data-testid="prediction-version"
            >
              {p.modelVersion !== null && !p.candidates.some((c) => c.id === p.modelVersion!.id) && (
                <option value={p.modelVersion.id}>
                  {p.modelVersion.id}: {p.modelVersion.name}
                </option>
              )}
              {p.candidates.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.id}: {c.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {(state.heatmapOrder === "unit" || state.heatmapOrder === "unit-prediction") && (
          <UnitPicker
            units={data.units}
            index={unitIndex}
            onPick={(u) => dispatch({ action: "selectUnit", payload: u })}
          />
        )}
        {prediction === undefined && predicted.status !== "loading" && (
          <span className={byPrediction ? "warn small" : "muted small"} data-testid="prediction-unavailable">
            No model prediction{byPrediction ? " (ordered by the population's response instead)" : ""}: {why}
          </span>
        )}
      </div>
      <ImageHeatmap
        data={data}
        order={state.heatmapOrder}
        unitIndex={unitIndex}
        prediction={prediction}
        fileName={`${base}-units-by-images`}
      />
      {byPrediction && prediction !== undefined && (
        <PredictedHeatmap
          data={data}
          prediction={prediction}
          columns={imageOrder(data, state.heatmapOrder, unitIndex, prediction)}
          fileName={`${base}-units-by-images-predicted`}
        />
      )}
      <PresentationHeatmap data={data} fileName={`${base}-units-by-presentations`} />
      {reliability.status === "ok" ? (
        <ReliabilityChart data={reliability.value} fileName={`${base}-reliability`} />
      ) : (
        <Status state={reliability} what="the reliability" />
      )}
    </>
  );
}
