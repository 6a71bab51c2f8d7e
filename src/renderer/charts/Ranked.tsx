import { useMemo } from "react";
import { CartesianGrid, ErrorBar, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { UnitResponses } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { formatNumber } from "../format.js";
import { Thumb } from "../Thumb.js";

interface RankedRow {
  rank: number;
  mean: number;
  sem: number;
  n: number;
  sha: string;
  block: string;
  incomplete: number;
}

/** The unit's images ranked by mean response, ± s.e.m. over counted repeats; the image on hover. */
export function RankedResponses({
  data,
  unitIndex,
  fileName,
}: {
  data: UnitResponses;
  unitIndex: number;
  fileName: string;
}) {
  const rows = useMemo(() => {
    const list = data.stimuli
      .map((s) => ({
        mean: s.meanByUnit[unitIndex],
        sem: s.semByUnit[unitIndex],
        n: s.nByUnit[unitIndex] ?? 0,
        sha: s.sha256,
        block: s.block,
        incomplete: s.incomplete,
      }))
      .filter(
        (r): r is Omit<RankedRow, "rank" | "mean" | "sem"> & { mean: number; sem: number | null } =>
          r.mean !== null && r.mean !== undefined,
      );
    list.sort((a, b) => b.mean - a.mean);
    return list.map((r, i): RankedRow => ({ ...r, rank: i + 1, mean: Number(r.mean.toFixed(4)), sem: r.sem ?? 0 }));
  }, [data, unitIndex]);
  const unit = data.units[unitIndex];
  return (
    <Figure
      title={`Responses ranked · unit ${unit?.label ?? ""}`}
      note={
        `mean spikes in the count window ± s.e.m. over repeats, ${rows.length} images, largest first · ` +
        data.counting.text
      }
      fileName={fileName}
      testId="ranked"
      attrs={{ points: rows.length }}
    >
      <div className="chart-area">
        <ResponsiveContainer width="100%" height={300}>
          <LineChart data={rows} margin={{ top: 8, right: 16, bottom: 20, left: 4 }}>
            <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
            <XAxis
              dataKey="rank"
              type="number"
              domain={[1, Math.max(1, rows.length)]}
              tick={{ fontSize: 11 }}
              label={{ value: "image rank", position: "insideBottom", offset: -12, fontSize: 12 }}
            />
            <YAxis
              tick={{ fontSize: 11 }}
              width={44}
              label={{ value: "mean spikes", angle: -90, position: "insideLeft", fontSize: 12 }}
            />
            <Tooltip
              isAnimationActive={false}
              content={({ active, payload }) => (
                <RankTip active={active} row={payload?.[0]?.payload as RankedRow | undefined} />
              )}
            />
            <Line dataKey="mean" stroke="#2457c5" strokeWidth={1.5} dot={{ r: 2 }} isAnimationActive={false}>
              <ErrorBar dataKey="sem" width={3} stroke="#8a94a0" />
            </Line>
          </LineChart>
        </ResponsiveContainer>
      </div>
    </Figure>
  );
}

function RankTip({ active, row }: { active?: boolean; row?: RankedRow }) {
  if (!active || row === undefined) return null;
  return (
    <div className="tip" data-testid="ranked-tip">
      <Thumb sha256={row.sha} size={72} />
      <div>
        <div>
          <strong>#{row.rank}</strong> · {row.block}
        </div>
        <div className="mono">{row.sha.slice(0, 12)}</div>
        <div>
          {formatNumber(row.mean, 2)} ± {formatNumber(row.sem, 2)} spikes, {row.n} repeats
        </div>
        {row.incomplete > 0 && <div className="warn">{row.incomplete} incomplete excluded</div>}
      </div>
    </div>
  );
}
