/**
 * The operator's pause / resume / stop (the live view's buttons) on a real session (in-process rig, real SQLite file),
 * and the events a watcher is told: every committed count, as the store has it.
 */
import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { loadProtocolFile, loadRigFile } from "../../src/main/protocol/index.js";
import { createRig, sessionCountWindow } from "../../src/main/rig/index.js";
import { OperatorControl, realClock, SessionRunner, type RunnerEvent } from "../../src/main/runner/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { inProcessRigFile, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-operator-");
afterAll(() => tmp.cleanup());

async function run(store: SessionStore, control: OperatorControl, onEvent: (e: RunnerEvent) => void) {
  const file = writeQuickProtocol(tmp.dir, { count: 6, repeats: 2, stimulusMs: 10, interStimulusMs: 10 });
  const loaded = loadProtocolFile(file);
  const { rig: rigConfig, text } = loadRigFile(inProcessRigFile);
  const countWindow = sessionCountWindow(rigConfig, loaded.protocol.countWindow);
  const rig = await createRig(rigConfig, { countWindow });
  try {
    const runner = new SessionRunner({ clock: realClock, store, rig, events: onEvent });
    return await runner.run({
      protocol: loaded,
      rigName: "in-process",
      rigText: text,
      countWindow,
      graceMs: 50,
      control,
    });
  } finally {
    await rig.close();
  }
}

describe("operator control", () => {
  it("pauses before the next presentation, everything saved; resumes; the watcher saw every count", async () => {
    const store = SessionStore.open(join(tmp.dir, "pause.db"));
    const control = new OperatorControl();
    const events: RunnerEvent[] = [];
    let duringPause: { stored: number; at: number; presentedSince: number } | undefined;
    const result = await run(store, control, (e) => {
      events.push(e);
      if (e.kind === "presented" && e.n === 5) control.pause("test pause");
      if (e.kind === "paused") {
        const sessionId = (events[0] as Extract<RunnerEvent, { kind: "started" }>).sessionId;
        const mark = events.length;
        setTimeout(() => {
          duringPause = {
            stored: store.presentations(sessionId).length,
            at: e.atPresentation,
            presentedSince: events.slice(mark).filter((x) => x.kind === "presented").length,
          };
          control.resume();
        }, 300);
      }
    });
    expect(result.state).toBe("completed");
    expect(duringPause).toEqual({ stored: 5, at: 5, presentedSince: 0 });
    const kinds = store.sessionEvents(result.sessionId).map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(["paused", "resumed", "completed"]));
    expect(events.filter((e) => e.kind === "paused" || e.kind === "resumed").map((e) => e.kind)).toEqual([
      "paused",
      "resumed",
    ]);
    // Every count the store has, the watcher was told, with the same numbers.
    const told = new Map(
      events.flatMap((e) => (e.kind === "counts" ? e.counts : [])).map((c) => [c.presentationIdx, c] as const),
    );
    const results = store.countResults(result.sessionId);
    expect(told.size).toBe(results.length);
    expect(results.length).toBe(result.presented);
    const byIdx = new Map(store.presentations(result.sessionId).map((p) => [p.idx, p.stimulusSha256]));
    for (const r of results) {
      expect(told.get(r.presentationIdx)?.complete).toBe(r.complete);
      expect(told.get(r.presentationIdx)?.sha256).toBe(byIdx.get(r.presentationIdx));
    }
    expect(events[events.length - 1]).toMatchObject({ kind: "ended", state: "completed", presented: 24 });
    store.close();
  });

  it("stop while paused ends the session interrupted, with what was shown saved", async () => {
    const store = SessionStore.open(join(tmp.dir, "stop.db"));
    const control = new OperatorControl();
    const result = await run(store, control, (e) => {
      if (e.kind === "presented" && e.n === 3) control.pause();
      if (e.kind === "paused") setTimeout(() => control.stop(), 50);
    });
    expect(result.state).toBe("interrupted");
    expect(result.presented).toBe(3);
    expect(store.presentations(result.sessionId)).toHaveLength(3);
    expect(store.sessionEvents(result.sessionId).map((e) => e.kind)).toEqual(
      expect.arrayContaining(["paused", "interrupted"]),
    );
    store.close();
  });
});
