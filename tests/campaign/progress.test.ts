import { describe, expect, it } from "vitest";
import { everyQuarter } from "../../src/main/campaign/report.js";

describe("everyQuarter", () => {
  it("says the progress once at each quarter of the session, never before the first", () => {
    const said: string[] = [];
    const progress = everyQuarter((shown, all) => said.push(`${shown}/${all}`));
    for (let shown = 1; shown <= 10; shown++) progress(shown, 10);
    // 10 presentations: quarters reached at 3 (30 %), 5 (50 %), 8 (80 %) and 10.
    expect(said).toEqual(["3/10", "5/10", "8/10", "10/10"]);
  });
});
