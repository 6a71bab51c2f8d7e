import { useMemo } from "react";
import {
  Bar,
  BarChart,
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  ResponsiveContainer,
  Scatter,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import type { LearningPoint, LearningSeries, ReliabilityReply } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { formatNumber, seriesColor } from "../format.js";

/**
 * The learning curve of a study: median held-out r²_ER of each model version against the number
 * of sessions it was trained on, one line per lineage, every unit's r²_ER as a dot behind it.
 */
export function LearningCurveChart({
  series,
  selected,
  onSelect,
  fileName,
}: {
  series: LearningSeries[];
  selected: number | null;
  onSelect: (id: number) => void;
  fileName: string;
}) {
  const lines = useMemo(
    () =>
      series.map((s) => ({
        ...s,
        medians: s.points
          .filter((p) => p.median !== null)
          .map((p) => ({ sessions: p.sessions.length, median: p.median, versionId: p.versionId, name: p.name })),
        units: s.points.flatMap((p) =>
          p.perUnit.flatMap((v, k) =>
            v === null ? [] : [{ sessions: p.sessions.length + ((k % 7) - 3) * 0.02, r2er: v, versionId: p.versionId }],
          ),
        ),
        truth: s.points
          .filter((p) => p.trueMedian !== null)
          .map((p) => ({ sessions: p.sessions.length, trueMedian: p.trueMedian })),
      })),
    [series],
  );
  const points = series.reduce((n, s) => n + s.points.length, 0);
  return (
    <Figure
      title="Learning curve"
      note={
        "median r²_ER on held-out images (noise-corrected) of each model version, by sessions trained on; " +
        "dots: single units; dashed: against the simulated neurons' true rates"
      }
      fileName={fileName}
      testId="learning-curve"
      attrs={{ series: series.length, points }}
    >
      <ResponsiveContainer width="100%" height={320}>
        <ComposedChart margin={{ top: 8, right: 16, bottom: 20, left: 4 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis
            dataKey="sessions"
            type="number"
            allowDecimals={false}
            domain={[0.5, "dataMax + 0.5"]}
            tick={{ fontSize: 11 }}
            label={{ value: "sessions trained on", position: "insideBottom", offset: -12, fontSize: 12 }}
          />
          <YAxis
            type="number"
            domain={[
              (min: number) => Math.min(0, Math.floor(min * 10) / 10),
              (max: number) => Math.max(1, Math.ceil(max * 10) / 10),
            ]}
            tick={{ fontSize: 11 }}
            width={44}
            label={{ value: "r²_ER", angle: -90, position: "insideLeft", fontSize: 12 }}
          />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            formatter={(v) => formatNumber(Number(v), 3)}
          />
          <Legend verticalAlign="top" height={24} wrapperStyle={{ fontSize: 12 }} />
          {lines.map((s, i) => (
            <Scatter
              key={`u${s.rootId}`}
              name={`${s.label}: units`}
              data={s.units}
              dataKey="r2er"
              fill={seriesColor(i)}
              fillOpacity={0.25}
              isAnimationActive={false}
              legendType="none"
            />
          ))}
          {lines.map((s, i) => (
            <Line
              key={`m${s.rootId}`}
              name={s.label}
              data={s.medians}
              dataKey="median"
              stroke={seriesColor(i)}
              strokeWidth={2}
              isAnimationActive={false}
              dot={(props: { cx?: number; cy?: number; payload?: { versionId: number } }) => (
                <circle
                  key={`${props.payload?.versionId}`}
                  cx={props.cx}
                  cy={props.cy}
                  r={props.payload?.versionId === selected ? 6 : 4}
                  fill={seriesColor(i)}
                  stroke="#fff"
                  className="clickable"
                  onClick={() => props.payload && onSelect(props.payload.versionId)}
                />
              )}
            />
          ))}
          {lines.map((s, i) =>
            s.truth.length === 0 ? null : (
              <Line
                key={`t${s.rootId}`}
                name={`${s.label}: true rates`}
                data={s.truth}
                dataKey="trueMedian"
                stroke={seriesColor(i)}
                strokeDasharray="5 4"
                dot={false}
                isAnimationActive={false}
              />
            ),
          )}
        </ComposedChart>
      </ResponsiveContainer>
    </Figure>
  );
}

/** One model version's r²_ER per unit. */
export function VersionUnitsChart({ point, fileName }: { point: LearningPoint; fileName: string }) {
  const rows = point.perUnit.map((v, k) => ({ unit: `#${k + 1}`, r2er: v }));
  return (
    <Figure
      title={`r²_ER per unit · ${point.name}`}
      note={
        `median ${formatNumber(point.median, 3)} (${point.metric ?? "r2er"}), ` +
        `${point.perUnit.filter((v) => v !== null).length} units scored, ` +
        `trained on session(s) ${point.sessions.join(", ")}`
      }
      fileName={fileName}
      testId="version-units"
      attrs={{ units: rows.length }}
    >
      <ResponsiveContainer width="100%" height={220}>
        <BarChart data={rows} margin={{ top: 8, right: 16, bottom: 20, left: 4 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis
            dataKey="unit"
            tick={{ fontSize: 10 }}
            label={{ value: "unit (the model's order)", position: "insideBottom", offset: -12, fontSize: 12 }}
          />
          <YAxis tick={{ fontSize: 11 }} width={44} />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            formatter={(v) => formatNumber(Number(v), 3)}
          />
          <Bar dataKey="r2er" fill="#2457c5" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </Figure>
  );
}

/** Split-half reliability (Spearman-Brown) of each unit in this session. */
export function ReliabilityChart({ data, fileName }: { data: ReliabilityReply; fileName: string }) {
  const rows = data.units.map((u) => ({
    unit: u.unit.label,
    reliability: u.reliability === null ? null : Number(u.reliability.toFixed(4)),
    stimuli: u.stimuli,
  }));
  const stimuli = Math.max(0, ...data.units.map((u) => u.stimuli));
  return (
    <Figure
      title="Split-half reliability per unit"
      note={`Spearman-Brown corrected, over ${stimuli} images shown at least twice · ${data.counting.text}`}
      fileName={fileName}
      testId="reliability"
      attrs={{ units: rows.length }}
    >
      <ResponsiveContainer width="100%" height={220}>
        <BarChart data={rows} margin={{ top: 8, right: 16, bottom: 20, left: 4 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis dataKey="unit" tick={{ fontSize: 10 }} interval={0} angle={-30} textAnchor="end" height={40} />
          <YAxis tick={{ fontSize: 11 }} width={44} domain={[(min: number) => Math.min(0, min), 1]} />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            formatter={(v) => formatNumber(Number(v), 3)}
          />
          <Bar dataKey="reliability" fill="#1f7a3f" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </Figure>
  );
}
