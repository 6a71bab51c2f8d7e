import { describe, expect, it } from "vitest";
import { parseDesktopOptions } from "../../src/main/electron/options.js";

describe("the desktop app's tech view options", () => {
  it("takes --rig, repeated --protocols and --allow-runs as cortexloop serve does; none by default", () => {
    expect(parseDesktopOptions(["/app"], {}).tech).toEqual({ protocols: [], allowRuns: false });
    const argv = ["/app", "--rig", "lab.json", "--protocols", "a", "--protocols=b", "--allow-runs", "--db", "x.db"];
    expect(parseDesktopOptions(argv, {})).toMatchObject({
      db: "x.db",
      tech: { rig: "lab.json", protocols: ["a", "b"], allowRuns: true },
    });
    expect(parseDesktopOptions(["--rig=r.json"], {}).tech.rig).toBe("r.json");
  });
});
