/**
 * The stimulus window page: attaches to the controller, draws every requestAnimationFrame from the frame clock,
 * long-polls for commands and sends back reports (onsets and endings at once, the frame log in batches). Works over
 * Electron IPC and the local web API alike, through the contract's stimulus channels.
 */
import type { CortexloopApi, StimulusCommand, StimulusReport, StimulusWindowConfig } from "../../main/api/contract.js";
import { StimulusRenderer, type StimulusImageTexture } from "./gl.js";
import { FramePresenter } from "./presenter.js";

const maxFramesPerReport = 120;
const frameFlushMs = 500;
const maxCachedImages = 64;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Loads a PNG data URL into an image element (the page's CSP allows data: images). */
async function loadImage(dataUrl: string): Promise<HTMLImageElement> {
  const img = new Image();
  img.src = dataUrl;
  await img.decode();
  return img;
}

export class StimulusPage {
  private config!: StimulusWindowConfig;
  private renderer!: StimulusRenderer;
  private presenter!: FramePresenter;
  private readonly textures = new Map<string, StimulusImageTexture>();
  private readonly bySeq = new Map<number, string>();
  private after = 0;
  private sending = false;
  private lastFlush = 0;
  private stopped = false;

  constructor(
    private readonly api: CortexloopApi,
    private readonly canvas: HTMLCanvasElement,
    private readonly status: (text: string | null) => void,
  ) {}

  async start(): Promise<void> {
    for (;;) {
      const reply = await this.api.stimulusAttach({
        screen: {
          widthPx: Math.round(window.screen.width * (window.devicePixelRatio || 1)),
          heightPx: Math.round(window.screen.height * (window.devicePixelRatio || 1)),
          devicePixelRatio: window.devicePixelRatio || 1,
        },
        userAgent: navigator.userAgent.slice(0, 512),
      });
      if (reply.ok) {
        this.config = reply.value;
        break;
      }
      this.status(`${reply.message} (retrying)`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    this.renderer = new StimulusRenderer(this.canvas, this.config);
    this.presenter = new FramePresenter(
      1000 / this.config.refreshHzExpected,
      this.config.photodiode?.litFirstFrameOnly ?? true,
    );
    this.status(null);
    requestAnimationFrame((t) => this.onFrame(t));
    void this.commandLoop();
  }

  private onFrame(t: number): void {
    if (this.stopped) return;
    requestAnimationFrame((next) => this.onFrame(next));
    const rafMs = performance.timeOrigin + t;
    this.renderer.resize();
    const scene = this.presenter.frame(rafMs);
    if (scene.kind === "stimulus") {
      const sha = this.bySeq.get(scene.seq);
      this.renderer.draw(sha === undefined ? null : (this.textures.get(sha) ?? null), scene.lit);
    } else if (scene.kind === "patch") {
      const shown = this.renderer.drawPatch(scene.rgb, scene.useLut, scene.readBack);
      if (shown !== null) this.presenter.patchShown(scene.patchId, shown, rafMs);
    } else this.renderer.draw(null, false);
    this.flush(false);
  }

  /** Sends what the controller waits for at once; the frame log every half second or 120 frames. */
  private flush(force: boolean): void {
    if (this.sending) return;
    const now = performance.now();
    const due =
      force ||
      this.presenter.urgent ||
      this.presenter.loggedFrames >= maxFramesPerReport ||
      now - this.lastFlush > frameFlushMs;
    if (!due) return;
    const reports = this.presenter.take(maxFramesPerReport);
    if (reports.length === 0) return;
    this.lastFlush = now;
    this.sending = true;
    void this.send(reports).finally(() => {
      this.sending = false;
      if (this.presenter.urgent) this.flush(true);
    });
  }

  private async send(reports: StimulusReport[]): Promise<void> {
    for (let i = 0; i < reports.length; i += 50) {
      const reply = await this.api.stimulusReport({
        windowId: this.config.windowId,
        reports: reports.slice(i, i + 50),
      });
      if (!reply.ok) this.status(`the controller refused a report: ${reply.message}`);
    }
  }

  private async commandLoop(): Promise<void> {
    while (!this.stopped) {
      const reply = await this.api.stimulusCommands({
        windowId: this.config.windowId,
        after: this.after,
        waitMs: 15_000,
      });
      if (!reply.ok) {
        if (reply.code === "not-found") return this.stop(reply.message);
        this.status(`the controller did not answer: ${reply.message}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      for (const c of reply.value.commands) {
        this.after = Math.max(this.after, c.id);
        this.handle(c);
      }
    }
  }

  private handle(c: StimulusCommand): void {
    switch (c.kind) {
      case "prepare":
        void this.prepare(c.seq, c.sha256, c.frames);
        break;
      case "show":
        this.presenter.show(c.seq);
        break;
      case "measure-refresh":
        this.presenter.measure(c.frames);
        break;
      case "patch":
        this.presenter.setPatch(c.patchId, c.rgb, c.useLut);
        break;
      case "clear":
        this.presenter.clear();
        break;
      case "config":
        this.config = { ...c.config, windowId: this.config.windowId };
        this.renderer.configure(this.config);
        this.presenter.litFirstFrameOnly = this.config.photodiode?.litFirstFrameOnly ?? true;
        break;
      case "close":
        this.stop(c.reason);
        break;
    }
  }

  private async prepare(seq: number, sha256: string, frames: number): Promise<void> {
    try {
      if (!this.textures.has(sha256)) {
        const reply = await this.api.stimulus({ sha256 });
        if (!reply.ok) throw new Error(reply.message);
        const texture = this.renderer.upload(await loadImage(reply.value.dataUrl));
        this.textures.set(sha256, texture);
        if (this.textures.size > maxCachedImages) {
          const [oldest, t] = this.textures.entries().next().value as [string, StimulusImageTexture];
          if (![...this.bySeq.values()].includes(oldest)) {
            this.renderer.release(t);
            this.textures.delete(oldest);
          }
        }
      }
      this.bySeq.set(seq, sha256);
      if (this.bySeq.size > 8) this.bySeq.delete(this.bySeq.keys().next().value!);
      this.presenter.markPrepared(seq, frames);
    } catch (err) {
      this.presenter.prepareFailed(seq, errorText(err));
    }
    this.flush(true);
  }

  private stop(reason: string): void {
    if (this.stopped) return;
    this.flush(true);
    this.stopped = true;
    this.status(`The controller closed this stimulus window: ${reason}`);
  }
}
