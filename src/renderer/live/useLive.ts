/** The live view's state in a page: a snapshot when the feed opens, then every pushed batch folded in. */
import { useEffect, useState } from "react";
import type { CortexloopApi, LiveMessage } from "../../main/api/contract.js";
import { emptyLiveState, reduceLive, type LiveState } from "../../main/api/live-state.js";
import { liveSocketUrl, openLiveSocket } from "../transport.js";
import { subscribeLive, type FeedStatus } from "./feed.js";

export interface LiveFeed {
  state: LiveState;
  status: FeedStatus;
  detail: string | undefined;
  /** Batches received (the page's own count; tests read it to know pushes arrive). */
  batches: number;
}

const initialFeed = (): LiveFeed => ({ state: emptyLiveState(), status: "connecting", detail: undefined, batches: 0 });

function fold(f: LiveFeed, m: LiveMessage): LiveFeed {
  return m.type === "snapshot"
    ? { ...f, state: m.state }
    : { ...f, state: reduceLive(f.state, m.events), batches: f.batches + 1 };
}

/** The browser page's feed (the controller that served the page). */
export function useLive(): LiveFeed {
  const [feed, setFeed] = useState<LiveFeed>(initialFeed);
  useEffect(
    () =>
      subscribeLive(
        (m) => setFeed((f) => fold(f, m)),
        (status, detail) => setFeed((f) => ({ ...f, status, detail })),
      ),
    [],
  );
  return feed;
}

/** A session's web API the desktop attaches to: its base URL (http://127.0.0.1:<port>) and token. */
export interface LiveTarget {
  url: string;
  token: string;
}

/**
 * The desktop's feed: a WebSocket to `target` (the feed and the contract's calls, so the page's controls act on that
 * session), none while target is null. The last state stays shown after the socket is let go.
 */
export function useLiveSocket(target: LiveTarget | null): { feed: LiveFeed; api: CortexloopApi | null } {
  const [feed, setFeed] = useState<LiveFeed>(initialFeed);
  const [api, setApi] = useState<CortexloopApi | null>(null);
  const url = target?.url;
  const token = target?.token;
  useEffect(() => {
    if (url === undefined || token === undefined) {
      const detail = "not attached to a session now: below is the last state the previous one pushed";
      setFeed((f) => ({ ...f, status: "closed", detail }));
      return;
    }
    setFeed(initialFeed());
    const socket = openLiveSocket({
      url: liveSocketUrl(url),
      token,
      onMessage: (m) => setFeed((f) => fold(f, m)),
      onStatus: (status, detail) => setFeed((f) => ({ ...f, status, detail })),
    });
    setApi(socket.api);
    return () => socket.close();
  }, [url, token]);
  return { feed, api };
}
