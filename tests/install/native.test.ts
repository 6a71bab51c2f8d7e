import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);

// After `npm ci` the native modules must load: no prebuilt download is possible on the lab's machines.
describe("native modules load after install", () => {
  it("better-sqlite3 opens a database", () => {
    const Database = require("better-sqlite3") as typeof import("better-sqlite3");
    const db = new Database(":memory:");
    expect((db.prepare("SELECT 1 + 1 AS two").get() as { two: number }).two).toBe(2);
    db.close();
  });

  it("zeromq creates a socket", async () => {
    const zmq = await import("zeromq");
    expect(zmq.version).toMatch(/^\d+\.\d+\.\d+$/);
    const sock = new zmq.Publisher();
    sock.close();
  });

  it("@serialport/bindings-cpp opens devices through its native code", async () => {
    const { autoDetect } = await import("@serialport/bindings-cpp");
    // The message comes from the addon's open(2) call: the native module is loaded and answers.
    await expect(autoDetect().open({ path: "/nonexistent-cortexloop-tty", baudRate: 115200 })).rejects.toThrow(
      /cannot open \/nonexistent-cortexloop-tty/,
    );
  });

  // Listing ports on Linux runs `udevadm info -e` (Debian package udev), which minimal machines lack;
  // cortexloop itself never lists ports, it opens the path the rig file names.
  const udevadm = spawnSync("udevadm", ["--version"], { stdio: "ignore" }).status === 0;
  if (!udevadm)
    console.log("udevadm is not installed (apt-get install -y udev): the serial port listing test is skipped");
  it.skipIf(!udevadm)("@serialport/bindings-cpp lists ports (needs udevadm)", async () => {
    const { autoDetect } = await import("@serialport/bindings-cpp");
    const ports = await autoDetect().list();
    expect(Array.isArray(ports)).toBe(true);
  });

  it("sharp has its libvips", async () => {
    const sharp = (await import("sharp")).default;
    expect(sharp.versions.vips).toMatch(/^\d+\./);
  });
});
