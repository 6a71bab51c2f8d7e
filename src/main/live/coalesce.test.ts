import { describe, expect, it } from "vitest";
import { EventCoalescer } from "./coalesce.js";
import type { LiveEvent } from "../api/live-contract.js";

const presented = (n: number): LiveEvent => ({ kind: "presented", n, total: 10, idx: n - 1, sha256: "a".repeat(64) });
const fault = (m: string): LiveEvent => ({ kind: "fault", code: "other", message: m, presentationIdxs: [] });
const counts = (idx: number): LiveEvent => ({
  kind: "counts",
  counts: [{ presentationIdx: idx, onsetSample: 0, complete: true, sha256: "b".repeat(64), units: [] }],
});

describe("EventCoalescer", () => {
  it("keeps only the newest progress report of a batch, where it came last", () => {
    const c = new EventCoalescer();
    c.push(presented(1));
    c.push(counts(0));
    c.push(presented(2));
    c.push(fault("x"));
    c.push(presented(3));
    const { events, dropped } = c.drain();
    expect(events.map((e) => e.kind)).toEqual(["counts", "fault", "presented"]);
    expect(events[2]).toMatchObject({ n: 3 });
    expect(dropped).toBe(0);
  });

  it("keeps every count and fault in order, and starts empty after a drain", () => {
    const c = new EventCoalescer();
    for (let i = 0; i < 50; i++) c.push(counts(i));
    c.push(fault("late"));
    const first = c.drain().events;
    expect(first).toHaveLength(51);
    expect(first.slice(0, 50).map((e) => (e.kind === "counts" ? e.counts[0]!.presentationIdx : -1))).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    expect(c.size).toBe(0);
    expect(c.drain()).toEqual({ events: [], dropped: 0 });
  });

  it("drops beyond its bound and says how many, but still takes the newest progress", () => {
    const c = new EventCoalescer(3);
    for (let i = 0; i < 5; i++) c.push(counts(i));
    c.push(presented(9));
    const { events, dropped } = c.drain();
    expect(dropped).toBe(2);
    expect(events.map((e) => e.kind)).toEqual(["counts", "counts", "counts", "presented"]);
  });

  it("link changes: the newest state of a batch wins", () => {
    const c = new EventCoalescer();
    c.push({ kind: "link", state: "down", message: "no data" });
    c.push({ kind: "link", state: "connected", message: "back" });
    expect(c.drain().events).toEqual([{ kind: "link", state: "connected", message: "back" }]);
  });
});
