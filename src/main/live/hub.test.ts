import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LiveControlError, LiveHub } from "./hub.js";
import type { LiveMessage } from "../api/live-contract.js";

const sha = "c".repeat(64);

describe("LiveHub", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("pushes at most one batch per interval however fast events come, and never synchronously", () => {
    const hub = new LiveHub({ intervalMs: 100 });
    const got: LiveMessage[] = [];
    hub.subscribe((m) => got.push(m));
    expect(got.map((m) => m.type)).toEqual(["snapshot"]);
    hub.publish({ kind: "started", sessionId: 1, uuid: "u", name: "s", total: 1000, cycleMs: 5 });
    for (let n = 1; n <= 1000; n++) {
      hub.publish({ kind: "presented", n, total: 1000, idx: n - 1, sha256: sha });
      if (n % 50 === 0) vi.advanceTimersByTime(5 * 50);
    }
    // Nothing is sent inside publish: only the timer sends.
    const batches = got.filter((m) => m.type === "batch");
    // 1000 presentations over 5 s of fake time: one batch per 100 ms at most.
    expect(batches.length).toBeLessThanOrEqual(50);
    expect(batches.length).toBeGreaterThanOrEqual(20);
    vi.advanceTimersByTime(100);
    expect(hub.snapshot().progress).toMatchObject({ n: 1000, total: 1000 });
    const sent = got.filter((m) => m.type === "batch").flatMap((m) => (m.type === "batch" ? m.events : []));
    expect(sent.filter((e) => e.kind === "presented").length).toBeLessThan(60);
  });

  it("a page that attaches late gets the state so far", () => {
    const hub = new LiveHub();
    hub.publish({ kind: "started", sessionId: 4, uuid: "u", name: "s", total: 3, cycleMs: 100 });
    hub.publish({ kind: "fault", code: "other", message: "boom", presentationIdxs: [] });
    hub.flush();
    const got: LiveMessage[] = [];
    hub.subscribe((m) => got.push(m));
    expect(got).toHaveLength(1);
    const first = got[0]!;
    expect(first.type === "snapshot" && first.state.session?.id).toBe(4);
    expect(first.type === "snapshot" && first.state.faults.map((f) => f.message)).toEqual(["boom"]);
  });

  it("drops a watcher that throws, and keeps serving the others", () => {
    const hub = new LiveHub();
    const good: LiveMessage[] = [];
    hub.subscribe((m) => {
      if (m.type === "batch") throw new Error("socket gone");
    });
    hub.subscribe((m) => good.push(m));
    hub.publish({ kind: "link", state: "connected", message: "ok" });
    hub.flush();
    expect(hub.watchers).toBe(1);
    expect(good.map((m) => m.type)).toEqual(["snapshot", "batch"]);
  });

  it("refuses control with no session running, pauses, refuses a second pause, resumes and stops", () => {
    const hub = new LiveHub();
    expect(() => hub.act("pause")).toThrow(LiveControlError);
    hub.publish({ kind: "started", sessionId: 1, uuid: "u", name: "s", total: 3, cycleMs: 100 });
    hub.flush();
    hub.act("pause");
    expect(hub.control.paused).toBe(true);
    expect(() => hub.act("pause")).toThrow(/already paused/);
    hub.act("resume");
    expect(hub.control.paused).toBe(false);
    expect(() => hub.act("resume")).toThrow(/not paused/);
    hub.act("stop");
    expect(hub.control.signal.aborted).toBe(true);
  });

  it("will not resume a pause the rig caused", () => {
    const hub = new LiveHub();
    hub.publish({ kind: "started", sessionId: 1, uuid: "u", name: "s", total: 3, cycleMs: 100 });
    hub.publish({ kind: "paused", by: "rig", reason: "no data for 3000 ms", atPresentation: 2 });
    hub.flush();
    expect(() => hub.act("resume")).toThrow(/waits for the rig/);
  });
});
