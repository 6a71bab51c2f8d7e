/**
 * The Live view in the desktop app: sessions run in their own processes (`run --serve`, `campaign --serve`), so the
 * page attaches to the one running on this database, found through the live endpoint record beside it (the
 * liveEndpoint channel), and shows the same page over that session's WebSocket, its controls included. While no
 * session runs it says so and looks for the record again every few seconds (the record only: the live data is
 * pushed); a live URL can also be pasted by hand.
 */
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { ApiContext, useCortexloop } from "../api.js";
import { parseLiveUrl } from "../transport.js";
import { useLiveSocket, type LiveFeed, type LiveTarget } from "./useLive.js";

/** How often the endpoint record is looked for while no session is attached. */
export const endpointCheckMs = 3000;

type Attached = LiveTarget & { from: "database" | "pasted" };

function PasteUrl({ onAttach }: { onAttach: (target: LiveTarget) => void }) {
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const parsed = parseLiveUrl(text);
    if (!parsed.ok) return setError(parsed.message);
    setError(null);
    setText("");
    onAttach({ url: parsed.url, token: parsed.token });
  };
  return (
    <form className="live-paste" onSubmit={submit}>
      <label>
        Or paste a live URL:{" "}
        <input
          type="text"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="http://127.0.0.1:…/#/live&token=…"
          size={60}
          data-testid="live-paste-url"
        />
      </label>{" "}
      <button type="submit" data-testid="live-paste-attach">
        Attach
      </button>
      {error !== null ? (
        <p className="error" role="alert" data-testid="live-paste-error">
          {error}
        </p>
      ) : null}
    </form>
  );
}

export function DesktopLiveView({ page }: { page: (feed: LiveFeed) => ReactNode }) {
  const desktop = useCortexloop();
  const [target, setTarget] = useState<Attached | null>(null);
  const [lookup, setLookup] = useState<string>("Looking for a session running with --serve on this database…");
  const { feed, api } = useLiveSocket(target);
  const attached = feed.status === "open";
  const from = target?.from;

  // Only while not attached: look for the record (a session that started, or ended and left none).
  useEffect(() => {
    if (attached) return;
    let current = true;
    const check = async (): Promise<void> => {
      const reply = await desktop.liveEndpoint({});
      if (!current) return;
      if (!reply.ok) return setLookup(reply.message);
      const found = reply.value;
      if (found.state === "running") {
        setLookup(`Session found (process ${found.pid}, ${found.kind} --serve since ${found.startedAt}).`);
        if (from !== "pasted")
          setTarget((t) =>
            t?.url === found.url && t.token === found.token
              ? t
              : { url: found.url, token: found.token, from: "database" },
          );
      } else {
        setLookup(`${found.message} Looking again every ${endpointCheckMs / 1000} s.`);
        if (from === "database") setTarget(null);
      }
    };
    void check();
    const timer = setInterval(() => void check(), endpointCheckMs);
    return () => {
      current = false;
      clearInterval(timer);
    };
  }, [attached, desktop, from]);

  return (
    <div className="live-desktop" data-testid="live-desktop" data-attached={attached ? target?.url : ""}>
      {!attached ? (
        <section className="panel">
          <p className="muted" role="status" data-testid="live-desktop-lookup">
            {target !== null ? `Attaching to ${target.url}… ` : ""}
            {lookup}
          </p>
          <PasteUrl onAttach={(t) => setTarget({ ...t, from: "pasted" })} />
        </section>
      ) : null}
      {api !== null ? <ApiContext.Provider value={api}>{page(feed)}</ApiContext.Provider> : null}
    </div>
  );
}
