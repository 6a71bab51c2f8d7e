import { useEffect, useReducer, useRef } from "react";
import { formatRoute, parseRoute } from "./route.js";
import { SessionList } from "./SessionList.js";
import { SessionView } from "./SessionView.js";
import { reduce } from "./state.js";
import { TechView } from "./tech/TechView.js";
import { LiveView } from "./live/LiveView.js";

export function App({ mode }: { mode: "electron" | "browser" }) {
  const [state, dispatch] = useReducer(reduce, undefined, () => parseRoute(window.location.hash));
  // The first render and Back/Forward replace the entry; only the analyst's own moves add one.
  const fromUrl = useRef(true);

  // Back, Forward and edited links: the URL is the state.
  useEffect(() => {
    const onPop = (): void => {
      fromUrl.current = true;
      dispatch({ action: "navigate", payload: parseRoute(window.location.hash) });
    };
    window.addEventListener("popstate", onPop);
    window.addEventListener("hashchange", onPop);
    return () => {
      window.removeEventListener("popstate", onPop);
      window.removeEventListener("hashchange", onPop);
    };
  }, []);

  // Every action that moves the analyst adds a history entry, so Back returns to the last place.
  useEffect(() => {
    const hash = formatRoute(state);
    if (fromUrl.current) {
      fromUrl.current = false;
      if (window.location.hash !== hash) window.history.replaceState(null, "", hash);
      return;
    }
    if (window.location.hash === hash || (window.location.hash === "" && hash === "#/")) return;
    window.history.pushState(null, "", hash);
  }, [state]);

  return (
    <div className="app">
      <header className="topbar">
        <h1>
          cortexloop <span className="muted">session review</span>
        </h1>
        <nav className="views" aria-label="views">
          <a
            href="#/"
            className={state.view === "review" ? "active" : ""}
            onClick={(e) => {
              e.preventDefault();
              dispatch({ action: "openView", payload: "review" });
            }}
            data-testid="view-review"
          >
            Sessions
          </a>
          <a
            href="#/tech"
            className={state.view === "tech" ? "active" : ""}
            onClick={(e) => {
              e.preventDefault();
              dispatch({ action: "openView", payload: "tech" });
            }}
            data-testid="view-tech"
          >
            Tech
          </a>
          <a
            href="#/live"
            className={state.view === "live" ? "active" : ""}
            onClick={(e) => {
              e.preventDefault();
              dispatch({ action: "openView", payload: "live" });
            }}
            data-testid="view-live"
          >
            Live
          </a>
        </nav>
        <span className="muted small">{mode === "electron" ? "desktop" : "browser · local controller"}</span>
      </header>
      <main>
        {state.view === "live" ? (
          <LiveView />
        ) : state.view === "tech" ? (
          <TechView onOpenSession={(id) => dispatch({ action: "openSession", payload: id })} />
        ) : state.sessionId === null ? (
          <SessionList state={state} dispatch={dispatch} />
        ) : (
          <SessionView state={state} dispatch={dispatch} />
        )}
      </main>
    </div>
  );
}
