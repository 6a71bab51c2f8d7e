import { describe, expect, it } from "vitest";
import { ZmtpSubscriber } from "../../src/main/rig/zmtp-subscriber.js";
import { freePorts } from "./helpers.js";

describe("reconnect loop", () => {
  it("retries a rig that is not there every 20 ms but reports its state once per change", async () => {
    const port = await freePorts(1);
    const states: string[] = [];
    const sub = new ZmtpSubscriber({
      host: "127.0.0.1",
      port,
      reconnectMs: 20,
      onMessage: () => {},
      onState: (up, detail) => states.push(`${up ? "up" : "down"}: ${detail}`),
    });
    sub.start();
    await new Promise((r) => setTimeout(r, 500));
    sub.stop();
    expect(sub.attempts).toBeGreaterThan(5);
    expect(states).toEqual([`down: connection to tcp://127.0.0.1:${port} closed; reconnecting every 20 ms`]);
  });
});
