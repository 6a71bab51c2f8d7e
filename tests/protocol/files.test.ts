import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { loadProtocolFile, loadRigFile, protocolSchema, rigSchema } from "../../src/main/protocol/index.js";
import { repoRoot } from "../helpers/tmp.js";

const dir = join(repoRoot, "protocols");

describe("the project's protocol files", () => {
  it(
    "protocols/schema.json and rig.schema.json match the schemas (run `cortexloop schema` after changing " + "them)",
    () => {
      expect(JSON.parse(readFileSync(join(dir, "schema.json"), "utf8"))).toEqual(
        z.toJSONSchema(protocolSchema, { io: "input" }),
      );
      expect(JSON.parse(readFileSync(join(dir, "rig.schema.json"), "utf8"))).toEqual(
        z.toJSONSchema(rigSchema, { io: "input" }),
      );
    },
  );

  it("every example protocol and rig file validates", () => {
    const protocols = readdirSync(dir).filter((f) => f.endsWith(".json") && !f.endsWith("schema.json"));
    expect(protocols.length).toBeGreaterThan(0);
    for (const f of protocols) expect(() => loadProtocolFile(join(dir, f)), f).not.toThrow();
    const rigs = readdirSync(join(dir, "rigs")).filter((f) => f.endsWith(".json"));
    expect(rigs.length).toBeGreaterThan(0);
    for (const f of rigs) expect(() => loadRigFile(join(dir, "rigs", f)), f).not.toThrow();
  });
});
