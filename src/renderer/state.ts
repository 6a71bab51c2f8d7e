/**
 * The review view's UI state and the user actions on it. Each action is a small registered
 * object with a pure `perform(state, payload) -> state`; views render state and dispatch actions.
 * The state is the route (route.ts): the URL always says where the analyst is.
 */
import {
  defaultRoute,
  type HeatmapOrder,
  type PresentationFilters,
  type Route,
  type SessionFilters,
  type SessionSortKey,
  type SessionTab,
  type View,
} from "./route.js";

export type { SessionTab } from "./route.js";

export const sessionTabs: { id: SessionTab; label: string }[] = [
  { id: "overview", label: "Overview" },
  { id: "responses", label: "Responses" },
  { id: "unit", label: "Unit" },
  { id: "tuning", label: "Tuning" },
  { id: "presentations", label: "Presentations" },
  { id: "faults", label: "Faults" },
  { id: "models", label: "Models" },
  { id: "causal", label: "Causal" },
  { id: "export", label: "Export" },
];

export type ReviewState = Route;

export const initialState: ReviewState = defaultRoute;

export interface Action<P> {
  name: string;
  perform(state: ReviewState, payload: P): ReviewState;
}

function action<P>(name: string, perform: (state: ReviewState, payload: P) => ReviewState): Action<P> {
  return { name, perform };
}

export const actions = {
  /** The URL changed (reload, Back, a shared link): it is the state. */
  navigate: action<Route>("navigate", (_s, route) => route),
  openSession: action<number>("openSession", (s, sessionId) => ({ ...initialState, sessions: s.sessions, sessionId })),
  backToSessions: action<void>("backToSessions", (s) => ({ ...initialState, sessions: s.sessions })),
  openView: action<View>("openView", (s, view) => ({ ...initialState, sessions: s.sessions, view })),
  selectTab: action<SessionTab>("selectTab", (s, tab) => ({ ...s, tab, page: 0 })),
  selectUnit: action<number>("selectUnit", (s, unitId) => ({ ...s, unitId })),
  openUnit: action<number>("openUnit", (s, unitId) => ({ ...s, unitId, tab: "unit" })),
  selectModel: action<number | null>("selectModel", (s, modelId) => ({ ...s, modelId })),
  setPresentationsPage: action<number>("setPresentationsPage", (s, page) => ({
    ...s,
    page: Math.max(0, Math.floor(page)),
  })),
  setIncludeIncomplete: action<boolean>("setIncludeIncomplete", (s, includeIncomplete) => ({
    ...s,
    includeIncomplete,
  })),
  setHeatmapOrder: action<HeatmapOrder>("setHeatmapOrder", (s, heatmapOrder) => ({ ...s, heatmapOrder })),
  setSessionFilters: action<Partial<SessionFilters>>("setSessionFilters", (s, f) => ({
    ...s,
    sessions: { ...s.sessions, ...f },
  })),
  sortSessions: action<SessionSortKey>("sortSessions", (s, sort) => ({
    ...s,
    sessions: {
      ...s.sessions,
      sort,
      dir: s.sessions.sort === sort ? (s.sessions.dir === "asc" ? "desc" : "asc") : sort === "date" ? "desc" : "asc",
    },
  })),
  setPresentationFilters: action<Partial<PresentationFilters>>("setPresentationFilters", (s, f) => ({
    ...s,
    page: 0,
    presentations: { ...s.presentations, ...f },
  })),
  setFaultCode: action<string>("setFaultCode", (s, faultCode) => ({ ...s, faultCode })),
} as const;

export type ActionName = keyof typeof actions;
type PayloadOf<N extends ActionName> = (typeof actions)[N] extends Action<infer P> ? P : never;

export type Dispatched = { [N in ActionName]: { action: N; payload: PayloadOf<N> } }[ActionName];

export function reduce(state: ReviewState, d: Dispatched): ReviewState {
  const a = actions[d.action] as Action<PayloadOf<typeof d.action>>;
  return a.perform(state, d.payload);
}
