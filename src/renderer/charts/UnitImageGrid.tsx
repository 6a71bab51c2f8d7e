import { useEffect, useMemo, useRef, useState } from "react";
import type { UnitResponses } from "../../main/api/contract.js";
import { drawUnitRows, labelWidth, prepareCanvas, unitRowAt, useWidth } from "./canvas.js";

const rowPx = 14;

/**
 * The canvas of a units × images heatmap (a row per unit, a column per image), its colour ramp and what is
 * under the pointer. `image` below is an index into `data.stimuli`.
 */
export function UnitImageGrid({
  data,
  columns,
  cellColor,
  labelColor,
  hoverText,
  ariaLabel,
  rampText,
}: {
  data: UnitResponses;
  /** The images drawn, left to right. */
  columns: readonly number[];
  /** Keep it stable (useCallback): the canvas is redrawn when it changes. */
  cellColor: (unit: number, image: number) => string;
  labelColor?: (unit: number) => string;
  hoverText: (unit: number, image: number) => string;
  ariaLabel: string;
  /** What the ramp's ends mean. */
  rampText: string;
}) {
  const canvasRef = useRef<HTMLCanvasElement | null>(null);
  const boxRef = useRef<HTMLDivElement | null>(null);
  const width = useWidth(boxRef);
  const [hover, setHover] = useState("");
  const labels = useMemo(() => data.units.map((u) => u.label), [data]);
  const labelPx = useMemo(() => labelWidth(labels), [labels]);
  const nUnits = data.units.length;
  const height = Math.max(1, nUnits) * rowPx;

  useEffect(() => {
    const canvas = canvasRef.current;
    if (canvas === null) return;
    const ctx = prepareCanvas(canvas, width, height);
    if (ctx === null) return;
    drawUnitRows(ctx, {
      labels,
      labelPx,
      width,
      rowPx,
      columns: columns.length,
      labelColor,
      cellColor: (i, c) => cellColor(i, columns[c]!),
    });
  }, [labels, width, height, labelPx, columns, cellColor, labelColor]);

  const onMove = (e: React.MouseEvent<HTMLCanvasElement>): void => {
    const at = unitRowAt(e, { labelPx, width, rowPx, rows: nUnits, columns: columns.length });
    setHover(at === null ? "" : hoverText(at.row, columns[at.column]!));
  };
  return (
    <>
      <div ref={boxRef} className="heatmap-box">
        <canvas ref={canvasRef} onMouseMove={onMove} onMouseLeave={() => setHover("")} aria-label={ariaLabel} />
      </div>
      <div className="heatmap-foot">
        <span className="ramp" aria-hidden="true" />
        <span className="muted">{rampText}</span>
        <span className="hover mono">{hover || "\u00a0"}</span>
      </div>
    </>
  );
}
