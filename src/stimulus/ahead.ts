// Work started ahead of its consumer: image decoding (sharp, on libuv's thread pool) runs while the
// main thread evaluates models on the images before, and the results still come out in order.

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(task: () => Promise<T>): Promise<Settled<T>> {
  try {
    return task().then(
      (value) => ({ ok: true, value }),
      (error: unknown) => ({ ok: false, error }),
    );
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

/**
 * Starts the tasks of `tasks` as they come, keeping up to `depth` started and not yet taken, and
 * yields their results in the tasks' order. A task that fails throws when its turn comes (the tasks
 * before it are given first, as a one-at-a-time loop would); tasks started but never reached (the
 * consumer stopped, or an earlier task failed) are left to finish unobserved, their failures too.
 */
export async function* resultsAhead<T>(
  tasks: AsyncIterable<() => Promise<T>> | Iterable<() => Promise<T>>,
  depth: number,
): AsyncGenerator<T> {
  if (!Number.isInteger(depth) || depth < 1)
    throw new Error(`resultsAhead: depth must be a whole number ≥ 1, got ${depth}`);
  const pending: Promise<Settled<T>>[] = [];
  const take = async (): Promise<T> => {
    const r = await pending.shift()!;
    if (!r.ok) throw r.error;
    return r.value;
  };
  for await (const task of tasks) {
    pending.push(settle(task));
    if (pending.length >= depth) yield await take();
  }
  while (pending.length > 0) yield await take();
}
