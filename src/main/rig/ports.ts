import { readFileSync } from "node:fs";
import { createServer } from "node:net";

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * The ports cortexloop listens on: from 10000 up to the kernel's ephemeral range (Linux's
 * /proc/sys/net/ipv4/ip_local_port_range; 32768 where it cannot be read), where no outgoing connection is
 * given the port between choosing it and binding it.
 */
export function listeningPortRange(): [number, number] {
  let ephemeralLow = 32_768;
  try {
    const first = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > 12_000) ephemeralLow = first;
  } catch {
    // Not Linux: the IANA ephemeral range (macOS, Windows) starts at 49152, above the default.
  }
  return [10_000, ephemeralLow];
}

/**
 * The first port of a run of `span` consecutive free loopback ports (a data port and its heartbeat port, say),
 * drawn at random from `range` ([from, to)).
 */
export async function freeLoopbackPorts(
  span = 1,
  host = "127.0.0.1",
  avoid: ReadonlySet<number> = new Set(),
  range: [number, number] = listeningPortRange(),
): Promise<number> {
  const [from, to] = range;
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = from + Math.floor(Math.random() * Math.max(1, to - from - span));
    let ok = true;
    for (let i = 0; i < span && ok; i++) ok = !avoid.has(base + i) && (await portFree(base + i, host));
    if (ok) return base;
  }
  throw new Error(
    `No run of ${span} free ports on ${host} between ${from} and ${to} after 200 tries; close other programs ` +
      `listening on loopback and try again.`,
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
