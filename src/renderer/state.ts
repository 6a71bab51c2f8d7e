/**
 * The review view's UI state and the user actions on it. Each action is a small registered
 * object with a pure `perform(state, payload) -> state`; views render state and dispatch actions.
 */
export type SessionTab = "overview" | "responses" | "presentations" | "faults" | "models" | "export";

export const sessionTabs: { id: SessionTab; label: string }[] = [
  { id: "overview", label: "Overview" },
  { id: "responses", label: "Responses" },
  { id: "presentations", label: "Presentations" },
  { id: "faults", label: "Faults" },
  { id: "models", label: "Models" },
  { id: "export", label: "Export" },
];

export interface ReviewState {
  sessionId: number | null;
  tab: SessionTab;
  presentationsPage: number;
  /** Unit ids hidden from the per-stimulus response plot. */
  hiddenUnits: number[];
}

export const initialState: ReviewState = { sessionId: null, tab: "overview", presentationsPage: 0, hiddenUnits: [] };

export interface Action<P> {
  name: string;
  perform(state: ReviewState, payload: P): ReviewState;
}

function action<P>(name: string, perform: (state: ReviewState, payload: P) => ReviewState): Action<P> {
  return { name, perform };
}

export const actions = {
  openSession: action<number>("openSession", (_s, sessionId) => ({ ...initialState, sessionId })),
  backToSessions: action<void>("backToSessions", (s) => ({ ...s, sessionId: null })),
  selectTab: action<SessionTab>("selectTab", (s, tab) => ({ ...s, tab })),
  setPresentationsPage: action<number>("setPresentationsPage", (s, page) => ({ ...s, presentationsPage: Math.max(0, Math.floor(page)) })),
  toggleUnit: action<number>("toggleUnit", (s, unitId) => ({
    ...s,
    hiddenUnits: s.hiddenUnits.includes(unitId) ? s.hiddenUnits.filter((u) => u !== unitId) : [...s.hiddenUnits, unitId],
  })),
  showAllUnits: action<void>("showAllUnits", (s) => ({ ...s, hiddenUnits: [] })),
} as const;

export type ActionName = keyof typeof actions;
type PayloadOf<N extends ActionName> = (typeof actions)[N] extends Action<infer P> ? P : never;

export type Dispatched = { [N in ActionName]: { action: N; payload: PayloadOf<N> } }[ActionName];

export function reduce(state: ReviewState, d: Dispatched): ReviewState {
  const a = actions[d.action] as Action<PayloadOf<typeof d.action>>;
  return a.perform(state, d.payload);
}
