import { useApi } from "../api.js";
import { LearningCurveChart, VersionUnitsChart } from "../charts/Models.js";
import type { TabProps } from "../controls.js";
import { formatDate, formatNumber } from "../format.js";
import { Status } from "../Status.js";
import { CompactModels } from "./CompactModels.js";

export function ModelsTab({ id, state, dispatch }: TabProps) {
  const models = useApi("modelVersions", { session: id }, String(id));
  const curve = useApi("learningCurve", {}, "all");
  const select = (m: number | null): void => dispatch({ action: "selectModel", payload: m });
  const points = curve.status === "ok" ? curve.value.series.flatMap((s) => s.points) : [];
  const selected = points.find((p) => p.versionId === state.modelId);
  return (
    <>
      {curve.status !== "ok" && <Status state={curve} what="the learning curve" />}
      {curve.status === "ok" && points.length === 0 && (
        <p className="muted">
          No model version in this database has a held-out r²_ER yet, so there is no learning curve.
        </p>
      )}
      {curve.status === "ok" && points.length > 0 && (
        <LearningCurveChart
          series={curve.value.series}
          selected={state.modelId}
          onSelect={(m) => select(m)}
          fileName="learning-curve"
        />
      )}
      {selected !== undefined && selected.perUnit.length > 0 && (
        <VersionUnitsChart point={selected} fileName={`model-version-${selected.versionId}-r2er`} />
      )}
      <h3>Model versions trained on this session</h3>
      {models.status !== "ok" && <Status state={models} what="the model versions" />}
      {models.status === "ok" && models.value.length === 0 && (
        <p className="muted">No model version was trained on this session yet.</p>
      )}
      {models.status === "ok" && models.value.length > 0 && (
        <table className="grid" data-testid="models-table">
          <thead>
            <tr>
              <th className="num">Id</th>
              <th>Name</th>
              <th>Kind</th>
              <th>Created</th>
              <th className="num">Parent</th>
              <th>Sessions</th>
              <th className="num" title="noise-corrected explained variance">
                r²<sub>ER</sub>
              </th>
            </tr>
          </thead>
          <tbody>
            {models.value
              .filter((m) => !m.kind.startsWith("compact-"))
              .map((m) => (
                <tr key={m.id} className={m.id === state.modelId ? "selected" : undefined}>
                  <td className="num">
                    <button type="button" className="link" onClick={() => select(m.id)} data-testid={`model-${m.id}`}>
                      {m.id}
                    </button>
                  </td>
                  <td>{m.name}</td>
                  <td>{m.kind}</td>
                  <td>{formatDate(m.createdAt)}</td>
                  <td className="num">{m.parentId ?? "—"}</td>
                  <td className="mono">{m.sessionIds.join(", ")}</td>
                  <td className="num" data-testid="r2er">
                    {formatNumber(m.r2er, 3)}
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      )}
      {models.status === "ok" && <CompactModels models={models.value} />}
    </>
  );
}
