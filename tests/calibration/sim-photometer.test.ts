/**
 * Calibration against the simulated PR-655 on a real pty pair (socat), the driver on the real serial port, and the
 * patches published as virtual display frames over ZeroMQ (what the simulated photometer looks at): the hidden gammas
 * come back within 0.05 and the validation sweep through the new tables is linear within 2% of the maximum luminance.
 * A photometer that stops answering mid-sweep leaves the rig file as it was. (The same through the stimulus window in
 * Chromium: tests/e2e/stimulus-window.test.ts.)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSerialLines } from "../../src/main/calibration/line-transport.js";
import { VirtualPatchDisplay } from "../../src/main/calibration/patch-displays.js";
import { ColorCal } from "../../src/main/calibration/colorcal.js";
import { Pr655 } from "../../src/main/calibration/pr655.js";
import { calibrateRigFile } from "../../src/main/calibration/rig-file.js";
import { loadRigFile } from "../../src/main/protocol/index.js";
import { VirtualDisplay } from "../../src/main/rig/virtual-display.js";
import { SimPhotometer } from "../../src/main/sim/sim-photometer.js";
import { freePorts, PtyPair, socatAvailable, tempDir, writeJson } from "../rig/helpers.js";

describe.skipIf(!socatAvailable)("calibration against cortexloop sim-photometer", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  async function setup(
    gammas: [number, number, number],
    stopAfterMeasurements?: number,
    type: "pr655" | "colorcal" = "pr655",
  ) {
    const dir = tempDir("sim-photometer");
    const endpoint = `tcp://127.0.0.1:${await freePorts(1)}`;
    const rigFile = writeJson(join(dir, "rig.json"), {
      name: "calibrate-sim",
      acquisition: { format: "openephys-zmq", host: "127.0.0.1", dataPort: 5556, sampleRate: 30000 },
      eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: 5557 },
      display: { kind: "virtual", endpoint },
    });
    const pty = new PtyPair(join(dir, "controller"), join(dir, "photometer"));
    await pty.start();
    cleanup.push(() => pty.stop());
    const sim = new SimPhotometer({
      type,
      port: pty.rigPath,
      endpoint,
      display: { gammas, white: [25, 60, 8], black: 0.3 },
      stopAfterMeasurements,
    });
    // The photometer subscribes first, so the display's open() sees it and no patch goes out before it listens.
    await sim.start();
    cleanup.push(() => sim.stop());
    const display = new VirtualDisplay({ endpoint, waitForSubscriberMs: 2000 });
    await display.open();
    cleanup.push(() => display.close());
    const link = await openSerialLines(pty.controllerPath);
    const opened = { port: pty.controllerPath, replyTimeoutMs: 1000, measureTimeoutMs: 2000 };
    const photometer = type === "pr655" ? await Pr655.open(link, opened) : await ColorCal.open(link, opened);
    cleanup.push(() => photometer.close());
    return { rigFile, photometer, patches: new VirtualPatchDisplay(display, 100), sim };
  }

  for (const gammas of [
    [2.2, 2.2, 2.2],
    [1.8, 2.2, 2.6],
  ] as [number, number, number][]) {
    it(`recovers hidden gammas ${gammas.join(", ")} and linearizes the display`, async () => {
      const { rigFile, photometer, patches } = await setup(gammas);
      const outcome = await calibrateRigFile(rigFile, { photometer, display: patches, levels: 9 });
      const cal = outcome.result.calibration;
      const got = [cal.red.gamma, cal.green.gamma, cal.blue.gamma];
      console.log(
        `sim-photometer (virtual display): hidden gammas ${gammas.join(", ")}, recovered ` +
          `${got.map((g) => g.toFixed(4)).join(", ")}; ` +
          `validation sweep max deviation ${(cal.validation!.maxDeviation * 100).toFixed(3)}% of max luminance`,
      );
      for (let g = 0; g < 3; g++) expect(Math.abs(got[g]! - gammas[g]!)).toBeLessThan(0.05);
      expect(cal.validation!.maxDeviation).toBeLessThan(0.02);
      expect(outcome.written).toBe(true);
      const { rig } = loadRigFile(rigFile);
      expect(rig.display.kind === "virtual" && rig.display.calibration?.photometer?.model).toBe("PR-655");
    }, 60_000);
  }

  it("recovers hidden gammas 1.8, 2.2, 2.6 with a simulated ColorCAL MKII", async () => {
    const gammas = [1.8, 2.2, 2.6];
    const { rigFile, photometer, patches } = await setup([1.8, 2.2, 2.6], undefined, "colorcal");
    const outcome = await calibrateRigFile(rigFile, { photometer, display: patches, levels: 9 });
    const cal = outcome.result.calibration;
    const got = [cal.red.gamma, cal.green.gamma, cal.blue.gamma];
    console.log(
      `sim-photometer --type colorcal (virtual display): recovered ${got.map((g) => g.toFixed(4)).join(", ")}; ` +
        `validation ${(cal.validation!.maxDeviation * 100).toFixed(3)}%`,
    );
    for (let g = 0; g < 3; g++) expect(Math.abs(got[g]! - gammas[g]!)).toBeLessThan(0.05);
    expect(cal.validation!.maxDeviation).toBeLessThan(0.02);
    expect(cal.photometer).toEqual({ type: "colorcal", model: "ColorCAL MKII", serial: "SIM0002" });
  }, 60_000);

  it("a photometer that stops answering mid-sweep: a clear error, and the rig file unchanged", async () => {
    const { rigFile, photometer, patches } = await setup([2.2, 2.2, 2.2], 10);
    const before = readFileSync(rigFile, "utf8");
    await expect(calibrateRigFile(rigFile, { photometer, display: patches, levels: 9 })).rejects.toThrow(
      /the PR-655 on .* did not answer "M0" within/,
    );
    expect(readFileSync(rigFile, "utf8")).toBe(before);
  }, 60_000);
});
