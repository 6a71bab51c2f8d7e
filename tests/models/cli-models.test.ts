import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Command } from "commander";
import { describe, expect, it, vi } from "vitest";
import { registerModelCommands } from "../../src/main/cli-models.js";
import { SessionStore } from "../../src/main/store/index.js";
import { encodePng } from "../../src/stimulus/index.js";
import { encodeNumericNpy } from "../../src/models/data/npy-numeric.js";

async function run(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerModelCommands(program);
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    await program.parseAsync(args, { from: "user" });
  } finally {
    spy.mockRestore();
  }
  return lines.join("");
}

describe("cortexloop import / models", () => {
  it("imports a bank + responses and lists no model versions yet; refuses a mismatched bank", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cl-cli-"));
    for (let k = 1; k <= 3; k++)
      writeFileSync(
        path.join(dir, `image${String(k).padStart(4, "0")}.png`),
        await encodePng({ width: 4, height: 4, pixels0to255: new Uint8Array(48).fill(k * 40) }),
      );
    writeFileSync(path.join(dir, "ok.npy"), encodeNumericNpy([2, 3], [1, 2, 3, Number.NaN, Number.NaN, Number.NaN]));
    writeFileSync(path.join(dir, "bad.npy"), encodeNumericNpy([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]));
    const db = path.join(dir, "lab.db");
    const out = await run([
      "import",
      "--images",
      dir,
      "--responses",
      path.join(dir, "ok.npy"),
      "--session",
      "A",
      "--db",
      db,
    ]);
    expect(out).toMatch(/Electrode 1 has only NaN responses; kept, excluded from model fitting/);
    expect(out).toMatch(
      /imported session "A" \(id 1\): responses \(2, 3\), 3 presentations of 3 distinct images, 2 units \(1 flagged/,
    );
    await expect(
      run(["import", "--images", dir, "--responses", path.join(dir, "bad.npy"), "--session", "B", "--db", db]),
    ).rejects.toThrow(/4 image columns but the bank holds 3 images/);
    const store = SessionStore.open(db);
    expect(store.listSessions().map((s) => s.name)).toEqual(["A"]);
    store.close();
  });
});
