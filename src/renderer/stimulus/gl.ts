/**
 * The stimulus window's WebGL2 drawing: the background at its calibrated level, the image through the calibration's
 * lookup tables (applied in the fragment shader, one table per gun), the fixation spot and the photodiode patch.
 * Solid areas are scissored clears whose levels go through the same tables in JavaScript; the patch never does (the
 * photodiode wants full black or white). Pixels are exact: nearest sampling, no colour conversion, no blending.
 */
import type { LookupTables, Rgb, StimulusWindowConfig } from "../../main/api/stimulus-contract.js";

const vertexSource = `#version 300 es
in vec2 a_pos;
out vec2 v_uv;
uniform vec4 u_rect; // x0, y0, x1, y1 in clip space
void main() {
  v_uv = vec2(a_pos.x, 1.0 - a_pos.y);
  gl_Position = vec4(mix(u_rect.xy, u_rect.zw, a_pos), 0.0, 1.0);
}`;

const fragmentSource = `#version 300 es
precision highp float;
in vec2 v_uv;
uniform sampler2D u_image;
uniform sampler2D u_lut; // 256 x 1: red table in R, green in G, blue in B
out vec4 outColor;
float lookup(float v, int channel) {
  vec4 t = texelFetch(u_lut, ivec2(int(floor(v * 255.0 + 0.5)), 0), 0);
  return channel == 0 ? t.r : channel == 1 ? t.g : t.b;
}
void main() {
  vec3 c = texture(u_image, v_uv).rgb;
  outColor = vec4(lookup(c.r, 0), lookup(c.g, 1), lookup(c.b, 2), 1.0);
}`;

function compile(gl: WebGL2RenderingContext, type: number, source: string): WebGLShader {
  const shader = gl.createShader(type);
  if (shader === null) throw new Error("WebGL2: could not create a shader");
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS))
    throw new Error(`WebGL2 shader: ${gl.getShaderInfoLog(shader) ?? "did not compile"}`);
  return shader;
}

export interface StimulusImageTexture {
  texture: WebGLTexture;
  width: number;
  height: number;
}

export class StimulusRenderer {
  private readonly gl: WebGL2RenderingContext;
  private readonly program: WebGLProgram;
  private readonly lutTexture: WebGLTexture;
  private readonly rectLoc: WebGLUniformLocation | null;
  private tables: LookupTables;
  private config: StimulusWindowConfig;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    config: StimulusWindowConfig,
  ) {
    const gl = canvas.getContext("webgl2", {
      alpha: false,
      antialias: false,
      depth: false,
      stencil: false,
      preserveDrawingBuffer: false,
    });
    if (gl === null)
      throw new Error("This browser has no WebGL2; the stimulus window needs it (Chromium or the desktop app).");
    this.gl = gl;
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, vertexSource));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, fragmentSource));
    gl.bindAttribLocation(program, 0, "a_pos");
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS))
      throw new Error(`WebGL2 program: ${gl.getProgramInfoLog(program) ?? "did not link"}`);
    this.program = program;
    gl.useProgram(program);
    const quad = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    gl.uniform1i(gl.getUniformLocation(program, "u_image"), 0);
    gl.uniform1i(gl.getUniformLocation(program, "u_lut"), 1);
    this.rectLoc = gl.getUniformLocation(program, "u_rect");
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.disable(gl.BLEND);
    gl.disable(gl.DITHER);
    this.lutTexture = this.newTexture();
    this.config = config;
    this.tables = config.lut;
    this.setTables(config.lut);
  }

  private newTexture(): WebGLTexture {
    const gl = this.gl;
    const t = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return t;
  }

  configure(config: StimulusWindowConfig): void {
    this.config = config;
    this.setTables(config.lut);
  }

  private setTables(lut: LookupTables): void {
    for (const [name, table] of Object.entries(lut) as [string, number[]][]) {
      if (table.length !== 256) throw new Error(`the ${name} lookup table has ${table.length} entries, not 256`);
    }
    this.tables = lut;
    const gl = this.gl;
    const data = new Uint8Array(256 * 4);
    for (let v = 0; v < 256; v++) data.set([lut.red[v]!, lut.green[v]!, lut.blue[v]!, 255], v * 4);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.lutTexture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, data);
    gl.activeTexture(gl.TEXTURE0);
  }

  /** An image as a texture, exactly its pixels. */
  upload(image: HTMLImageElement): StimulusImageTexture {
    const gl = this.gl;
    gl.activeTexture(gl.TEXTURE0);
    const texture = this.newTexture();
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, image);
    return { texture, width: image.naturalWidth, height: image.naturalHeight };
  }

  release(t: StimulusImageTexture): void {
    this.gl.deleteTexture(t.texture);
  }

  /** Keeps the drawing buffer at the window's size in device pixels. */
  resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(this.canvas.clientWidth * dpr);
    const h = Math.round(this.canvas.clientHeight * dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
  }

  private mapped(rgb: Rgb): Rgb {
    const t = this.tables;
    return [t.red[rgb[0]]!, t.green[rgb[1]]!, t.blue[rgb[2]]!];
  }

  /** Fills a rectangle (device pixels from the top left) with exact 8-bit levels. */
  private fill(x: number, y: number, w: number, h: number, rgb: Rgb): void {
    const gl = this.gl;
    gl.scissor(Math.round(x), Math.round(this.canvas.height - y - h), Math.round(w), Math.round(h));
    gl.clearColor(rgb[0] / 255, rgb[1] / 255, rgb[2] / 255, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
  }

  /** Draws one frame: background, the image when given, fixation spot and photodiode patch. */
  draw(image: StimulusImageTexture | null, lit: boolean): void {
    const gl = this.gl;
    const { width, height } = this.canvas;
    gl.viewport(0, 0, width, height);
    gl.enable(gl.SCISSOR_TEST);
    this.fill(0, 0, width, height, this.mapped(this.config.background));
    if (image !== null) {
      const side = this.config.imageSizePx;
      const w = side ?? image.width;
      const h = side ?? image.height;
      const cx = width / 2 + this.config.imageCenterPx[0];
      const cy = height / 2 + this.config.imageCenterPx[1];
      const x0 = Math.round(cx - w / 2);
      const y0 = Math.round(cy - h / 2);
      gl.disable(gl.SCISSOR_TEST);
      gl.useProgram(this.program);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, image.texture);
      gl.activeTexture(gl.TEXTURE1);
      gl.bindTexture(gl.TEXTURE_2D, this.lutTexture);
      gl.activeTexture(gl.TEXTURE0);
      const toClipX = (px: number): number => (px / width) * 2 - 1;
      const toClipY = (py: number): number => 1 - (py / height) * 2;
      gl.uniform4f(this.rectLoc, toClipX(x0), toClipY(y0 + h), toClipX(x0 + w), toClipY(y0));
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      gl.enable(gl.SCISSOR_TEST);
    }
    const fix = this.config.fixation;
    if (fix.sizePx > 0)
      this.fill(
        width / 2 - fix.sizePx / 2,
        height / 2 - fix.sizePx / 2,
        fix.sizePx,
        fix.sizePx,
        this.mapped(fix.color),
      );
    const pd = this.config.photodiode;
    if (pd !== null) {
      const s = pd.sizePx;
      const x = pd.corner.endsWith("left") ? 0 : width - s;
      const y = pd.corner.startsWith("top") ? 0 : height - s;
      const white = lit === pd.whiteOn;
      this.fill(x, y, s, s, white ? [255, 255, 255] : [0, 0, 0]);
    }
    gl.disable(gl.SCISSOR_TEST);
  }

  /** Fills the screen with a calibration patch (through the tables when `useLut`) and reads back its centre pixel. */
  drawPatch(rgb: Rgb, useLut: boolean, readBack: boolean): Rgb | null {
    const gl = this.gl;
    const { width, height } = this.canvas;
    gl.viewport(0, 0, width, height);
    gl.enable(gl.SCISSOR_TEST);
    this.fill(0, 0, width, height, useLut ? this.mapped(rgb) : rgb);
    gl.disable(gl.SCISSOR_TEST);
    if (!readBack) return null;
    const px = new Uint8Array(4);
    gl.readPixels(Math.floor(width / 2), Math.floor(height / 2), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    return [px[0]!, px[1]!, px[2]!];
  }
}
