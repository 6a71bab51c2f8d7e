/** The stimulus window's entry (stimulus.html): full screen, no cursor, WebGL2; see page.ts. */
import { createTransport } from "../transport.js";
import { StimulusPage } from "./page.js";
import "./stimulus.css";

const canvas = document.getElementById("stimulus");
const status = document.getElementById("status");
if (!(canvas instanceof HTMLCanvasElement) || status === null)
  throw new Error("stimulus.html lacks #stimulus or #status");
const say = (text: string | null): void => {
  status.textContent = text ?? "";
  status.hidden = text === null;
};
say("Connecting to the controller…");
const { api } = createTransport();
new StimulusPage(api, canvas, say)
  .start()
  .catch((err: unknown) => say(`The stimulus window stopped: ${err instanceof Error ? err.message : String(err)}`));
