import type { Loadable } from "./api.js";

/** Loading and error states, with the contract's error code for whoever reports a problem. */
export function Status<T>({ state, what }: { state: Loadable<T>; what: string }) {
  if (state.status === "loading")
    return (
      <p className="muted" role="status">
        Loading {what}…
      </p>
    );
  if (state.status === "error")
    return (
      <div className="error" role="alert">
        <strong>Could not load {what}</strong> <code>{state.code}</code>
        <p>{state.message}</p>
      </div>
    );
  return null;
}
