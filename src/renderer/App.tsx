import { useReducer } from "react";
import { SessionList } from "./SessionList.js";
import { SessionView } from "./SessionView.js";
import { initialState, reduce } from "./state.js";

export function App({ mode }: { mode: "electron" | "browser" }) {
  const [state, dispatch] = useReducer(reduce, initialState);
  return (
    <div className="app">
      <header className="topbar">
        <h1>
          cortexloop <span className="muted">session review</span>
        </h1>
        <span className="muted small">{mode === "electron" ? "desktop" : "browser · local controller"}</span>
      </header>
      <main>
        {state.sessionId === null ? (
          <SessionList onOpen={(id) => dispatch({ action: "openSession", payload: id })} />
        ) : (
          <SessionView state={state} dispatch={dispatch} />
        )}
      </main>
    </div>
  );
}
