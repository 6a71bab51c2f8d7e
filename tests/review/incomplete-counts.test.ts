/**
 * Incomplete counts never enter a mean by default: a session with known incomplete counts (90
 * spikes a bin, far above every complete count) is read through every view of the API and every
 * export, and each must give the means of the complete counts alone, and say what it counted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { unzipSync, strFromU8 } from "fflate";
import type { ApiReply, Replies } from "../../src/main/api/contract.js";
import { dispatch } from "../../src/main/api/handlers.js";
import { sessionBundle, sessionCsvFiles } from "../../src/main/export/index.js";
import { splitHalfReliability } from "../../src/models/metrics/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import {
  fixtureBins,
  fixtureUnits,
  incompleteCount,
  writeIncompleteSession,
  type IncompleteFixture,
} from "../helpers/incomplete-session.js";
import { tempDir } from "../helpers/tmp.js";

async function valueOf<T>(pending: Promise<ApiReply<unknown>>): Promise<T> {
  const reply = await pending;
  if (!reply.ok) throw new Error(`expected ok, got ${reply.code}: ${reply.message}`);
  return reply.value as T;
}

function parseCsv(text: string): Record<string, string>[] {
  const [head, ...rows] = text.trim().split("\n");
  const cols = head!.split(",");
  return rows.map((r) => Object.fromEntries(r.split(",").map((v, i) => [cols[i]!, v])));
}

const tmp = tempDir("cortexloop-incomplete-");
let store: SessionStore;
let fx: IncompleteFixture;
const maxCompleteSum = 8 * fixtureBins;

beforeAll(async () => {
  store = SessionStore.open(join(tmp.dir, "lab.db"));
  fx = await writeIncompleteSession(store);
});
afterAll(() => {
  store?.close();
  tmp.cleanup();
});

describe("incomplete counts are excluded from means by default, and shown distinctly", () => {
  it("the fixture really has incomplete counts far above the complete ones", () => {
    expect(fx.presentations.filter((p) => p.counts === "incomplete")).toHaveLength(4);
    expect(fx.expectedMean(0, 0)).not.toBeCloseTo(fx.meanWithIncomplete(0, 0), 3);
  });

  it("unitResponses: means and s.e.m. over complete repeats; counting summary; incomplete columns marked", async () => {
    const r = await valueOf<Replies["unitResponses"]>(dispatch(store, "unitResponses", { session: fx.sessionId }));
    expect(r.counting).toMatchObject({
      includeIncomplete: false,
      presentations: 24,
      counted: 19,
      excludedIncomplete: 4,
      includedIncomplete: 0,
      withoutCounts: 1,
    });
    expect(r.counting.text).toMatch(
      /19 of 24 presentations counted \(complete counts only\); 4 with incomplete counts excluded; 1 without counts/,
    );
    expect(r.stimuli.map((s) => s.sha256)).toEqual(fx.shas);
    r.stimuli.forEach((s, i) => {
      const completeRepeats = fx.presentations.filter((p) => p.image === i && p.counts === "complete").length;
      expect(s.incomplete).toBe(fx.presentations.filter((p) => p.image === i && p.counts === "incomplete").length);
      fixtureUnits.forEach((_, u) => {
        expect(s.meanByUnit[u]).toBeCloseTo(fx.expectedMean(i, u), 9);
        expect(s.nByUnit[u]).toBe(completeRepeats);
      });
    });
    expect(r.matrix.state.filter((x) => x === "incomplete")).toHaveLength(4);
    expect(r.matrix.state.filter((x) => x === "none")).toHaveLength(1);
    // The incomplete counts are still shown (marked), not hidden.
    const col = r.matrix.state.indexOf("incomplete");
    expect(r.matrix.counts[0]![col]).toBe(incompleteCount * fixtureBins);

    const all = await valueOf<Replies["unitResponses"]>(
      dispatch(store, "unitResponses", { session: fx.sessionId, includeIncomplete: true }),
    );
    expect(all.counting).toMatchObject({
      includeIncomplete: true,
      counted: 23,
      excludedIncomplete: 0,
      includedIncomplete: 4,
    });
    expect(all.stimuli[0]!.meanByUnit[0]).toBeCloseTo(fx.meanWithIncomplete(0, 0), 9);
  });

  it("unitRaster: the PSTH averages complete rows only; incomplete rows are present and flagged", async () => {
    const unitId = store.units(fx.sessionId)[1]!.id;
    const r = await valueOf<Replies["unitRaster"]>(
      dispatch(store, "unitRaster", { session: fx.sessionId, unit: unitId }),
    );
    expect(r.rows).toHaveLength(24);
    expect(r.rows.filter((row) => row.counts === "incomplete" && !row.counted)).toHaveLength(4);
    expect(r.binMs).toBe(40);
    expect(r.psth.n).toBe(19);
    for (let b = 0; b < fixtureBins; b++) {
      const xs = fx.presentations.filter((p) => p.counts === "complete").map((p) => fx.complete(p.idx, 1, b));
      const expected = (xs.reduce((a, c) => a + c, 0) / xs.length) * (1000 / 40);
      expect(r.psth.rateHz[b]).toBeCloseTo(expected, 9);
    }
    // Rows are grouped by stimulus: each stimulus's repeats sit together.
    const order = r.rows.map((row) => fx.shas.indexOf(row.sha256));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it("tuning: each bin averages complete presentations only", async () => {
    const r = await valueOf<Replies["tuning"]>(dispatch(store, "tuning", { session: fx.sessionId }));
    const orientation = r.curves.find((c) => c.axis.parameter === "orientationDeg");
    expect(orientation, "an orientation curve for the generated gratings").toBeDefined();
    expect(orientation!.stimuli).toBe(6);
    for (let u = 0; u < fixtureUnits.length; u++) {
      expect(orientation!.nByUnit[u]!.reduce((a, b) => a + b, 0)).toBe(19);
      for (const m of orientation!.meanByUnit[u]!) if (m !== null) expect(m).toBeLessThanOrEqual(maxCompleteSum);
    }
  });

  it("reliability: split-half over complete repeats only", async () => {
    const r = await valueOf<Replies["reliability"]>(dispatch(store, "reliability", { session: fx.sessionId }));
    const u = 2;
    const perImage = fx.shas.map((_, i) =>
      fx.presentations.filter((p) => p.image === i && p.counts === "complete").map((p) => p.idx),
    );
    const maxRepeats = Math.max(...perImage.map((l) => l.length));
    const summed = (idx: number): number =>
      Array.from({ length: fixtureBins }, (_, b) => fx.complete(idx, u, b)).reduce((a, c) => a + c, 0);
    const y = Array.from({ length: maxRepeats }, (_, rep) =>
      perImage.map((l) => (rep < l.length ? summed(l[rep]!) : Number.NaN)),
    );
    const expected = splitHalfReliability(y);
    expect(r.units[u]!.stimuli).toBe(expected.stimuli);
    expect(r.units[u]!.reliability).toBeCloseTo(expected.reliability, 9);
  });

  it("responses.csv (CSV export and the bundle) holds the complete-only means and says so", () => {
    const files = sessionCsvFiles(store, fx.sessionId);
    const rows = parseCsv(files.get("responses.csv")!);
    const unitIds = store.units(fx.sessionId).map((u) => u.id);
    expect(rows).toHaveLength(6 * 3);
    for (const row of rows) {
      const i = fx.shas.indexOf(row.stimulus_sha256!);
      const u = unitIds.indexOf(Number(row.unit_id));
      expect(row.counted).toBe("complete");
      expect(Number(row.n_incomplete)).toBe(
        fx.presentations.filter((p) => p.image === i && p.counts === "incomplete").length,
      );
      expect(Number(row.mean_count)).toBeCloseTo(fx.expectedMean(i, u), 9);
    }
    const spikes = parseCsv(files.get("spike_counts.csv")!);
    expect(spikes.filter((s) => s.counts_complete === "false")).toHaveLength(4 * 3 * fixtureBins);

    const bundle = sessionBundle(store, fx.sessionId);
    const unzipped = unzipSync(bundle.zip);
    expect(strFromU8(unzipped[`${bundle.folder}/responses.csv`]!)).toBe(files.get("responses.csv"));
    expect(strFromU8(unzipped[`${bundle.folder}/README.md`]!)).toMatch(
      /19 of 24 presentations counted \(complete counts only\); 4 with incomplete counts excluded/,
    );
  });
});
