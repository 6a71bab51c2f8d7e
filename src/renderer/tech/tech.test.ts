import { describe, expect, it } from "vitest";
import { formatRoute, parseRoute } from "../route.js";
import { reduce } from "../state.js";
import { formatDuration, progressFraction } from "./format.js";

describe("the tech view's place in the URL", () => {
  it("#/tech opens it and round-trips; other routes stay the review", () => {
    expect(parseRoute("#/tech").view).toBe("tech");
    expect(formatRoute(parseRoute("#/tech"))).toBe("#/tech");
    expect(parseRoute("#/session/3/unit").view).toBe("review");
    expect(formatRoute(parseRoute("#/session/3/unit"))).toBe("#/session/3/unit");
  });
  it("openView moves between views and keeps the session filters; opening a session leaves the tech view", () => {
    const filtered = reduce(parseRoute("#/?protocol=demo"), { action: "openView", payload: "tech" });
    expect(filtered.view).toBe("tech");
    expect(filtered.sessions.protocol).toBe("demo");
    const back = reduce(filtered, { action: "openView", payload: "review" });
    expect(formatRoute(back)).toBe("#/?protocol=demo");
    expect(reduce(filtered, { action: "openSession", payload: 4 }).view).toBe("review");
  });
});

describe("tech view formatting", () => {
  it("durations", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(240)).toBe("0.2 s");
    expect(formatDuration(22_600)).toBe("23 s");
    expect(formatDuration(185_000)).toBe("3 min 05 s");
    expect(formatDuration(3_720_000)).toBe("1 h 02 min");
  });
  it("progress", () => {
    expect(progressFraction(3, 12)).toBe(0.25);
    expect(progressFraction(5, 0)).toBe(0);
    expect(progressFraction(13, 12)).toBe(1);
  });
});
