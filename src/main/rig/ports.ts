import { createServer } from "node:net";

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The first port of a run of `span` consecutive free loopback ports (a data port and its heartbeat port, say). */
export async function freeLoopbackPorts(span = 1, host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let ok = true;
    for (let i = 0; i < span && ok; i++) ok = await portFree(base + i, host);
    if (ok) return base;
  }
  throw new Error(`No run of ${span} free ports on ${host} after 200 tries; close other programs listening on loopback and try again.`);
}
