import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freeLoopbackPorts, listeningPortRange, simRigPorts } from "./ports.js";

const bindable = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

describe("loopback ports", () => {
  it("are drawn below the kernel's ephemeral range, where outgoing connections never take them", async () => {
    const [from, to] = listeningPortRange();
    expect(from).toBe(10_000);
    const file = "/proc/sys/net/ipv4/ip_local_port_range";
    if (existsSync(file)) expect(to).toBe(Number(readFileSync(file, "utf8").trim().split(/\s+/)[0]));
    const ports = await simRigPorts();
    for (const p of [ports.dataPort, ports.dataPort + 1, ports.eventsPort, ports.displayPort]) {
      expect(p).toBeGreaterThanOrEqual(from);
      expect(p).toBeLessThan(to);
    }
    expect(new Set([ports.dataPort, ports.dataPort + 1, ports.eventsPort, ports.displayPort]).size).toBe(4);
  });

  it("take a run of free ports within a given range, and say so when the range has none", async () => {
    const base = await freeLoopbackPorts(3, "127.0.0.1", new Set(), [21_000, 21_400]);
    expect(base).toBeGreaterThanOrEqual(21_000);
    expect(base + 2).toBeLessThan(21_400);
    for (let i = 0; i < 3; i++) expect(await bindable(base + i)).toBe(true);
    // A range of one port that is taken.
    const server = createServer();
    const taken = await new Promise<number>((resolve) =>
      server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
    );
    try {
      await expect(freeLoopbackPorts(1, "127.0.0.1", new Set(), [taken, taken + 1])).rejects.toThrow(
        new RegExp(`No run of 1 free ports on 127.0.0.1 between ${taken} and ${taken + 1} after 200 tries`),
      );
    } finally {
      server.close();
    }
  });
});
