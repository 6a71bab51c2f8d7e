import { useMemo } from "react";
import { CartesianGrid, ErrorBar, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Tuning, TuningCurve } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { formatNumber } from "../format.js";

/** One tuning curve per parameter of the generated stimuli, for one unit: mean ± s.e.m. per bin. */
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
  const rows = useMemo(
    () =>
      curve.x.map((x, b) => ({
        x: Number(x.toPrecision(4)),
        mean: curve.meanByUnit[unitIndex]?.[b] ?? null,
        sem: curve.semByUnit[unitIndex]?.[b] ?? 0,
        n: curve.nByUnit[unitIndex]?.[b] ?? 0,
      })),
    [curve, unitIndex],
  );
  const axisLabel = `${curve.axis.label}${curve.axis.unit ? ` (${curve.axis.unit})` : ""}`;
  return (
    <Figure
      title={`${curve.axis.generator}: ${curve.axis.label} · unit ${unitLabel}`}
      note={`${curve.stimuli} images in ${curve.x.length} bins; mean ± s.e.m. · ${counting}`}
      fileName={fileName}
      testId={`tuning-${curve.axis.parameter}`}
      attrs={{ points: rows.filter((r) => r.mean !== null).length }}
    >
      <ResponsiveContainer width="100%" height={200}>
        <LineChart data={rows} margin={{ top: 8, right: 12, bottom: 20, left: 0 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis
            dataKey="x"
            type="number"
            domain={["dataMin", "dataMax"]}
            tick={{ fontSize: 10 }}
            label={{ value: axisLabel, position: "insideBottom", offset: -12, fontSize: 11 }}
          />
          <YAxis tick={{ fontSize: 10 }} width={40} />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            formatter={(v, _n, item) => [
              `${formatNumber(Number(v), 2)} spikes (${(item.payload as { n: number }).n} presentations)`,
              "mean",
            ]}
          />
          <Line dataKey="mean" stroke="#b5520b" strokeWidth={1.5} dot={{ r: 3 }} connectNulls isAnimationActive={false}>
            <ErrorBar dataKey="sem" width={3} stroke="#8a94a0" />
          </Line>
        </LineChart>
      </ResponsiveContainer>
    </Figure>
  );
}
