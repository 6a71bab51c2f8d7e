/**
 * NWB export: the files of a simulated session and of a session with faults and incomplete counts
 * pass ../shared/nwb/validate_nwb.py (NWB 2.7.0 schema, Debian's python3-hdmf) with no errors, and
 * an independent reader (h5py) finds the store's counts, onsets and images in them. Bad input
 * (a running session, a missing session, a disk that fills) is a clear error and leaves no file
 * that looks complete.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { dispatch } from "../../src/main/api/handlers.js";
import { runExport } from "../../src/main/cli-export.js";
import { ExportError, writeSessionNwb, type WriteChunk } from "../../src/main/export/index.js";
import { sharedDir } from "../../src/main/paths.js";
import { SessionStore } from "../../src/main/store/index.js";
import { decodeImage } from "../../src/stimulus/index.js";
import { runProtocolFile } from "../helpers/session.js";
import {
  fixtureBins,
  incompleteCount,
  writeIncompleteSession,
  type IncompleteFixture,
} from "../helpers/incomplete-session.js";
import { repoRoot, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

const python = "/usr/bin/python3";
const validator = sharedDir() === undefined ? undefined : join(sharedDir()!, "nwb", "validate_nwb.py");
const hasPythonHdf = existsSync(python) && spawnSync(python, ["-c", "import hdmf, h5py"]).status === 0;
const reason =
  validator === undefined || !existsSync(validator)
    ? "no ../shared/nwb/validate_nwb.py beside the project"
    : !hasPythonHdf
      ? "Debian's python3-hdmf and python3-h5py are not installed (apt-get install -y python3-hdmf python3-h5py)"
      : undefined;
if (reason !== undefined) console.warn(`tests/export/nwb.test.ts: skipping validation and read-back: ${reason}.`);

function validate(file: string): { status: number; output: string } {
  const r = spawnSync(python, [validator!, file], { encoding: "utf8" });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

interface ReadBack {
  identifier: string;
  nwb_version: string;
  protocol: string;
  rig: string;
  software: string;
  units: { id: number[]; electrode: string[]; sorted_id: number[] };
  presentations: {
    id: number[];
    start_time: number[];
    stop_time: number[];
    event_code: number[];
    onset_sample: number[];
    stimulus_sha256: string[];
    stimulus_index: number[];
    block: string[];
    status: string[];
    counts_state: string[];
    spike_counts: number[][][];
  };
  faults: { code: string[]; presentation_idxs: number[][] };
  images: Record<string, { shape: number[]; sha256_of_pixels: string }>;
  order_of_images: string[];
  shown: number[];
}

function readBack(file: string): ReadBack {
  return JSON.parse(
    execFileSync(python, [join(repoRoot, "tests", "export", "read_nwb.py"), file], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    }),
  ) as ReadBack;
}

/** Everything the store holds that the file must hold too. */
async function expectMatchesStore(store: SessionStore, sessionId: number, nwb: ReadBack): Promise<void> {
  const session = store.findSession(sessionId)!;
  expect(nwb.identifier).toBe(session.uuid);
  expect(nwb.nwb_version).toBe("2.7.0");
  expect(nwb.protocol).toBe(store.protocolText(session.protocolId));
  expect(nwb.rig).toBe(store.rigText(session.rigId));
  expect(nwb.software).toMatch(/^cortexloop \d+\.\d+\.\d+/);
  const units = store.units(sessionId);
  expect(nwb.units).toEqual({
    id: units.map((u) => u.id),
    electrode: units.map((u) => u.electrode),
    sorted_id: units.map((u) => u.sortedId),
  });

  const presentations = store.presentations(sessionId);
  const results = new Map(store.countResults(sessionId).map((r) => [r.presentationIdx, r]));
  const p = nwb.presentations;
  expect(p.id).toEqual(presentations.map((x) => x.idx));
  expect(p.event_code).toEqual(presentations.map((x) => x.eventCode));
  expect(p.stimulus_sha256).toEqual(presentations.map((x) => x.stimulusSha256));
  expect(p.block).toEqual(presentations.map((x) => x.block));
  expect(p.status).toEqual(presentations.map((x) => x.status));
  // Onsets: the rig's TTL sample, and the display's flip on the controller's clock.
  expect(p.onset_sample).toEqual(presentations.map((x) => results.get(x.idx)?.onsetSample ?? -1));
  presentations.forEach((x, j) => {
    expect(p.start_time[j]).toBeCloseTo((x.shownMs ?? x.scheduledMs) / 1000, 9);
    expect(p.stop_time[j]! - p.start_time[j]!).toBeCloseTo(x.durationMs / 1000, 9);
  });
  expect(p.counts_state).toEqual(
    presentations.map((x) =>
      results.get(x.idx) === undefined ? "none" : results.get(x.idx)!.complete ? "complete" : "incomplete",
    ),
  );

  // Counts: every stored (presentation, unit, bin) count, and -1 exactly where none was stored.
  const bins = session.countWindow.bins;
  const stored = new Map<string, number>();
  for (const c of store.spikeCounts(sessionId)) stored.set(`${c.presentationIdx}:${c.unitId}:${c.bin}`, c.count);
  let compared = 0;
  presentations.forEach((x, j) => {
    units.forEach((u, k) => {
      for (let b = 0; b < bins; b++) {
        expect(p.spike_counts[j]![k]![b], `presentation ${x.idx} unit ${u.id} bin ${b}`).toBe(
          stored.get(`${x.idx}:${u.id}:${b}`) ?? -1,
        );
        compared++;
      }
    });
  });
  expect(compared).toBe(presentations.length * units.length * bins);

  // Images: each stored PNG's pixels, named by its hash, and the index the table points at.
  const shas = [...new Set(presentations.map((x) => x.stimulusSha256))];
  expect(Object.keys(nwb.images).sort()).toEqual([...shas].sort());
  for (const sha of shas) {
    const img = await decodeImage(store.getStimulusPng(sha)!, sha);
    expect(nwb.images[sha]!.shape).toEqual([img.height, img.width, 3]);
    expect(nwb.images[sha]!.sha256_of_pixels).toBe(createHash("sha256").update(img.pixels0to255).digest("hex"));
  }
  p.stimulus_index.forEach((i, j) => expect(nwb.order_of_images[i]).toBe(p.stimulus_sha256[j]));

  const faults = store.faults(sessionId);
  expect(nwb.faults.code).toEqual(faults.map((f) => f.code));
  expect(nwb.faults.presentation_idxs).toEqual(faults.map((f) => f.presentationIdxs));
}

const tmp = tempDir("cortexloop-nwb-");
let store: SessionStore;
let quickId: number;
let fx: IncompleteFixture;

beforeAll(async () => {
  store = SessionStore.open(join(tmp.dir, "lab.db"));
  const r = await runProtocolFile(store, writeQuickProtocol(tmp.dir));
  quickId = store.findSession(r.uuid)!.id;
  fx = await writeIncompleteSession(store);
});
afterAll(() => {
  store?.close();
  tmp.cleanup();
});

function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

describe.skipIf(reason !== undefined)("NWB files pass the NWB 2.7.0 validator and read back with h5py", () => {
  it("a simulated session", async () => {
    const file = join(tmp.dir, "quick.nwb");
    await writeSessionNwb(store, quickId, file);
    const v = validate(file);
    expect(v.output).toMatch(/VALID: 0 error\(s\)/);
    expect(v.status).toBe(0);
    await expectMatchesStore(store, quickId, readBack(file));
  });

  it("a session with faults and incomplete counts (through the command line)", async () => {
    const file = join(tmp.dir, "faults.nwb");
    await runExport(String(fx.sessionId), { db: join(tmp.dir, "lab.db"), nwb: file });
    const v = validate(file);
    expect(v.output).toMatch(/VALID: 0 error\(s\)/);
    expect(v.status).toBe(0);
    const nwb = readBack(file);
    await expectMatchesStore(store, fx.sessionId, nwb);
    expect(nwb.presentations.counts_state.filter((s) => s === "incomplete")).toHaveLength(4);
    const j = nwb.presentations.counts_state.indexOf("incomplete");
    expect(nwb.presentations.spike_counts[j]![0]).toEqual(Array(fixtureBins).fill(incompleteCount));
    expect(nwb.faults.code).toEqual(["counts-incomplete", "heartbeat-lost"]);
  });

  it("the same file comes through the API (the export panel's download)", async () => {
    const reply = await dispatch(store, "exportNwb", { session: fx.sessionId });
    if (!reply.ok) throw new Error(reply.message);
    const file = join(tmp.dir, "from-api.nwb");
    const value = reply.value as { base64: string; fileName: string };
    writeFileSync(file, Buffer.from(value.base64, "base64"));
    expect(value.fileName).toBe(`incomplete-fixture-${fx.sessionId}.nwb`);
    expect(validate(file).status).toBe(0);
  });
});

describe("NWB export refuses bad input with a clear error, and leaves no file that looks complete", () => {
  it("a session that is still running", async () => {
    const running = await writeIncompleteSession(store, { finish: false });
    const dir = join(tmp.dir, "running");
    mkdirSync(dir);
    const err = await writeSessionNwb(store, running.sessionId, join(dir, "r.nwb")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as ExportError).code).toBe("session-running");
    expect((err as Error).message).toMatch(
      /is still running \(state "started" since .*\); nothing was written\..*--allow-unfinished/,
    );
    expect(filesIn(dir)).toEqual([]);
    const reply = await dispatch(store, "exportNwb", { session: running.sessionId });
    expect(reply).toMatchObject({ ok: false, code: "conflict" });
    // A crashed controller leaves the same state: --allow-unfinished exports what was stored.
    await writeSessionNwb(store, running.sessionId, join(dir, "r.nwb"), { allowUnfinished: true });
    expect(filesIn(dir)).toEqual(["r.nwb"]);
    if (reason === undefined) expect(validate(join(dir, "r.nwb")).status).toBe(0);
  });

  it("a session id that does not exist", async () => {
    const dir = join(tmp.dir, "missing");
    mkdirSync(dir);
    const err = await writeSessionNwb(store, 9999, join(dir, "m.nwb")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as ExportError).code).toBe("not-found");
    expect((err as Error).message).toMatch(/No session "9999" in .*; nothing was written/);
    expect(filesIn(dir)).toEqual([]);
    expect(await dispatch(store, "exportNwb", { session: 9999 })).toMatchObject({ ok: false, code: "not-found" });
  });

  it("a disk that fills during the write: the partial file is removed, an older one of that name kept", async () => {
    const dir = join(tmp.dir, "full");
    mkdirSync(dir);
    const target = join(dir, "s.nwb");
    writeFileSync(target, "an older export");
    let calls = 0;
    const fillsUp: WriteChunk = (fd, bytes, offset, length) => {
      calls++;
      if (offset > 0) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      // The first chunk lands only in part, as on a disk that is almost full.
      return writeSync(fd, bytes, offset, Math.min(length, 4096));
    };
    const err = await writeSessionNwb(store, quickId, target, {}, fillsUp).catch((e: unknown) => e);
    expect(calls).toBe(2);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as ExportError).code).toBe("write-failed");
    expect((err as Error).message).toMatch(
      /failed after 4096 of \d+ bytes \(ENOSPC: no space left on device, write\); the partial file was removed/,
    );
    expect(filesIn(dir)).toEqual(["s.nwb"]);
    expect(readFileSync(target, "utf8")).toBe("an older export");
  });
});

const canMount =
  process.getuid?.() === 0 && process.platform === "linux" && spawnSync("mount", ["--version"]).status === 0;

describe.skipIf(!canMount)("a real full disk (a 32 KiB tmpfs)", () => {
  const mnt = join(tmp.dir, "tiny");
  let mounted = false;
  beforeAll(() => {
    mkdirSync(mnt);
    mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=32k", "tmpfs", mnt]).status === 0;
    if (!mounted)
      console.warn(
        "tests/export/nwb.test.ts: could not mount a tmpfs (not allowed in this container); " +
          "the injected full disk above still runs.",
      );
  });
  afterAll(() => {
    if (mounted) spawnSync("umount", [mnt]);
  });

  it("ENOSPC from the kernel: clear error, nothing left behind", async (ctx) => {
    if (!mounted) ctx.skip();
    const err = await writeSessionNwb(store, quickId, join(mnt, "s.nwb")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as Error).message).toMatch(/ENOSPC.*the partial file was removed and nothing named s\.nwb was written/);
    expect(filesIn(mnt)).toEqual([]);
  });
});
