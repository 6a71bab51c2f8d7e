/**
 * The desktop app as the stimulus window: the page `cortexloop run` (or `calibrate`) serves, full screen without
 * frame on the display the rig file names, talking to that controller through its local web API (the token is in the
 * address). No preload: the page has no IPC of its own, only the web API of the process that runs the session.
 */
import { BrowserWindow, screen } from "electron";
import { pickDisplay } from "../display/screens.js";

export function openStimulusWindow(url: string, wanted: { id?: number; index?: number }): BrowserWindow {
  // pickDisplay throws a sentence listing the displays there are when the named one does not exist.
  const display = pickDisplay(screen.getAllDisplays(), screen.getPrimaryDisplay(), wanted);
  const { x, y, width, height } = display.bounds;
  const win = new BrowserWindow({
    x,
    y,
    width,
    height,
    frame: false,
    fullscreen: true,
    show: false,
    autoHideMenuBar: true,
    backgroundColor: "#000000",
    title: "cortexloop · stimulus",
    webPreferences: {
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      // Frames must keep coming when another window has focus.
      backgroundThrottling: false,
      spellcheck: false,
    },
  });
  win.setMenuBarVisibility(false);
  win.once("ready-to-show", () => win.show());
  void win.loadURL(url);
  return win;
}
