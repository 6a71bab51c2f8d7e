import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { UnitResponses } from "../../main/api/contract.js";
import type { HeatmapOrder } from "../route.js";
import { Figure } from "../Figure.js";
import { formatNumber, rampColor } from "../format.js";
import { hatch, labelWidth, prepareCanvas, useWidth } from "./canvas.js";
import { predictionScores, predictionText, type AvailablePrediction } from "./prediction-order.js";
import { UnitImageGrid } from "./UnitImageGrid.js";

const rowPx = 14;

/** Unit × presentation heatmap of summed counts; incomplete counts are hatched, missing ones grey. */
export function PresentationHeatmap({ data, fileName }: { data: UnitResponses; fileName: string }) {
  const canvasRef = useRef<HTMLCanvasElement | null>(null);
  const boxRef = useRef<HTMLDivElement | null>(null);
  const width = useWidth(boxRef);
  const [hover, setHover] = useState("");
  const labelPx = useMemo(() => labelWidth(data.units.map((u) => u.label)), [data]);
  const nUnits = data.units.length;
  const nPres = data.matrix.presentationIdxs.length;
  const stripPx = 6;
  const height = stripPx + 2 + Math.max(1, nUnits) * rowPx;

  useEffect(() => {
    const canvas = canvasRef.current;
    if (canvas === null) return;
    const ctx = prepareCanvas(canvas, width, height);
    if (ctx === null) return;
    const plotW = Math.max(1, width - labelPx);
    const cellW = plotW / Math.max(1, nPres);
    const max = Math.max(1, data.matrix.max);
    const top = stripPx + 2;
    data.matrix.state.forEach((st, j) => {
      if (st === "complete") return;
      ctx.fillStyle = st === "incomplete" ? "rgb(230, 60, 20)" : "#9aa3ad";
      ctx.fillRect(labelPx + j * cellW, 0, Math.max(1, Math.ceil(cellW)), stripPx);
    });
    data.matrix.counts.forEach((row, i) => {
      ctx.fillStyle = "#333";
      ctx.fillText(data.units[i]!.label, 2, top + i * rowPx + rowPx / 2);
      row.forEach((v, j) => {
        ctx.fillStyle = v === null ? "#d9dce1" : rampColor(v / max);
        ctx.fillRect(labelPx + j * cellW, top + i * rowPx, Math.ceil(cellW), rowPx - 1);
      });
    });
    data.matrix.state.forEach((st, j) => {
      if (st === "incomplete") hatch(ctx, labelPx + j * cellW, top, Math.max(2, Math.ceil(cellW)), nUnits * rowPx);
    });
  }, [data, width, height, nPres, nUnits, labelPx]);

  const onMove = (e: React.MouseEvent<HTMLCanvasElement>): void => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = e.clientX - rect.left - labelPx;
    const i = Math.floor((e.clientY - rect.top - stripPx - 2) / rowPx);
    const j = Math.floor((x / Math.max(1, width - labelPx)) * nPres);
    if (x < 0 || i < 0 || i >= nUnits || j < 0 || j >= nPres) return setHover("");
    const v = data.matrix.counts[i]![j];
    const st = data.matrix.state[j];
    setHover(
      `unit ${data.units[i]!.label} · presentation ${data.matrix.presentationIdxs[j]} · ` +
        (v === null ? "no counts stored" : `${v} spikes`) +
        (st === "incomplete" ? " · INCOMPLETE (not averaged)" : ""),
    );
  };
  const incomplete = data.matrix.state.filter((s) => s === "incomplete").length;
  return (
    <Figure
      title="Unit × presentation"
      note={
        "summed spikes per presentation, in presentation order · " +
        `hatched (red strip): incomplete counts, ${incomplete} · grey: no counts`
      }
      fileName={fileName}
      testId="heatmap"
      attrs={{ rows: nUnits, columns: nPres, incomplete }}
    >
      <div ref={boxRef} className="heatmap-box">
        <canvas
          ref={canvasRef}
          onMouseMove={onMove}
          onMouseLeave={() => setHover("")}
          aria-label={`heatmap of ${nUnits} units by ${nPres} presentations`}
        />
      </div>
      <div className="heatmap-foot">
        <span className="ramp" aria-hidden="true" />
        <span className="muted">0 … {formatNumber(data.matrix.max, 0)} spikes</span>
        <span className="hover mono">{hover || "\u00a0"}</span>
      </div>
    </Figure>
  );
}

/** Column order of the units × images heatmap; prediction orders fall back to the population's without a prediction. */
export function imageOrder(
  data: UnitResponses,
  order: HeatmapOrder,
  unitIndex: number,
  prediction?: AvailablePrediction,
): number[] {
  const idx = data.stimuli.map((_, j) => j);
  if (order === "shown") return idx;
  if ((order === "prediction" || order === "unit-prediction") && prediction !== undefined) {
    const predicted = predictionScores(data, prediction, order, unitIndex);
    return idx.sort((a, b) => predicted[b]! - predicted[a]! || a - b);
  }
  const score = (j: number): number => {
    const s = data.stimuli[j]!;
    if (order === "unit") return s.meanByUnit[unitIndex] ?? Number.NEGATIVE_INFINITY;
    // Population: each unit's mean scaled by that unit's largest mean, averaged.
    let sum = 0;
    let n = 0;
    s.meanByUnit.forEach((m, u) => {
      const top = unitMax(data, u);
      if (m !== null && top > 0) {
        sum += m / top;
        n++;
      }
    });
    return n === 0 ? Number.NEGATIVE_INFINITY : sum / n;
  };
  const scores = idx.map(score);
  return idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

function unitMax(data: UnitResponses, u: number): number {
  return Math.max(0, ...data.stimuli.map((s) => s.meanByUnit[u] ?? 0));
}

/** Units × images: each unit's mean response (scaled to its own maximum), images ordered by response. */
export function ImageHeatmap({
  data,
  order,
  unitIndex,
  fileName,
  prediction,
}: {
  data: UnitResponses;
  order: HeatmapOrder;
  unitIndex: number;
  fileName: string;
  /** The model's predictions, when the order is by prediction (without one, the population's response orders). */
  prediction?: AvailablePrediction;
}) {
  const columns = useMemo(() => imageOrder(data, order, unitIndex, prediction), [data, order, unitIndex, prediction]);
  const byUnit = order === "unit" || order === "unit-prediction";
  const maxes = useMemo(() => data.units.map((_, u) => unitMax(data, u)), [data]);
  const nUnits = data.units.length;
  const cellColor = useCallback(
    (i: number, j: number) => {
      const m = data.stimuli[j]!.meanByUnit[i];
      return m === null || m === undefined ? "#d9dce1" : rampColor(maxes[i]! > 0 ? m / maxes[i]! : 0);
    },
    [data, maxes],
  );
  const labelColor = useCallback((i: number) => (i === unitIndex && byUnit ? "#2457c5" : "#333"), [unitIndex, byUnit]);
  const hoverText = (i: number, j: number): string => {
    const s = data.stimuli[j]!;
    return (
      `unit ${data.units[i]!.label} · image ${s.sha256.slice(0, 10)} (${s.block}) · ` +
      `mean ${formatNumber(s.meanByUnit[i], 2)} over ${s.nByUnit[i]} repeats` +
      (s.incomplete > 0 ? ` · ${s.incomplete} incomplete excluded` : "")
    );
  };
  const unitLabel = data.units[unitIndex]?.label ?? "";
  const predicted = (order === "prediction" || order === "unit-prediction") && prediction !== undefined;
  const how =
    order === "shown"
      ? "in order of first presentation"
      : order === "unit"
        ? `by unit ${unitLabel}'s response`
        : predicted && order === "unit-prediction"
          ? `by unit ${unitLabel}'s predicted response, ${predictionText(prediction)}`
          : predicted
            ? `by the mean over units of the predicted response (each unit standardized over the images), ` +
              predictionText(prediction)
            : "by the population's mean response";
  return (
    <Figure
      title="Units × images"
      note={`mean spikes per image (each unit scaled to its own maximum), images ${how} · ${data.counting.text}`}
      fileName={fileName}
      testId="image-heatmap"
      attrs={{
        rows: nUnits,
        columns: columns.length,
        order: predicted || !(order === "prediction" || order === "unit-prediction") ? order : "population",
        first: data.stimuli[columns[0] ?? 0]?.sha256 ?? "",
        images: columns.map((j) => data.stimuli[j]!.sha256.slice(0, 12)).join(" "),
      }}
    >
      <UnitImageGrid
        data={data}
        columns={columns}
        cellColor={cellColor}
        labelColor={labelColor}
        hoverText={hoverText}
        ariaLabel={`heatmap of ${nUnits} units by ${columns.length} images`}
        rampText="0 … each unit's largest mean"
      />
    </Figure>
  );
}
