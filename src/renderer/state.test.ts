import { describe, expect, it } from "vitest";
import { formatRoute, parseRoute } from "./route.js";
import { actions, initialState, reduce } from "./state.js";

describe("review actions", () => {
  it("are pure: perform returns a new state and leaves the old one alone", () => {
    const before = { ...initialState, sessionId: 3 };
    const after = actions.selectUnit.perform(before, 5);
    expect(after.unitId).toBe(5);
    expect(before.unitId).toBeNull();
  });

  it("opening a session starts from its overview and keeps the list's filters; going back keeps nothing stale", () => {
    let s = reduce(initialState, { action: "setSessionFilters", payload: { rig: "sim-network" } });
    s = reduce(s, { action: "openSession", payload: 7 });
    s = reduce(s, { action: "selectTab", payload: "presentations" });
    s = reduce(s, { action: "setPresentationsPage", payload: 2.7 });
    s = reduce(s, { action: "openUnit", payload: 12 });
    expect(s).toMatchObject({ sessionId: 7, tab: "unit", page: 2, unitId: 12, sessions: { rig: "sim-network" } });
    expect(reduce(s, { action: "setPresentationsPage", payload: -4 }).page).toBe(0);
    s = reduce(s, { action: "backToSessions", payload: undefined });
    expect(s).toEqual({ ...initialState, sessions: { ...initialState.sessions, rig: "sim-network" } });
    // A filter change goes back to the first page.
    const filtered = reduce(
      { ...initialState, sessionId: 1, page: 3 },
      { action: "setPresentationFilters", payload: { status: "skipped" } },
    );
    expect(filtered.page).toBe(0);
    expect(filtered.presentations.status).toBe("skipped");
  });

  it("sorting the same column twice flips its direction", () => {
    let s = reduce(initialState, { action: "sortSessions", payload: "faults" });
    expect(s.sessions).toMatchObject({ sort: "faults", dir: "asc" });
    s = reduce(s, { action: "sortSessions", payload: "faults" });
    expect(s.sessions.dir).toBe("desc");
  });
});

describe("routes", () => {
  it("round-trip through the URL fragment", () => {
    const states = [
      initialState,
      {
        ...initialState,
        sessions: {
          ...initialState.sessions,
          sort: "faults" as const,
          dir: "asc" as const,
          protocol: "demo",
          faults: "with" as const,
          since: "2025-01-02",
        },
      },
      { ...initialState, sessionId: 4, tab: "unit" as const, unitId: 17, includeIncomplete: true },
      {
        ...initialState,
        sessionId: 4,
        tab: "presentations" as const,
        page: 2,
        presentations: { block: "dots", status: "shown", counts: "incomplete" as const, lateMs: 16.5 },
      },
      { ...initialState, sessionId: 4, tab: "faults" as const, faultCode: "heartbeat-lost" },
      { ...initialState, sessionId: 4, tab: "models" as const, modelId: 9 },
      { ...initialState, sessionId: 4, tab: "responses" as const, heatmapOrder: "unit" as const, unitId: 3 },
      { ...initialState, sessionId: 4, tab: "responses" as const, heatmapOrder: "prediction" as const, modelId: 12 },
      { ...initialState, sessionId: 4, tab: "responses" as const, heatmapOrder: "unit-prediction" as const, unitId: 3 },
    ];
    for (const s of states) expect(parseRoute(formatRoute(s))).toEqual(s);
    expect(formatRoute({ ...initialState, sessionId: 4, tab: "unit", unitId: 17 })).toBe("#/session/4/unit?unit=17");
    expect(formatRoute({ ...initialState, sessionId: 4, tab: "responses", heatmapOrder: "prediction" })).toBe(
      "#/session/4/responses?order=prediction",
    );
  });

  it("fall back to defaults on anything malformed", () => {
    expect(parseRoute("#/session/abc/unit")).toEqual(initialState);
    expect(parseRoute("#/session/3/nope?unit=-1&page=x&sort=evil&late=1e9x")).toEqual({
      ...initialState,
      sessionId: 3,
    });
    expect(parseRoute("")).toEqual(initialState);
    expect(parseRoute("#token=abc")).toEqual(initialState);
  });
});
