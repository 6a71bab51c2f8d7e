import { createServer } from "node:net";

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The first port of a run of `span` consecutive free loopback ports (a data port and its heartbeat port, say). */
export async function freeLoopbackPorts(
  span = 1,
  host = "127.0.0.1",
  avoid: ReadonlySet<number> = new Set(),
): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let ok = true;
    for (let i = 0; i < span && ok; i++) ok = !avoid.has(base + i) && (await portFree(base + i, host));
    if (ok) return base;
  }
  throw new Error(
    `No run of ${span} free ports on ${host} after 200 tries; close other programs listening on loopback and try ` +
      `again.`,
  );
}

/**
 * Distinct free loopback ports for a simulated rig: data (and heartbeat at data + 1), Network Events, virtual display.
 */
export async function simRigPorts(): Promise<{ dataPort: number; eventsPort: number; displayPort: number }> {
  const dataPort = await freeLoopbackPorts(2);
  const eventsPort = await freeLoopbackPorts(1, "127.0.0.1", new Set([dataPort, dataPort + 1]));
  const displayPort = await freeLoopbackPorts(1, "127.0.0.1", new Set([dataPort, dataPort + 1, eventsPort]));
  return { dataPort, eventsPort, displayPort };
}
