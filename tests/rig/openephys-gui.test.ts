// Sessions against an emulated Open Ephys GUI that sends, byte for byte, what the ZMQ Interface and Network Events
// plugins send (tests/rig/gui-emulator.ts, written from the plugins' sources and RIG_PROTOCOL.md, not from sim-rig).
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OpenEphysZmqAcquisition, type FinalisedCounts } from "../../src/main/rig/index.js";
import { RigNotReadyError } from "../../src/main/rig/types.js";
import { SessionStore } from "../../src/main/store/index.js";
import { GuiEmulator, type GuiEmulatorOptions } from "./gui-emulator.js";
import { freePorts, tempDir, writeJson } from "./helpers.js";
import { protocolText, runSession, type SessionOutcome } from "./session-harness.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sampleRate = 30000;
const windowEnd = 4500;
const grace = 7500;

async function startGui(
  options: Omit<GuiEmulatorOptions, "dataPort" | "eventsPort">,
): Promise<{ gui: GuiEmulator; dataPort: number; eventsPort: number }> {
  const dataPort = await freePorts(2);
  const eventsPort = await freePorts(1);
  const gui = new GuiEmulator({ dataPort, eventsPort, ...options });
  await gui.start();
  cleanups.push(() => gui.stop());
  return { gui, dataPort, eventsPort };
}

function rigFile(dir: string, ports: { dataPort: number; eventsPort: number }, replyTimeoutMs = 1000): string {
  return writeJson(join(dir, "rig.json"), {
    name: "open-ephys-gui",
    acquisition: {
      format: "openephys-zmq",
      host: "127.0.0.1",
      dataPort: ports.dataPort,
      sampleRate,
      countWindowMs: [50, 150],
      countBins: 1,
      graceMs: 250,
    },
    eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: ports.eventsPort, replyTimeoutMs },
    display: { kind: "none" },
  });
}

async function session(
  dir: string,
  file: string,
  protocol: string,
  onRig?: Parameters<typeof runSession>[4],
): Promise<SessionOutcome> {
  const outcome = await runSession(dir, file, protocol, undefined, onRig);
  cleanups.push(() => outcome.store.close());
  return outcome;
}

interface Check {
  exact: number;
  faulted: Set<number>;
  /** Presentations stored wrong without a fault naming them: must stay empty. */
  wrong: string[];
}

/** Every presentation: counts equal to what the GUI sent in its window, or a fault that names it. */
function check(outcome: SessionOutcome, gui: GuiEmulator): Check {
  const { store, result } = outcome;
  const faulted = new Set(store.faults(result.sessionId).flatMap((f) => f.presentationIdxs));
  const results = new Map(store.countResults(result.sessionId).map((r) => [r.presentationIdx, r]));
  const units = new Map(store.units(result.sessionId).map((u) => [u.id, `${u.electrode}\u0000${u.sortedId}`]));
  const stored = new Map<number, Map<string, number>>();
  for (const row of store.spikeCounts(result.sessionId)) {
    let m = stored.get(row.presentationIdx);
    if (m === undefined) stored.set(row.presentationIdx, (m = new Map()));
    const key = units.get(row.unitId)!;
    m.set(key, (m.get(key) ?? 0) + row.count);
  }
  const out: Check = { exact: 0, faulted, wrong: [] };
  for (const p of store.presentations(result.sessionId)) {
    const r = results.get(p.idx);
    const onset =
      r?.onsetSample == null ? undefined : gui.onsets.find((o) => o.code === p.eventCode && o.sample === r.onsetSample);
    let exact = r !== undefined && r.complete && onset !== undefined;
    if (exact) {
      for (const [key, n] of gui.truth(onset!)) if ((stored.get(p.idx)?.get(key) ?? 0) !== n) exact = false;
    }
    if (exact) out.exact++;
    else if (!faulted.has(p.idx))
      out.wrong.push(
        `presentation ${p.idx} (code ${p.eventCode}, onset ${r?.onsetSample ?? "none"}, complete ` +
          `${r?.complete ?? "no result"}) has no exact counts and no fault`,
      );
  }
  return out;
}

describe("a session against an emulated Open Ephys GUI (ZMQ Interface + Network Events as their sources send)", () => {
  it(
    "200 presentations with tetrode units, per-bit TTL events, DATA messages and message_num wrapping: exact " +
      "counts for all, no fault",
    async () => {
      const dir = tempDir("gui");
      // The board's photodiode input (line 23, another source node) adds its own TTL events to the stream.
      const ports = await startGui({ firstMessageNum: 2 ** 31 - 3000, seed: 11, photodiode: { line: 23, lagMs: 20 } });
      const { gui } = ports;
      let acquisition: OpenEphysZmqAcquisition | undefined;
      const outcome = await session(dir, rigFile(dir, ports), protocolText("gui", 20, 10), (rig) => {
        acquisition = rig.acquisition as OpenEphysZmqAcquisition;
      });
      const { result, store } = outcome;
      const faults = store.faults(result.sessionId);
      const c = check(outcome, gui);
      console.log(
        `gui: ${result.presented} presented, ${c.exact} exact; ${gui.onsets.length} strobes, ${gui.stats.spikes} ` +
          (`spikes, ${gui.stats.ttlEvents} TTL events, ${gui.stats.dataMessages} DATA messages, ` +
            `${gui.commands.length} `) +
          `Network Events commands; ${faults.length} faults`,
      );
      expect(result.state).toBe("completed");
      expect(result.presented).toBe(200);
      expect(faults.map((f) => `${f.code}: ${f.message}`)).toEqual([]);
      expect(c.wrong).toEqual([]);
      expect(c.exact).toBe(200);
      expect(gui.onsets).toHaveLength(200);
      expect(store.units(result.sessionId).every((u) => u.sortedId > 0)).toBe(true);
      expect(store.units(result.sessionId)).toHaveLength(12);
      // The counter wrapped during the session; the decoder saw neither a restart nor a gap.
      expect(acquisition!.stats).toMatchObject({ restarts: 0, gaps: 0, lostMessages: 0, malformedFrames: 0 });
      expect(acquisition!.stats!.sameSampleEvents).toBe(0);
      expect(gui.stats.messages).toBeGreaterThan(3000);
      expect(gui.stats.heartbeats.received).toBeGreaterThan(0);
    },
    120_000,
  );

  it("does not start while the GUI is not acquiring, says why, and stores no session", async () => {
    const dir = tempDir("gui-idle");
    const ports = await startGui({ acquiring: false });
    const error = await session(dir, rigFile(dir, ports), protocolText("gui", 5, 1)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(RigNotReadyError);
    expect((error as Error).message).toMatch(
      new RegExp(
        "not acquiring .*IsAcquiring with 0.* No session was started and nothing was stored\\. Start acquisition " +
          "in the GUI",
      ),
    );
    const store = SessionStore.open(join(dir, "lab.db"));
    cleanups.push(() => store.close());
    expect(store.listSessions()).toEqual([]);
    expect(store.countStimuli()).toBe(0);
    expect(ports.gui.commands).toEqual(["IsAcquiring"]);
  }, 60_000);

  it("with 2% of DATA messages dropped: every presentation has exact counts or a fault that names it", async () => {
    const dir = tempDir("gui-drop");
    const ports = await startGui({ dropDataFraction: 0.02, seed: 12 });
    const outcome = await session(dir, rigFile(dir, ports), protocolText("gui", 20, 10));
    const c = check(outcome, ports.gui);
    const faults = outcome.store.faults(outcome.result.sessionId);
    console.log(
      `gui drop: ${ports.gui.stats.dataDropped} of ${ports.gui.stats.dataMessages} DATA messages dropped; ` +
        `${c.exact} exact, ${c.faulted.size} presentations named by ${faults.length} faults`,
    );
    expect(outcome.result.presented).toBe(200);
    // The emulator drops one DATA message in 50, whatever the run's length.
    expect(ports.gui.stats.dataDropped).toBeGreaterThanOrEqual(Math.floor(ports.gui.stats.dataMessages * 0.02));
    expect(ports.gui.stats.dataDropped).toBeGreaterThan(5);
    expect(c.wrong).toEqual([]);
    expect(new Set(faults.map((f) => f.code))).toEqual(new Set(["message-gap"]));
    expect(c.faulted.size).toBeGreaterThan(0);
    // Each lost DATA message touches the 3-4 count windows open around it; most presentations stay untouched.
    expect(c.exact).toBeGreaterThan(50);
  }, 120_000);

  it(
    "a 60-second run with no spikes, only DATA messages: every presentation's counts become final within the " +
      "grace period",
    async () => {
      const dir = tempDir("gui-silent");
      const blockSamples = 480;
      // The GUI's clock runs 8 times faster than real time: 60 s of rig time in under 10 s.
      const ports = await startGui({ spikes: false, speed: 8, blockSamples });
      const finalised: FinalisedCounts[] = [];
      const outcome = await session(
        dir,
        rigFile(dir, ports),
        protocolText("gui-silent", 10, 8, { fixationMs: 300, stimulusMs: 50, interStimulusMs: 50 }),
        (rig) => (rig.acquisition as OpenEphysZmqAcquisition).onFinalised((f) => finalised.push(f)),
      );
      const { result, store } = outcome;
      console.log(
        `gui silent: ${(ports.gui.rigSample / sampleRate).toFixed(1)} s of rig time, ${ports.gui.stats.dataMessages} ` +
          `DATA messages, ${finalised.length} presentations final`,
      );
      expect(ports.gui.rigSample).toBeGreaterThan(60 * sampleRate);
      expect(ports.gui.stats.spikes).toBe(0);
      expect(result.presented).toBe(80);
      expect(store.faults(result.sessionId)).toEqual([]);
      expect(finalised).toHaveLength(80);
      for (const f of finalised) {
        expect(f.complete).toBe(true);
        // Final as soon as the first block past onset + window end + grace arrived: within the grace period, to the
        // block.
        expect(f.streamSample).toBeGreaterThanOrEqual(f.onsetSample! + windowEnd + grace);
        expect(f.streamSample).toBeLessThanOrEqual(f.onsetSample! + windowEnd + grace + blockSamples);
      }
    },
    120_000,
  );

  it(
    "bad replies (another line or state, InvalidChannel, NotHandled, none) are each a fault naming the " +
      "presentation; nothing wrong is stored without one",
    async () => {
      const dir = tempDir("gui-bad");
      let strobes = 0;
      let codeLinesAfter14 = false;
      let clearAfter30 = false;
      const injected: string[] = [];
      const ports = await startGui({
        firstMessageNum: 2 ** 31 - 1500,
        seed: 13,
        overrideReply: (cmd) => {
          if (cmd === "TTL Line=17 State=1") {
            strobes++;
            const bad =
              strobes === 5
                ? { reply: "TTLHandled: Line=16 State=1" }
                : strobes === 10
                  ? { reply: "TTLHandled: Line=17 State=0" }
                  : strobes === 20
                    ? { reply: "NotHandled" }
                    : strobes === 25
                      ? { silentMs: 700 }
                      : undefined;
            if (bad !== undefined) injected.push(bad.reply ?? "no reply");
            return bad;
          }
          if (strobes === 14 && !codeLinesAfter14 && /^TTL Line=([1-9]|1[0-6]) State=1$/.test(cmd)) {
            codeLinesAfter14 = true;
            injected.push("InvalidChannel");
            return { reply: "InvalidChannel" };
          }
          if (strobes === 30 && !clearAfter30 && cmd === "TTL Line=17 State=0") {
            clearAfter30 = true;
            injected.push("clear NotHandled");
            return { reply: "NotHandled" };
          }
          return undefined;
        },
      });
      const outcome = await session(dir, rigFile(dir, ports, 500), protocolText("gui-bad", 10, 4));
      const { result, store } = outcome;
      const faults = store.faults(result.sessionId);
      const c = check(outcome, ports.gui);
      console.log(
        `gui bad replies: ${injected.join(", ")}; ${c.exact} exact; faults: ` +
          `${faults.map((f) => `${f.code} [${f.presentationIdxs.join(",")}]`).join("; ")}`,
      );
      expect(result.state).toBe("completed");
      expect(injected).toEqual([
        "TTLHandled: Line=16 State=1",
        "TTLHandled: Line=17 State=0",
        "InvalidChannel",
        "NotHandled",
        "no reply",
        "clear NotHandled",
      ]);
      const unconfirmed = faults.filter((f) => f.code === "event-code-unconfirmed");
      for (const pattern of [
        /answered "TTLHandled: Line=16 State=1"/,
        /answered "TTLHandled: Line=17 State=0"/,
        /answered "InvalidChannel"/,
        /raising the strobe: .*answered "NotHandled"/,
        /no reply within 500 ms/,
        /clearing event code .* answered "NotHandled"/,
      ]) {
        const f = unconfirmed.filter((x) => pattern.test(x.message));
        expect(f, `one fault matching ${pattern}`).toHaveLength(1);
        expect(f[0]!.presentationIdxs).toHaveLength(1);
      }
      expect(unconfirmed).toHaveLength(6);
      // Presentations whose strobe never rose have no onset: each is named again when a later onset arrives.
      const noOnset = faults.filter((f) => f.code === "counts-incomplete");
      expect(noOnset.length).toBeGreaterThanOrEqual(3);
      expect(new Set(faults.map((f) => f.code))).toEqual(new Set(["event-code-unconfirmed", "counts-incomplete"]));
      expect(c.wrong).toEqual([]);
      expect(c.exact).toBeGreaterThanOrEqual(40 - 6);
      expect(c.faulted.size).toBeLessThanOrEqual(6);
    },
    120_000,
  );

  it(
    "refuses a pre-0.3 ZMQ Interface (message_no headers) once, with the versions it needs, and ends the session " +
      "without a crash",
    async () => {
      const dir = tempDir("gui-old");
      const ports = await startGui({ legacyHeaders: true });
      const outcome = await session(dir, rigFile(dir, ports), protocolText("gui-old", 5, 2));
      const { result, store, log } = outcome;
      const faults = store.faults(result.sessionId);
      expect(result.state).toBe("failed");
      expect(faults).toHaveLength(1);
      expect(faults[0]!.code).toBe("rig-incompatible");
      expect(faults[0]!.message).toMatch(
        /older than 0\.3\.0 .*ZMQ Interface 0\.3\.0 or newer on Open Ephys GUI 0\.6 or newer/,
      );
      expect(log.some((l) => /session failed: The rig's Open Ephys ZMQ Interface is older than 0\.3\.0/.test(l))).toBe(
        true,
      );
      expect(store.countResults(result.sessionId)).toEqual([]);
    },
    60_000,
  );
});
