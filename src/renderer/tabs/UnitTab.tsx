import { useApi } from "../api.js";
import { RankedResponses } from "../charts/Ranked.js";
import { PsthChart, RasterPlot } from "../charts/Raster.js";
import { CountingControl, currentUnit, UnitPicker, type TabProps } from "../controls.js";
import { Status } from "../Status.js";

export function UnitTab({ id, state, dispatch }: TabProps) {
  const responses = useApi(
    "unitResponses",
    { session: id, includeIncomplete: state.includeIncomplete },
    `${id}:${state.includeIncomplete}`,
  );
  const units = responses.status === "ok" ? responses.value.units : [];
  const unitIndex = currentUnit(units, state.unitId);
  const unitId = units[unitIndex]?.id ?? null;
  const raster = useApi(
    "unitRaster",
    unitId === null ? null : { session: id, unit: unitId, includeIncomplete: state.includeIncomplete },
    `${id}:${unitId}:${state.includeIncomplete}`,
  );
  if (responses.status !== "ok") return <Status state={responses} what="the unit responses" />;
  if (units.length === 0) return <p className="muted">No units recorded spikes in this session.</p>;
  const base = `session-${id}-unit-${units[unitIndex]!.label.replace(/[^A-Za-z0-9]+/g, "_")}`;
  return (
    <>
      <div className="row controls">
        <UnitPicker units={units} index={unitIndex} onPick={(u) => dispatch({ action: "selectUnit", payload: u })} />
      </div>
      <CountingControl state={state} dispatch={dispatch} text={responses.value.counting.text} />
      {raster.status === "ok" ? (
        <div className="two-even">
          <RasterPlot raster={raster.value} fileName={`${base}-raster`} />
          <PsthChart raster={raster.value} fileName={`${base}-psth`} />
        </div>
      ) : (
        <Status state={raster} what="the raster" />
      )}
      <RankedResponses data={responses.value} unitIndex={unitIndex} fileName={`${base}-ranked`} />
    </>
  );
}
