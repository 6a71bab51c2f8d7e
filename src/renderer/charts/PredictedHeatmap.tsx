import { useEffect, useMemo, useRef, useState } from "react";
import type { UnitResponses } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { formatNumber, rampColor } from "../format.js";
import { drawUnitRows, labelWidth, prepareCanvas, unitRowAt, useWidth } from "./canvas.js";
import { predictionsByUnit, predictionText, type AvailablePrediction } from "./prediction-order.js";

const rowPx = 14;

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
  const canvasRef = useRef<HTMLCanvasElement | null>(null);
  const boxRef = useRef<HTMLDivElement | null>(null);
  const width = useWidth(boxRef);
  const [hover, setHover] = useState("");
  const labelPx = useMemo(() => labelWidth(data.units.map((u) => u.label)), [data]);
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
  const height = Math.max(1, nUnits) * rowPx;

  useEffect(() => {
    const canvas = canvasRef.current;
    if (canvas === null) return;
    const ctx = prepareCanvas(canvas, width, height);
    if (ctx === null) return;
    drawUnitRows(ctx, {
      labels: data.units.map((u) => u.label),
      labelPx,
      width,
      rowPx,
      columns: columns.length,
      cellColor: (i, c) => {
        const { lo, hi } = ranges[i]!;
        const v = byUnit[i]?.get(data.stimuli[columns[c]!]!.sha256);
        return v === undefined ? "#d9dce1" : rampColor(hi > lo ? (v - lo) / (hi - lo) : 0);
      },
    });
  }, [data, width, height, labelPx, columns, byUnit, ranges]);

  const onMove = (e: React.MouseEvent<HTMLCanvasElement>): void => {
    const at = unitRowAt(e, { labelPx, width, rowPx, rows: nUnits, columns: columns.length });
    if (at === null) return setHover("");
    const i = at.row;
    const s = data.stimuli[columns[at.column]!]!;
    const v = byUnit[i]?.get(s.sha256);
    setHover(
      `unit ${data.units[i]!.label} · image ${s.sha256.slice(0, 10)} (${s.block}) · ` +
        (v === undefined ? "no prediction" : `predicted ${formatNumber(v, 2)}`) +
        ` · measured ${formatNumber(s.meanByUnit[i], 2)}`,
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
      <div ref={boxRef} className="heatmap-box">
        <canvas
          ref={canvasRef}
          onMouseMove={onMove}
          onMouseLeave={() => setHover("")}
          aria-label={`heatmap of ${nUnits} units' predicted responses to ${columns.length} images`}
        />
      </div>
      <div className="heatmap-foot">
        <span className="ramp" aria-hidden="true" />
        <span className="muted">each unit's lowest … highest prediction</span>
        <span className="hover mono">{hover || "\u00a0"}</span>
      </div>
    </Figure>
  );
}
