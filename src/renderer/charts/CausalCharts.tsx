import { useMemo } from "react";
import {
  Bar,
  BarChart,
  CartesianGrid,
  ErrorBar,
  Legend,
  ReferenceLine,
  ResponsiveContainer,
  Scatter,
  ScatterChart,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import type { CausalKindRow, CausalUnitRow } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { causalKindOrder, formatP, kindColor, kindLabel, niceRange } from "./causal-format.js";

/**
 * Per kind, the measured %Δr (mean ± s.e. over units) beside the predicted one, on one axis: the predicted %Δr is
 * taken of each unit's predictions mapped onto its measured responses (src/main/causal/predicted-scale.ts).
 */
export function CausalKindChart({ rows, fileName }: { rows: CausalKindRow[]; fileName: string }) {
  const data = useMemo(
    () =>
      rows.map((s) => ({
        kind: kindLabel(s.kind),
        measured: s.mean,
        measuredSe: s.se ?? 0,
        predicted: s.predictedMean,
        predictedSe: s.predictedSe ?? 0,
      })),
    [rows],
  );
  return (
    <Figure
      title="%Δr by kind"
      note={
        "measured (mean ± s.e. over units) and the model's prediction; maximizing against random normal " +
        "images, the rest against their bases; predictions mapped per unit onto its measured responses"
      }
      fileName={fileName}
      testId="causal-kinds"
      attrs={{ kinds: rows.length }}
    >
      <ResponsiveContainer width="100%" height={300}>
        <BarChart data={data} margin={{ top: 8, right: 12, bottom: 56, left: 28 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis dataKey="kind" tick={{ fontSize: 10 }} interval={0} angle={-25} textAnchor="end" />
          <YAxis
            tick={{ fontSize: 11 }}
            width={56}
            label={{ value: "%Δr", angle: -90, position: "insideLeft", fontSize: 12 }}
          />
          <ReferenceLine y={0} stroke="#4d5560" />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            formatter={(v) => `${Number(v).toFixed(1)} %`}
          />
          <Legend verticalAlign="top" height={24} wrapperStyle={{ fontSize: 12 }} />
          <Bar dataKey="measured" name="measured" fill="#b5520b" isAnimationActive={false}>
            <ErrorBar dataKey="measuredSe" width={4} stroke="#1d232b" isAnimationActive={false} />
          </Bar>
          <Bar dataKey="predicted" name="predicted" fill="#8fb3d9" isAnimationActive={false}>
            <ErrorBar dataKey="predictedSe" width={4} stroke="#1d232b" isAnimationActive={false} />
          </Bar>
        </BarChart>
      </ResponsiveContainer>
    </Figure>
  );
}

interface Point {
  predicted: number;
  measured: number;
  unit: string;
  p: number | null;
}

/**
 * Each unit and kind: measured %Δr against the predicted one (on the measured scale, as the kind chart), with the
 * identity line on one common range.
 */
export function CausalScatter({ rows, fileName }: { rows: CausalUnitRow[]; fileName: string }) {
  const { series, range, points } = useMemo(() => {
    const byKind = causalKindOrder.flatMap((kind) => {
      const pts: Point[] = rows.flatMap((r) =>
        r.kind === kind && r.measuredChange !== null && r.predictedChange !== null
          ? [{ predicted: r.predictedChange, measured: r.measuredChange, unit: r.unit, p: r.p }]
          : [],
      );
      return pts.length === 0 ? [] : [{ kind, pts }];
    });
    const all = byKind.flatMap((s) => s.pts.flatMap((p) => [p.predicted, p.measured]));
    return {
      series: byKind,
      range: niceRange(Math.min(...all), Math.max(...all)),
      points: byKind.reduce((n, s) => n + s.pts.length, 0),
    };
  }, [rows]);
  return (
    <Figure
      title="Measured against predicted %Δr"
      note="one dot per unit and kind (units whose predictions fit their responses); the line is measured = predicted"
      fileName={fileName}
      testId="causal-scatter"
      attrs={{ points }}
    >
      <ResponsiveContainer width="100%" height={300}>
        <ScatterChart margin={{ top: 8, right: 16, bottom: 20, left: 4 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis
            dataKey="predicted"
            type="number"
            domain={[range.lo, range.hi]}
            ticks={range.ticks}
            tick={{ fontSize: 11 }}
            label={{ value: "predicted %Δr", position: "insideBottom", offset: -12, fontSize: 12 }}
          />
          <YAxis
            dataKey="measured"
            type="number"
            domain={[range.lo, range.hi]}
            ticks={range.ticks}
            tick={{ fontSize: 11 }}
            width={60}
            label={{ value: "measured %Δr", angle: -90, position: "insideLeft", fontSize: 12 }}
          />
          <ReferenceLine
            segment={[
              { x: range.lo, y: range.lo },
              { x: range.hi, y: range.hi },
            ]}
            stroke="#8a94a0"
            strokeDasharray="4 3"
          />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            content={({ payload }) => {
              const p = payload?.[0]?.payload as Point | undefined;
              if (p === undefined) return null;
              return (
                <div className="tip">
                  <strong>{p.unit}</strong>
                  <br />
                  predicted {p.predicted.toFixed(1)} %, measured {p.measured.toFixed(1)} %, p {formatP(p.p)}
                </div>
              );
            }}
          />
          <Legend verticalAlign="top" height={24} wrapperStyle={{ fontSize: 12 }} />
          {series.map((s) => (
            <Scatter
              key={s.kind}
              name={kindLabel(s.kind)}
              data={s.pts}
              fill={kindColor(s.kind)}
              isAnimationActive={false}
            />
          ))}
        </ScatterChart>
      </ResponsiveContainer>
    </Figure>
  );
}
