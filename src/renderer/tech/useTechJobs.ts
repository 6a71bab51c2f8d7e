/** The tech view's jobs: polled while one runs (a job is a child process in the controller), started by request. */
import { useCallback, useEffect, useRef, useState } from "react";
import type { RequestOf, TechJobInfo } from "../../main/api/contract.js";
import { useCortexloop } from "../api.js";

export interface TechJobs {
  jobs: TechJobInfo[];
  /** The latest refusal or error of a start or cancel (shown above the jobs). */
  error: string | null;
  /** Bumped when a job ends, so lists of sessions reload. */
  finished: number;
  start(request: RequestOf<"startTechJob">): Promise<void>;
  cancel(id: number): Promise<void>;
}

const active = (j: TechJobInfo): boolean => j.state === "starting" || j.state === "running";

export function useTechJobs(): TechJobs {
  const api = useCortexloop();
  const [jobs, setJobs] = useState<TechJobInfo[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [finished, setFinished] = useState(0);
  const [tick, setTick] = useState(0);
  const running = useRef(0);

  const refresh = useCallback(async () => {
    const reply = await api.techJobs({});
    if (!reply.ok) return;
    const now = reply.value.filter(active).length;
    if (now < running.current) setFinished((n) => n + 1);
    running.current = now;
    setJobs(reply.value);
  }, [api]);

  const anyActive = jobs.some(active);
  useEffect(() => {
    let stopped = false;
    void refresh();
    // Fast while something runs (its progress), slow otherwise (a job started elsewhere still shows).
    const timer = setInterval(
      () => {
        if (!stopped) void refresh();
      },
      anyActive ? 400 : 3000,
    );
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [refresh, tick, anyActive]);

  const start = useCallback(
    async (request: RequestOf<"startTechJob">) => {
      setError(null);
      const reply = await api.startTechJob(request);
      if (!reply.ok) setError(`${reply.message} (${reply.code})`);
      else running.current += 1;
      setTick((t) => t + 1);
    },
    [api],
  );

  const cancel = useCallback(
    async (id: number) => {
      const reply = await api.cancelTechJob({ id });
      if (!reply.ok) setError(`${reply.message} (${reply.code})`);
      setTick((t) => t + 1);
    },
    [api],
  );

  return { jobs, error, finished, start, cancel };
}
