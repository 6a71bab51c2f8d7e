import { afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import type { Clock } from "../../src/main/runner/clock.js";
import { RigHealth, type HealthOptions } from "../../src/main/runner/health.js";
import { SessionStore } from "../../src/main/store/index.js";
import type { FaultRecord } from "../../src/main/store/types.js";
import { tempDir } from "../helpers/tmp.js";

const cleanups: (() => void)[] = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);

/** A clock that moves only when told; sleeps move it by what they ask (and let `during` change the rig meanwhile). */
function manualClock(during: (now: number) => void = () => {}): Clock & { advance(ms: number): void } {
  let now = 0;
  return {
    nowMs: () => now,
    sleep: async (ms) => {
      now += ms;
      during(now);
    },
    advance: (ms) => (now += ms),
  };
}

function setup(options: Partial<HealthOptions>, during?: (now: number) => void, answers: () => boolean = () => true) {
  const tmp = tempDir("cortexloop-health-");
  const store = SessionStore.open(join(tmp.dir, "lab.db"));
  cleanups.push(() => {
    store.close();
    tmp.cleanup();
  });
  const protocolId = store.putProtocol("p", "{}");
  const rigId = store.putRig("r", "{}");
  const session = store.createSession({
    name: "s",
    protocolId,
    rigId,
    seed: 1,
    countWindow: { startMs: 50, endMs: 150, bins: 1 },
  });
  const clock = manualClock(during);
  const acquisition = { messagesReceived: 0 as number | undefined };
  const faults: FaultRecord[] = [];
  const log: string[] = [];
  let probes = 0;
  const eventCodes = {
    checkReady: async () => {
      probes++;
      if (!answers()) throw new Error("no reply");
    },
    clear: async () => ({ confirmed: true, attempts: 1 }),
  };
  const health = new RigHealth(
    {
      clock,
      rig: { acquisition, eventCodes },
      store,
      sessionId: session.id,
      log: (l) => log.push(l),
      fault: (f) => faults.push(f),
      flush: () => {},
    },
    options,
  );
  const events = () => store.sessionEvents(session.id).map((e) => `${e.kind}: ${e.detail ?? ""}`);
  return { health, clock, acquisition, faults, log, events, probes: () => probes };
}

describe("RigHealth", () => {
  it("goes on while data flows and onsets come; a lost TTL among onsets that arrive is not a pause", async () => {
    const { health, clock, acquisition, events } = setup({ noDataMs: 1000, noOnsetMs: 1000 });
    for (let i = 0; i < 50; i++) {
      expect(await health.gate(i)).toEqual({ go: true, paused: false });
      health.codeSent(i, true);
      clock.advance(100);
      acquisition.messagesReceived! += 10;
      // Presentation 10's TTL was lost; presentation 20's onset came before the runner heard its code confirmed.
      if (i !== 10) health.onset(i === 19 ? 20 : i);
      if (i === 20) health.onset(19);
    }
    expect(events()).toEqual(["note: rig link connected: data flows and the rig answers"]);
  });

  it(
    "pauses when no onset TTL comes for confirmed codes while data flows, and resumes once the event-code input " +
      "answers",
    async () => {
      let answering = false;
      const { health, clock, acquisition, faults, events, probes } = setup(
        { noDataMs: 5000, noOnsetMs: 1000, probeEveryMs: 100 },
        (now) => {
          acquisition.messagesReceived! += 5;
          if (now > 3000) answering = true;
        },
        () => answering,
      );
      for (let i = 0; i < 10; i++) {
        await health.gate(i);
        health.codeSent(i, true);
        health.onset(i);
        clock.advance(100);
        acquisition.messagesReceived! += 5;
      }
      // From presentation 10 on, the codes are confirmed but their TTLs never arrive.
      let pausedAt = -1;
      for (let i = 10; i < 40 && pausedAt < 0; i++) {
        const g = await health.gate(i);
        if (g.paused) pausedAt = i;
        health.codeSent(i, true);
        clock.advance(100);
        acquisition.messagesReceived! += 5;
      }
      expect(pausedAt).toBe(20);
      expect(health.pauses).toMatchObject([{ kind: "no-onset", atPresentation: 20, resumed: true }]);
      expect(probes()).toBeGreaterThan(1);
      expect(faults.map((f) => f.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            "^session paused before presentation 20: presentation 10's code was confirmed \\d+ ms ago and " +
              "no onset TTL has come since",
          ),
        ),
      ]);
      const ev = events();
      expect(ev[1]).toMatch(/^note: rig link down: presentation 10's code/);
      expect(ev[2]).toMatch(/^paused: presentation 10's code was confirmed/);
      expect(ev[3]).toBe("note: rig link connected: the rig is back");
      expect(ev[4]).toMatch(/^resumed: the rig is back after \d+ ms \(no-onset\)/);
    },
  );

  it(
    "pauses on a lost heartbeat (link degraded) and resumes when the heartbeat answers; the link state is stored " +
      "once per change",
    async () => {
      let heartbeatBackAt = Infinity;
      const box: { health?: RigHealth } = {};
      const s = setup({ noDataMs: 5000, probeEveryMs: 100 }, (now) => {
        s.acquisition.messagesReceived! += 5;
        if (now >= heartbeatBackAt) box.health!.link("connected", "rig answers heartbeats");
      });
      box.health = s.health;
      await s.health.gate(0);
      s.health.link("degraded", "no heartbeat reply within 10000 ms");
      s.health.link("degraded", "no heartbeat reply within 10000 ms");
      heartbeatBackAt = s.clock.nowMs() + 800;
      const g = await s.health.gate(1);
      expect(g).toEqual({ go: true, paused: true });
      expect(s.health.pauses).toMatchObject([{ kind: "heartbeat-lost", atPresentation: 1, resumed: true }]);
      expect(s.faults[0]).toMatchObject({ code: "heartbeat-lost" });
      expect(
        s
          .events()
          .filter((e) => e.startsWith("note: rig link"))
          .map((e) => e.split(":")[1]),
      ).toEqual([" rig link connected", " rig link degraded", " rig link connected"]);
    },
  );

  it("an abort while paused ends the wait: the session stops with what it has", async () => {
    const controller = new AbortController();
    const s = setup({ noDataMs: 500, probeEveryMs: 100 }, (now) => {
      if (now > 2000) controller.abort();
    });
    s.acquisition.messagesReceived = 1;
    await s.health.gate(0);
    s.clock.advance(600);
    expect(await s.health.gate(1, controller.signal)).toEqual({ go: false, paused: true });
    expect(s.health.pauses).toMatchObject([{ kind: "no-data", resumed: false }]);
    expect(s.events().some((e) => e.startsWith("resumed"))).toBe(false);
  });

  it("does not watch data a rig cannot count (no messagesReceived)", async () => {
    const s = setup({ noDataMs: 100 });
    s.acquisition.messagesReceived = undefined;
    s.clock.advance(10_000);
    expect(await s.health.gate(0)).toEqual({ go: true, paused: false });
  });
});
