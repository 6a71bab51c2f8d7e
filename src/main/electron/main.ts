/**
 * The desktop shell: a thin adapter that puts the review renderer in a locked-down window and
 * answers its contract calls from the controller. The only file set that imports electron.
 */
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  protocol,
  session,
  type IpcMainInvokeEvent,
  type WebContents,
} from "electron";
import { existsSync, mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ipcInvokeChannel } from "../api/channels.js";
import { guardIpcCall, rendererHost, rendererOrigin, rendererScheme, type TrustedRenderer } from "../api/ipc-guard.js";
import { contentTypeOf, desktopLiveConnectSources, rendererCsp, resolveStaticPath } from "../api/static-files.js";
import { SessionStore } from "../store/index.js";
import { builtinProtocolsDir } from "../paths.js";
import { TechService } from "../tech/service.js";
import { defaultDatabase, parseDesktopOptions } from "./options.js";
import { openStimulusWindow } from "./stimulus-window.js";

const here = dirname(fileURLToPath(import.meta.url));
const options = parseDesktopOptions(process.argv.slice(1), process.env);
const trusted: TrustedRenderer = { origin: rendererOrigin, devServerUrl: options.devServerUrl };

function log(line: string): void {
  process.stderr.write(`cortexloop: ${line}\n`);
}

// Must run before `ready`: a standard, secure scheme gives the renderer a real origin for CSP and module scripts.
protocol.registerSchemesAsPrivileged([
  { scheme: rendererScheme, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true } },
]);

let store: SessionStore | undefined;
let tech: TechService | undefined;
let mainWindow: BrowserWindow | undefined;

function rendererDir(): string {
  return join(app.getAppPath(), "dist-renderer");
}

function openStore(): SessionStore {
  const file = options.db ?? defaultDatabase(app.getPath("userData"));
  if (existsSync(file)) return SessionStore.open(file, { readonly: true });
  mkdirSync(dirname(file), { recursive: true });
  log(`no database at ${file}; created an empty one`);
  return SessionStore.open(file);
}

function serveRenderer(): void {
  protocol.handle(rendererScheme, async (request) => {
    const url = new URL(request.url);
    const file = url.host === rendererHost ? resolveStaticPath(rendererDir(), url.pathname) : undefined;
    if (file === undefined)
      return new Response("Not found", { status: 404, headers: { "Content-Type": "text/plain" } });
    return new Response(await readFile(file), {
      headers: {
        "Content-Type": contentTypeOf(file),
        "Content-Security-Policy": rendererCsp(desktopLiveConnectSources),
        "X-Content-Type-Options": "nosniff",
      },
    });
  });
}

/** Every web contents (windows, and anything they might try to open): no navigation, no popups, no webviews. */
function lockDown(contents: WebContents): void {
  contents.on("will-navigate", (event, url) => {
    event.preventDefault();
    log(`blocked navigation to ${url.slice(0, 120)}`);
  });
  contents.on("will-redirect", (event) => event.preventDefault());
  contents.on("will-attach-webview", (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    log(`blocked a new window for ${url.slice(0, 120)}`);
    return { action: "deny" };
  });
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1400,
    height: 920,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: "cortexloop · session review",
    backgroundColor: "#f6f7f9",
    webPreferences: {
      preload: join(here, "preload.cjs"),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  });
  win.once("ready-to-show", () => win.show());
  void win.loadURL(options.devServerUrl !== undefined ? `${options.devServerUrl}/` : `${rendererOrigin}/index.html`);
  return win;
}

function handleInvoke(event: IpcMainInvokeEvent, channel: unknown, request: unknown): ReturnType<typeof guardIpcCall> {
  const frame = event.senderFrame;
  const call = {
    senderUrl: frame?.url,
    isMainFrame: frame !== null && frame === event.sender.mainFrame,
    channel,
    request,
  };
  if (store === undefined) {
    const message = "The database is not open yet; try again in a moment.";
    return Promise.resolve({ ok: false, code: "internal", message });
  }
  return guardIpcCall(store, call, trusted, log, { tech });
}

/** `--stimulus-url`: only the stimulus window, on the display named; a display that does not exist is an error. */
function startStimulusWindow(): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  try {
    if (options.stimulusError !== undefined) throw new Error(options.stimulusError);
    const { url, screen } = options.stimulus!;
    mainWindow = openStimulusWindow(url, screen);
    mainWindow.on("closed", () => {
      mainWindow = undefined;
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    dialog.showErrorBox("cortexloop: the stimulus window did not open", `${message}\n\nNothing was shown.`);
    app.exit(1);
  }
}

async function start(): Promise<void> {
  if (options.stimulus !== undefined || options.stimulusError !== undefined) return startStimulusWindow();
  if (options.devServerUrl === undefined && !existsSync(join(rendererDir(), "index.html"))) {
    dialog.showErrorBox(
      "cortexloop: the review UI is not built",
      `${rendererDir()}/index.html is missing. Run \`npm run build:renderer\` (or \`npm start\`, which builds it), ` +
        `then start the app again.`,
    );
    app.exit(1);
    return;
  }
  try {
    store = openStore();
    tech = new TechService(
      {
        db: resolve(store.file),
        protocolDirs: [builtinProtocolsDir, ...options.tech.protocols.map((d) => resolve(d))],
        rigFile: options.tech.rig === undefined ? undefined : resolve(options.tech.rig),
        allowRuns: options.tech.allowRuns,
        log,
      },
      store,
    );
  } catch (err) {
    dialog.showErrorBox(
      "cortexloop: cannot open the database",
      `${err instanceof Error ? err.message : String(err)}\n\nNothing was changed. Pass another file with --db <file>.`,
    );
    app.exit(1);
    return;
  }
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  if (options.devServerUrl !== undefined) {
    // The dev server's HMR needs inline scripts; the packaged app never loads this policy.
    const devCsp = `${rendererCsp([options.devServerUrl.replace(/^http/, "ws"), ...desktopLiveConnectSources])}`
      .replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
      .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");
    ses.webRequest.onHeadersReceived({ urls: [`${options.devServerUrl}/*`] }, (details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, "Content-Security-Policy": [devCsp] } });
    });
  }
  serveRenderer();
  ipcMain.handle(ipcInvokeChannel, handleInvoke);
  mainWindow = createWindow();
  mainWindow.on("closed", () => {
    mainWindow = undefined;
  });
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on("second-instance", () => {
    if (mainWindow === undefined) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });
  app.on("web-contents-created", (_event, contents) => lockDown(contents));
  app.on("window-all-closed", () => {
    if (process.platform !== "darwin") app.quit();
  });
  app.on("activate", () => {
    if (mainWindow === undefined && store !== undefined) mainWindow = createWindow();
  });
  app.on("will-quit", () => {
    ipcMain.removeHandler(ipcInvokeChannel);
    void tech?.close();
    tech = undefined;
    store?.close();
    store = undefined;
  });
  app.whenReady().then(start, (err: unknown) => {
    log(`Electron did not start: ${err instanceof Error ? err.message : String(err)}`);
    app.exit(1);
  });
}
