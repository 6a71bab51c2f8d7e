/** React access to the transport: a context for the API and a hook that loads one call. */
import { createContext, useContext, useEffect, useState } from "react";
import type { ApiErrorCode, ApiReply, Channel, CortexloopApi, ReplyOf, RequestOf } from "../main/api/contract.js";

export const ApiContext = createContext<CortexloopApi | null>(null);

export function useCortexloop(): CortexloopApi {
  const api = useContext(ApiContext);
  if (api === null) throw new Error("useCortexloop: no ApiContext provider above this component");
  return api;
}

export type Loadable<T> =
  { status: "loading" } | { status: "ok"; value: T } | { status: "error"; code: ApiErrorCode; message: string };

/** Loads `channel(request)` whenever `key` changes; a stale answer (after a newer key) is dropped. */
export function useApi<C extends Channel>(channel: C, request: RequestOf<C> | null, key: string): Loadable<ReplyOf<C>> {
  const api = useCortexloop();
  const [state, setState] = useState<Loadable<ReplyOf<C>>>({ status: "loading" });
  useEffect(() => {
    if (request === null) return;
    let current = true;
    setState({ status: "loading" });
    // A mapped type indexed by a generic key loses the call signature; this restores it.
    const call = api[channel] as unknown as (r: RequestOf<C>) => Promise<ApiReply<ReplyOf<C>>>;
    call(request).then(
      (reply) => {
        if (!current) return;
        setState(
          reply.ok
            ? { status: "ok", value: reply.value as ReplyOf<C> }
            : { status: "error", code: reply.code, message: reply.message },
        );
      },
      (err: unknown) => {
        if (current)
          setState({ status: "error", code: "internal", message: err instanceof Error ? err.message : String(err) });
      },
    );
    return () => {
      current = false;
    };
    // `key` stands for the request's content.
    // (`key` replaces the request in the dependencies on purpose.)
  }, [api, channel, key]);
  return state;
}
