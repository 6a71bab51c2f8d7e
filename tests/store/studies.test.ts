import { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { registerCampaignCommand } from "../../src/main/cli-campaign.js";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { SessionStore } from "../../src/main/store/index.js";
import {
  appendStudyStep,
  createStudy,
  findStudy,
  listStudies,
  studyState,
  studySteps,
} from "../../src/main/store/studies.js";
import { rigDifferences, studyToResume, summarizeStudies } from "../../src/main/campaign/study-resume.js";
import { tempDir } from "../helpers/tmp.js";

const cleanups: (() => void)[] = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);

const rig = {
  name: "lab rig",
  acquisition: {
    format: "openephys-zmq",
    host: "127.0.0.1",
    dataPort: 5556,
    sampleRate: 30000,
    countWindowMs: [50, 150],
    countBins: 1,
    graceMs: 250,
  },
  eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: 5557 },
  display: { kind: "virtual", endpoint: "tcp://127.0.0.1:5560" },
};

function fixture() {
  const tmp = tempDir("cortexloop-studies-");
  const store = SessionStore.open(join(tmp.dir, "lab.db"));
  cleanups.push(() => {
    store.close();
    tmp.cleanup();
  });
  const rigFile = join(tmp.dir, "rig.json");
  writeFileSync(rigFile, JSON.stringify(rig, null, 2));
  const study = createStudy(store.db, {
    name: "V4 week 1",
    rigFile,
    rigText: JSON.stringify(rig),
    settings: { sessions: "3" },
  });
  return { tmp, store, study, rigFile };
}

describe("studies in the store (schema 8)", () => {
  it("are found by id or name, take each name once, and keep their steps append-only", () => {
    const { store, study } = fixture();
    expect(findStudy(store.db, study.id)?.name).toBe("V4 week 1");
    expect(findStudy(store.db, "V4 week 1")).toMatchObject({ id: study.id, settings: { sessions: "3" } });
    expect(findStudy(store.db, "nope")).toBeUndefined();
    expect(() => createStudy(store.db, { name: "V4 week 1", rigFile: null, rigText: "{}", settings: {} })).toThrow(
      /already in this database; nothing was started/,
    );
    expect(listStudies(store.db).length).toBe(1);
    appendStudyStep(store.db, study.id, { kind: "started" });
    appendStudyStep(store.db, study.id, { kind: "recorded", sessionNumber: 1, detail: { file: "session-1.json" } });
    expect(studyState(studySteps(store.db, study.id))).toBe("running");
    expect(() => store.db.prepare("UPDATE study_steps SET kind = 'finished'").run()).toThrow(/append-only/);
    expect(() => store.db.prepare("DELETE FROM studies").run()).toThrow(/append-only/);
    appendStudyStep(store.db, study.id, { kind: "finished" });
    expect(studyState(studySteps(store.db, study.id))).toBe("finished");
  });

  it("resume is refused, with nothing written, for an unknown or finished study and for another rig", () => {
    const { tmp, store, study, rigFile } = fixture();
    expect(studyToResume(store, "V4 week 1", undefined).id).toBe(study.id);
    // The same rig written differently (key order, spacing) is the same rig.
    const same = join(tmp.dir, "same.json");
    const { display, ...rest } = rig;
    writeFileSync(same, JSON.stringify({ display, ...rest }, null, 4));
    expect(studyToResume(store, String(study.id), same).id).toBe(study.id);
    const other = join(tmp.dir, "other.json");
    writeFileSync(other, JSON.stringify({ ...rig, eventCodes: { ...rig.eventCodes, port: 6000 } }));
    expect(() => studyToResume(store, "V4 week 1", other)).toThrow(
      /describes a different rig \(eventCodes\.port: 5557 in the study, 6000 in the rig file\)\. Nothing was done/,
    );
    expect(() => studyToResume(store, "V4 week 2", rigFile)).toThrow(
      /There is no study "V4 week 2" .*nothing was done\. Its studies: 1 "V4 week 1"/,
    );
    const steps = studySteps(store.db, study.id).length;
    appendStudyStep(store.db, study.id, { kind: "stopped", sessionNumber: 2 });
    expect(() => studyToResume(store, "V4 week 1", undefined)).toThrow(
      /proposal for session 2 was declined.*Nothing was done/,
    );
    appendStudyStep(store.db, study.id, { kind: "finished" });
    expect(() => studyToResume(store, "V4 week 1", undefined)).toThrow(/finished at .* nothing to resume/);
    expect(studySteps(store.db, study.id).length).toBe(steps + 2);
  });

  it("names each setting that differs between two rig files", () => {
    const moved = { ...rig, acquisition: { ...rig.acquisition, dataPort: 7000, host: "10.0.0.2" } };
    expect(rigDifferences(JSON.stringify(rig), JSON.stringify(moved))).toEqual([
      "acquisition.dataPort: 5556 in the study, 7000 in the rig file",
      'acquisition.host: "127.0.0.1" in the study, "10.0.0.2" in the rig file',
    ]);
    expect(rigDifferences(JSON.stringify(rig), JSON.stringify(rig))).toEqual([]);
  });

  it("cortexloop studies lists each study with its state, sessions, models and last step", async () => {
    const { store, study } = fixture();
    appendStudyStep(store.db, study.id, { kind: "started" });
    appendStudyStep(store.db, study.id, { kind: "recorded", sessionNumber: 1 });
    appendStudyStep(store.db, study.id, { kind: "retrained", sessionNumber: 1 });
    appendStudyStep(store.db, study.id, { kind: "designed", sessionNumber: 2 });
    expect(summarizeStudies(store)).toMatchObject([
      {
        id: study.id,
        name: "V4 week 1",
        state: "running or stopped by a crash",
        sessions: 1,
        models: 1,
        lastStep: expect.stringMatching(/^designed \(session 2\) at /),
      },
    ]);
    const program = new Command().exitOverride();
    registerCampaignCommand(program);
    const shown: unknown[] = [];
    const table = vi.spyOn(console, "table").mockImplementation((rows: unknown) => void shown.push(rows));
    try {
      await program.parseAsync(["studies", "--db", store.file], { from: "user" });
    } finally {
      table.mockRestore();
    }
    expect(shown).toMatchObject([[{ name: "V4 week 1", sessions: 1 }]]);
  });
});
