/**
 * The Electron main process against a stand-in `electron` module (the real binary is not
 * available in CI): window settings, navigation and pop-up denial, the renderer protocol, and
 * the IPC handler's sender/channel/argument checks, all as main.ts wires them.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { quickStore } from "./fixture.js";
import { tempDir } from "../helpers/tmp.js";

type Fn = (...args: never[]) => unknown;
const fake = vi.hoisted(() => ({
  appPath: "",
  appHandlers: new Map<string, Fn>(),
  windows: [] as { webPreferences: Record<string, unknown> }[],
  loaded: [] as string[],
  ipc: new Map<string, Fn>(),
  schemes: [] as unknown[],
  protocolHandler: undefined as undefined | ((request: { url: string }) => Promise<Response>),
  permissionRequest: undefined as undefined | Fn,
  errors: [] as string[],
}));

vi.mock("electron", () => {
  class BrowserWindow {
    constructor(options: { webPreferences: Record<string, unknown> }) {
      fake.windows.push(options);
    }
    once(): void {}
    on(): void {}
    loadURL(url: string): Promise<void> {
      fake.loaded.push(url);
      return Promise.resolve();
    }
  }
  return {
    app: {
      on: (event: string, fn: Fn) => fake.appHandlers.set(event, fn),
      whenReady: () => Promise.resolve(),
      requestSingleInstanceLock: () => true,
      getAppPath: () => fake.appPath,
      getPath: () => fake.appPath,
      exit: vi.fn(),
      quit: vi.fn(),
    },
    BrowserWindow,
    dialog: { showErrorBox: (title: string, text: string) => fake.errors.push(`${title}: ${text}`) },
    ipcMain: {
      handle: (channel: string, fn: Fn) => fake.ipc.set(channel, fn),
      removeHandler: (channel: string) => fake.ipc.delete(channel),
    },
    protocol: {
      registerSchemesAsPrivileged: (s: unknown[]) => fake.schemes.push(...s),
      handle: (_scheme: string, fn: (request: { url: string }) => Promise<Response>) => {
        fake.protocolHandler = fn;
      },
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (fn: Fn) => {
          fake.permissionRequest = fn;
        },
        setPermissionCheckHandler: () => {},
        webRequest: { onHeadersReceived: () => {} },
      },
    },
  };
});

const tmp = tempDir("cortexloop-electron-");
let fx: Awaited<ReturnType<typeof quickStore>>;

beforeAll(async () => {
  fx = await quickStore();
  fake.appPath = tmp.dir;
  mkdirSync(join(tmp.dir, "dist-renderer"));
  writeFileSync(join(tmp.dir, "dist-renderer", "index.html"), "<!doctype html><title>app</title>");
  writeFileSync(join(tmp.dir, "secret.txt"), "not for the renderer");
  process.env.CORTEXLOOP_DB = fx.store.file;
  await import("../../src/main/electron/main.js");
  await new Promise((r) => setTimeout(r, 20));
});
afterAll(() => {
  fake.appHandlers.get("will-quit")?.();
  delete process.env.CORTEXLOOP_DB;
  fx?.cleanup();
  tmp.cleanup();
});

describe("electron main", () => {
  it("opens one locked-down window on our own scheme", () => {
    expect(fake.errors).toEqual([]);
    expect(fake.windows).toHaveLength(1);
    expect(fake.windows[0].webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    });
    expect(String(fake.windows[0].webPreferences.preload)).toMatch(/preload\.cjs$/);
    expect(fake.loaded).toEqual(["cortexloop://app/index.html"]);
    expect(fake.schemes).toEqual([
      expect.objectContaining({
        scheme: "cortexloop",
        privileges: expect.objectContaining({ standard: true, secure: true }),
      }),
    ]);
  });

  it("serves the renderer with its CSP, and nothing outside it", async () => {
    const handler = fake.protocolHandler;
    if (handler === undefined) throw new Error("no protocol handler registered");
    const page = await handler({ url: "cortexloop://app/index.html" });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
    // The Live view's WebSocket to a session served on loopback (run --serve), nothing else.
    expect(page.headers.get("content-security-policy")).toMatch(
      /connect-src 'self' ws:\/\/127\.0\.0\.1:\* ws:\/\/localhost:\*;/,
    );
    expect(await page.text()).toContain("<title>app</title>");
    expect((await handler({ url: "cortexloop://app/../secret.txt" })).status).toBe(404);
    expect((await handler({ url: "cortexloop://app/%2e%2e/secret.txt" })).status).toBe(404);
    expect((await handler({ url: "cortexloop://other/index.html" })).status).toBe(404);
  });

  it("denies navigation, redirects, webviews and new windows in every web contents", () => {
    const on = new Map<string, Fn>();
    let openHandler: ((d: { url: string }) => { action: string }) | undefined;
    const contents = {
      on: (e: string, fn: Fn) => on.set(e, fn),
      setWindowOpenHandler: (fn: (d: { url: string }) => { action: string }) => (openHandler = fn),
    };
    (fake.appHandlers.get("web-contents-created") as (e: unknown, c: unknown) => void)({}, contents);
    for (const event of ["will-navigate", "will-redirect", "will-attach-webview"]) {
      const preventDefault = vi.fn();
      (on.get(event) as (e: { preventDefault(): void }, url: string) => void)(
        { preventDefault },
        "https://example.org/",
      );
      expect(preventDefault, event).toHaveBeenCalled();
    }
    expect(openHandler?.({ url: "https://example.org/" })).toEqual({ action: "deny" });
  });

  it("refuses every permission request", () => {
    const callback = vi.fn();
    (fake.permissionRequest as (wc: unknown, p: string, cb: (ok: boolean) => void) => void)({}, "media", callback);
    expect(callback).toHaveBeenCalledWith(false);
  });

  it("answers IPC only for our main frame, known channels and valid arguments", async () => {
    type Invoke = (event: unknown, channel: unknown, request: unknown) => Promise<{ ok: boolean; code?: string }>;
    const invoke = fake.ipc.get("cortexloop:invoke") as Invoke;
    const ours = { url: "cortexloop://app/index.html" };
    const event = (frame: { url: string } | null, mainFrame: unknown = frame) => ({
      senderFrame: frame,
      sender: { mainFrame },
    });
    expect(await invoke(event(ours), "listSessions", {})).toMatchObject({ ok: true });
    expect(await invoke(event({ url: "https://evil.example/" }), "listSessions", {})).toMatchObject({
      ok: false,
      code: "forbidden",
    });
    expect(await invoke(event(ours, { url: "cortexloop://app/index.html" }), "listSessions", {})).toMatchObject({
      ok: false,
      code: "forbidden",
    });
    expect(await invoke(event(null), "listSessions", {})).toMatchObject({ ok: false, code: "forbidden" });
    expect(await invoke(event(ours), "runShell", {})).toMatchObject({ ok: false, code: "unknown-channel" });
    expect(await invoke(event(ours), "getSession", { session: [] })).toMatchObject({ ok: false, code: "bad-request" });
    // The Live view's way to a session in another process: none runs with --serve on this database.
    expect(await invoke(event(ours), "liveEndpoint", {})).toMatchObject({ ok: true, value: { state: "none" } });
    expect(await invoke(event({ url: "https://evil.example/" }), "liveEndpoint", {})).toMatchObject({
      code: "forbidden",
    });
  });
});
