import { describe, expect, it } from "vitest";
import { rigSchema } from "../../src/main/protocol/schema.js";
import { codeLinesOf } from "../../src/main/rig/factory.js";

const base = { name: "r", acquisition: { format: "openephys-zmq" } };

describe("rig file: how codes ride on the TTL lines", () => {
  it("takes Network Events' strobe and masks the photodiode's line; the serial box matches the word", () => {
    const network = rigSchema.parse({
      ...base,
      eventCodes: { transport: "openephys-network-events" },
      display: { kind: "window", photodiode: { line: 23 } },
    });
    expect(codeLinesOf(network)).toEqual({ strobeLine: 16, maskedLines: [23] });
    expect(network.display).toEqual({
      kind: "window",
      photodiode: { line: 23, corner: "top-left", sizePx: 40, polarity: "white-on" },
    });
    expect(network.eventCodes).toMatchObject({ port: 5555, replyTimeoutMs: 1000 });
    const serial = rigSchema.parse({
      ...base,
      eventCodes: { transport: "serial", path: "/dev/ttyACM0" },
      display: { kind: "virtual" },
    });
    expect(codeLinesOf(serial)).toEqual({ strobeLine: undefined, maskedLines: [] });
  });

  it("refuses a photodiode on a line that carries codes", () => {
    const onCode = rigSchema.safeParse({
      ...base,
      eventCodes: { transport: "serial", path: "/dev/ttyACM0" },
      display: { kind: "virtual", photodiode: { line: 15 } },
    });
    expect(onCode.success).toBe(false);
    expect(onCode.error!.issues[0]!.message).toMatch(
      /line 15 carries event codes .* wire the photodiode to line 16 or above/,
    );
    const onStrobe = rigSchema.safeParse({
      ...base,
      eventCodes: { transport: "openephys-network-events" },
      display: { kind: "virtual", photodiode: { line: 16 } },
    });
    expect(onStrobe.success).toBe(false);
    expect(
      rigSchema.safeParse({
        ...base,
        eventCodes: { transport: "serial", path: "/dev/ttyACM0" },
        display: { kind: "virtual", photodiode: { line: 16 } },
      }).success,
    ).toBe(true);
  });
});
