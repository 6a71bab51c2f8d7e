import { describe, expect, it } from "vitest";
import { actions, initialState, reduce } from "./state.js";

describe("review actions", () => {
  it("are pure: perform returns a new state and leaves the old one alone", () => {
    const before = { ...initialState, hiddenUnits: [3] };
    const after = actions.toggleUnit.perform(before, 5);
    expect(after.hiddenUnits).toEqual([3, 5]);
    expect(before.hiddenUnits).toEqual([3]);
    expect(actions.toggleUnit.perform(after, 3).hiddenUnits).toEqual([5]);
  });

  it("opening a session starts from its overview; going back keeps nothing stale", () => {
    let s = reduce(initialState, { action: "openSession", payload: 7 });
    s = reduce(s, { action: "selectTab", payload: "presentations" });
    s = reduce(s, { action: "setPresentationsPage", payload: 2.7 });
    s = reduce(s, { action: "toggleUnit", payload: 1 });
    expect(s).toEqual({ sessionId: 7, tab: "presentations", presentationsPage: 2, hiddenUnits: [1] });
    expect(reduce(s, { action: "setPresentationsPage", payload: -4 }).presentationsPage).toBe(0);
    s = reduce(s, { action: "backToSessions", payload: undefined });
    expect(s.sessionId).toBeNull();
    expect(reduce(s, { action: "openSession", payload: 8 })).toEqual({ ...initialState, sessionId: 8 });
    expect(reduce({ ...initialState, hiddenUnits: [1, 2] }, { action: "showAllUnits", payload: undefined }).hiddenUnits).toEqual([]);
  });
});
