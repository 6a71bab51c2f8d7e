import { useCallback, useMemo } from "react";
import type { UnitResponses } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { formatNumber, rampColor } from "../format.js";
import { predictionsByUnit, predictionText, type AvailablePrediction } from "./prediction-order.js";
import { UnitImageGrid } from "./UnitImageGrid.js";

/** Units × images of predicted responses (each unit scaled to its own range), columns in the given order. */
export function PredictedHeatmap({
  data,
  prediction,
  columns,
  fileName,
}: {
  data: UnitResponses;
  prediction: AvailablePrediction;
  columns: number[];
  fileName: string;
}) {
  const { byUnit } = useMemo(() => predictionsByUnit(data, prediction), [data, prediction]);
  const ranges = useMemo(
    () =>
      byUnit.map((m) => {
        const v = m === null ? [] : [...m.values()];
        return { lo: Math.min(...v), hi: Math.max(...v) };
      }),
    [byUnit],
  );
  const nUnits = data.units.length;
  const cellColor = useCallback(
    (i: number, j: number) => {
      const { lo, hi } = ranges[i]!;
      const v = byUnit[i]?.get(data.stimuli[j]!.sha256);
      return v === undefined ? "#d9dce1" : rampColor(hi > lo ? (v - lo) / (hi - lo) : 0);
    },
    [data, byUnit, ranges],
  );
  const hoverText = (i: number, j: number): string => {
    const s = data.stimuli[j]!;
    const v = byUnit[i]?.get(s.sha256);
    return (
      `unit ${data.units[i]!.label} · image ${s.sha256.slice(0, 10)} (${s.block}) · ` +
      (v === undefined ? "no prediction" : `predicted ${formatNumber(v, 2)}`) +
      ` · measured ${formatNumber(s.meanByUnit[i], 2)}`
    );
  };
  return (
    <Figure
      title="Units × images, predicted"
      note={`predicted response per image (each unit scaled to its own range), same column order · ${predictionText(
        prediction,
      )}`}
      fileName={fileName}
      testId="predicted-heatmap"
      attrs={{ rows: nUnits, columns: columns.length, version: prediction.modelVersion.id }}
    >
      <UnitImageGrid
        data={data}
        columns={columns}
        cellColor={cellColor}
        hoverText={hoverText}
        ariaLabel={`heatmap of ${nUnits} units' predicted responses to ${columns.length} images`}
        rampText="each unit's lowest … highest prediction"
      />
    </Figure>
  );
}
