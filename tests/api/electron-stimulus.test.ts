/**
 * The desktop app as the stimulus window (`--stimulus-url`, `--stimulus-screen`), against a stand-in `electron` module
 * (the real binary is not available in CI): a frameless full-screen window on the display named, loading the page
 * the controller serves, with no preload; bad options and a display that does not exist are a clear error.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseDesktopOptions } from "../../src/main/electron/options.js";

type Fn = (...args: never[]) => unknown;
const fake = vi.hoisted(() => ({
  appHandlers: new Map<string, Fn>(),
  windows: [] as Record<string, unknown>[],
  loaded: [] as string[],
  errors: [] as string[],
  exits: [] as number[],
}));

vi.mock("electron", () => {
  class BrowserWindow {
    constructor(options: Record<string, unknown>) {
      fake.windows.push(options);
    }
    once(): void {}
    on(): void {}
    setMenuBarVisibility(): void {}
    loadURL(url: string): Promise<void> {
      fake.loaded.push(url);
      return Promise.resolve();
    }
  }
  const displays = [
    { id: 10, bounds: { x: 0, y: 0, width: 1280, height: 800 }, scaleFactor: 1 },
    { id: 42, bounds: { x: 1280, y: 0, width: 1920, height: 1080 }, scaleFactor: 1, displayFrequency: 120 },
  ];
  return {
    app: {
      on: (event: string, fn: Fn) => fake.appHandlers.set(event, fn),
      whenReady: () => Promise.resolve(),
      requestSingleInstanceLock: () => true,
      getAppPath: () => "/nonexistent",
      getPath: () => "/nonexistent",
      exit: (code: number) => fake.exits.push(code),
      quit: vi.fn(),
    },
    BrowserWindow,
    screen: { getAllDisplays: () => displays, getPrimaryDisplay: () => displays[0] },
    dialog: { showErrorBox: (title: string, text: string) => fake.errors.push(`${title}: ${text}`) },
    ipcMain: { handle: vi.fn(), removeHandler: vi.fn() },
    protocol: { registerSchemesAsPrivileged: vi.fn(), handle: vi.fn() },
    session: {
      defaultSession: {
        setPermissionRequestHandler: vi.fn(),
        setPermissionCheckHandler: vi.fn(),
        webRequest: { onHeadersReceived: vi.fn() },
      },
    },
  };
});

const url = "http://127.0.0.1:40123/stimulus.html#token=abc";
const argv = process.argv;

beforeAll(async () => {
  process.argv = [argv[0]!, "/app", "--stimulus-url", url, "--stimulus-screen", "id:42"];
  await import("../../src/main/electron/main.js");
  await new Promise((r) => setTimeout(r, 20));
});
afterAll(() => {
  process.argv = argv;
});

describe("the desktop app as the stimulus window", () => {
  it("opens one frameless full-screen window on the display named, with the controller's page and no preload", () => {
    expect(fake.errors).toEqual([]);
    expect(fake.windows).toHaveLength(1);
    const w = fake.windows[0]!;
    expect(w).toMatchObject({
      x: 1280,
      y: 0,
      width: 1920,
      height: 1080,
      frame: false,
      fullscreen: true,
      backgroundColor: "#000000",
    });
    const prefs = w.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      backgroundThrottling: false,
    });
    expect(prefs.preload).toBeUndefined();
    expect(fake.loaded).toEqual([url]);
  });

  it("parses the options, refusing what is not the local stimulus page or a display", () => {
    expect(parseDesktopOptions(["--stimulus-url", url, "--stimulus-screen=index:1"], {}).stimulus).toEqual({
      url,
      screen: { index: 1 },
    });
    expect(parseDesktopOptions(["--stimulus-url", url], {}).stimulus).toEqual({ url, screen: {} });
    const bad = (args: string[]): string | undefined => parseDesktopOptions(args, {}).stimulusError;
    expect(bad(["--stimulus-url", "https://example.org/stimulus.html"])).toMatch(
      /must be the stimulus page on this computer/,
    );
    expect(bad(["--stimulus-url", "http://127.0.0.1:1/index.html"])).toMatch(/must be the stimulus page/);
    expect(bad(["--stimulus-url", "not a url"])).toMatch(/is not an address; copy the one cortexloop run prints/);
    expect(bad(["--stimulus-url", url, "--stimulus-screen", "left"])).toMatch(
      /must be id:<display id> or index:<position from 0>, not "left"/,
    );
    expect(bad(["--stimulus-screen", "index:0"])).toMatch(/needs --stimulus-url/);
  });
});

describe("a display that does not exist", () => {
  it("is a dialog that lists the displays there are, and the app exits", async () => {
    vi.resetModules();
    fake.windows.length = 0;
    process.argv = [argv[0]!, "/app", "--stimulus-url", url, "--stimulus-screen", "index:5"];
    await import("../../src/main/electron/main.js");
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.windows).toEqual([]);
    expect(fake.errors.at(-1)).toMatch(
      new RegExp(
        "the stimulus window did not open: The rig file names display index 5, but this computer has 2 " +
          "\\(index 0: id 10, 1280×800 px at \\(0, 0\\); index 1: id 42, 1920×1080 px at \\(1280, 0\\) at 120 Hz\\); " +
          "nothing was run",
      ),
    );
    expect(fake.exits.at(-1)).toBe(1);
  });
});
