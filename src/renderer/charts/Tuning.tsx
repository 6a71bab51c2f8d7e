import { useMemo } from "react";
import { CartesianGrid, ErrorBar, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Tuning, TuningCurve } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { formatNumber } from "../format.js";
import {
  measuredLabel,
  predictedLabel,
  predictedScaleText,
  predictorsOf,
  tuningRows,
  type TuningRow,
} from "./tuning-format.js";

const predictedColor = "#2f6fb0";

/**
 * One tuning curve per parameter of the generated stimuli, for one unit: mean ± s.e.m. per bin, and for a
 * `design tuning` sweep the stored predicted curve on its own right-hand axis.
 */
export function TuningCharts({ tuning, unitIndex, fileName }: { tuning: Tuning; unitIndex: number; fileName: string }) {
  const unit = tuning.units[unitIndex];
  return (
    <div className="chart-grid" data-testid="tuning" data-curves={tuning.curves.length}>
      {tuning.curves.map((c) => (
        <TuningChart
          key={`${c.axis.generator}-${c.axis.parameter}`}
          curve={c}
          unitIndex={unitIndex}
          unitLabel={unit?.label ?? ""}
          fileName={`${fileName}-${c.axis.parameter}`}
          counting={tuning.counting.text}
        />
      ))}
    </div>
  );
}

function TuningChart({
  curve,
  unitIndex,
  unitLabel,
  fileName,
  counting,
}: {
  curve: TuningCurve;
  unitIndex: number;
  unitLabel: string;
  fileName: string;
  counting: string;
}) {
  const rows = useMemo(() => tuningRows(curve, unitIndex), [curve, unitIndex]);
  const models = predictorsOf(curve, unitIndex);
  const predictedPoints = rows.filter((r) => r.predicted !== null).length;
  const shown = predictedPoints > 0;
  const predictedName = predictedLabel(models);
  const axisLabel = `${curve.axis.label}${curve.axis.unit ? ` (${curve.axis.unit})` : ""}`;
  const measuredNote = `${curve.stimuli} images in ${curve.x.length} bins; mean ± s.e.m. · ${counting}`;
  // A designed sweep whose design did not name this unit: say so rather than draw nothing silently.
  const predictedNote = shown
    ? ` · ${predictedName} on the right-hand axis (${predictedScaleText(models)}), mean over each point's images`
    : curve.predicted !== undefined
      ? ` · no prediction stored for unit ${unitLabel} (the tuning design named other units)`
      : "";
  return (
    <Figure
      title={`${curve.axis.generator}: ${curve.axis.label} · unit ${unitLabel}`}
      note={measuredNote + predictedNote}
      fileName={fileName}
      testId={`tuning-${curve.axis.parameter}`}
      attrs={{ points: rows.filter((r) => r.mean !== null).length, predicted: predictedPoints }}
    >
      <ResponsiveContainer width="100%" height={shown ? 230 : 200}>
        <LineChart data={rows} margin={{ top: 8, right: shown ? 0 : 12, bottom: 20, left: 0 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis
            dataKey="x"
            type="number"
            domain={["dataMin", "dataMax"]}
            tick={{ fontSize: 10 }}
            label={{ value: axisLabel, position: "insideBottom", offset: -12, fontSize: 11 }}
          />
          <YAxis yAxisId="measured" tick={{ fontSize: 10 }} width={40} />
          {shown && (
            <YAxis
              yAxisId="predicted"
              orientation="right"
              tick={{ fontSize: 10, fill: predictedColor }}
              stroke={predictedColor}
              width={44}
            />
          )}
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            formatter={(v, name, item) => {
              const row = item.payload as TuningRow;
              return name === measuredLabel
                ? [`${formatNumber(Number(v), 2)} spikes (${row.n} presentations)`, "measured mean"]
                : [`${formatNumber(Number(v), 3)} (mean of ${row.predictedImages} images)`, predictedName];
            }}
          />
          {shown && <Legend verticalAlign="top" height={24} wrapperStyle={{ fontSize: 12 }} />}
          <Line
            yAxisId="measured"
            name={measuredLabel}
            dataKey="mean"
            stroke="#b5520b"
            strokeWidth={1.5}
            dot={{ r: 3 }}
            connectNulls
            isAnimationActive={false}
          >
            <ErrorBar dataKey="sem" width={3} stroke="#8a94a0" />
          </Line>
          {shown && (
            <Line
              yAxisId="predicted"
              name={`${predictedName} · right axis`}
              dataKey="predicted"
              className="tuning-predicted"
              stroke={predictedColor}
              strokeWidth={1.5}
              strokeDasharray="5 3"
              dot={{ r: 2.5 }}
              connectNulls
              isAnimationActive={false}
            />
          )}
        </LineChart>
      </ResponsiveContainer>
    </Figure>
  );
}
