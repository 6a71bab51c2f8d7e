/** The live view's state in a page: a snapshot when the feed opens, then every pushed batch folded in. */
import { useEffect, useState } from "react";
import { emptyLiveState, reduceLive, type LiveState } from "../../main/api/live-state.js";
import { subscribeLive, type FeedStatus } from "./feed.js";

export interface LiveFeed {
  state: LiveState;
  status: FeedStatus;
  detail: string | undefined;
  /** Batches received (the page's own count; tests read it to know pushes arrive). */
  batches: number;
}

export function useLive(): LiveFeed {
  const [feed, setFeed] = useState<LiveFeed>({
    state: emptyLiveState(),
    status: "connecting",
    detail: undefined,
    batches: 0,
  });
  useEffect(
    () =>
      subscribeLive(
        (m) =>
          setFeed((f) =>
            m.type === "snapshot"
              ? { ...f, state: m.state }
              : { ...f, state: reduceLive(f.state, m.events), batches: f.batches + 1 },
          ),
        (status, detail) => setFeed((f) => ({ ...f, status, detail })),
      ),
    [],
  );
  return feed;
}
