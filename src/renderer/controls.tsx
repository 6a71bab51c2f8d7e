/** Controls shared by the session's tabs: the counting rule, the unit picker. */
import type { SessionDetail } from "../main/api/contract.js";
import type { Dispatched, ReviewState } from "./state.js";

export interface TabProps {
  id: number;
  detail: SessionDetail;
  state: ReviewState;
  dispatch: (d: Dispatched) => void;
}

/** The counting rule as a control: complete counts only (default) or incomplete ones too. */
export function CountingControl({
  state,
  dispatch,
  text,
}: {
  state: ReviewState;
  dispatch: (d: Dispatched) => void;
  text?: string;
}) {
  return (
    <div className="counting" data-testid="counting">
      <label>
        <input
          type="checkbox"
          checked={state.includeIncomplete}
          onChange={(e) => dispatch({ action: "setIncludeIncomplete", payload: e.target.checked })}
          data-testid="include-incomplete"
        />{" "}
        average incomplete counts too
      </label>
      {text !== undefined && (
        <span className={state.includeIncomplete ? "warn" : "muted"} data-testid="counting-text">
          {text}
        </span>
      )}
    </div>
  );
}

/** The unit a view shows: the route's, else the session's first. */
export function currentUnit(units: { id: number }[], unitId: number | null): number {
  const i = unitId === null ? -1 : units.findIndex((u) => u.id === unitId);
  return i < 0 ? 0 : i;
}

export function UnitPicker({
  units,
  index,
  onPick,
}: {
  units: { id: number; label: string }[];
  index: number;
  onPick: (id: number) => void;
}) {
  return (
    <label className="picker">
      Unit{" "}
      <select value={units[index]?.id ?? ""} onChange={(e) => onPick(Number(e.target.value))} data-testid="unit-picker">
        {units.map((u) => (
          <option key={u.id} value={u.id}>
            {u.label}
          </option>
        ))}
      </select>
    </label>
  );
}
