import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeImage,
  encodeJpeg,
  encodePng,
  gaudy,
  generateImages,
  ImageDecodeError,
  readImageFolder,
  readImageZip,
  type RgbImage,
} from "../../src/stimulus/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { runProtocolFile } from "../helpers/session.js";
import { inProcessRigFile, tempDir } from "../helpers/tmp.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function checker(size: number): RgbImage {
  const px = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      px.fill(((x >> 2) + (y >> 2)) % 2 === 0 ? 255 : 0, (y * size + x) * 3, (y * size + x) * 3 + 3);
  return { width: size, height: size, pixels0to255: px };
}

const folder = join(tmp.dir, "images");
const zipFile = join(tmp.dir, "images.zip");

beforeAll(async () => {
  mkdirSync(folder);
  writeFileSync(join(folder, "image0001.png"), await encodePng(checker(16)));
  writeFileSync(join(folder, "image0002.jpg"), await encodeJpeg(checker(16), 95));
  writeFileSync(join(folder, "notes.txt"), "not an image");
  // A zip with a folder prefix on its entry names, as the lab's archives have.
  execFileSync("python3", [
    "-c",
    [
      "import zipfile,sys",
      "z=zipfile.ZipFile(sys.argv[1],'w')",
      "z.write(sys.argv[2],'set/image0001.png')",
      "z.write(sys.argv[3],'set/image0002.jpg')",
      "z.close()",
    ].join("\n"),
    zipFile,
    join(folder, "image0001.png"),
    join(folder, "image0002.jpg"),
  ]);
});

describe("images", () => {
  it("PNG round-trips exactly; JPEG decodes to RGB of the right size", async () => {
    const img = checker(16);
    const back = await decodeImage(await encodePng(img), "mem.png");
    expect(back.width).toBe(16);
    expect(Buffer.from(back.pixels0to255).equals(Buffer.from(img.pixels0to255))).toBe(true);
    const jpeg = await decodeImage(await encodeJpeg(img), "mem.jpg");
    expect(jpeg.pixels0to255.length).toBe(16 * 16 * 3);
  });

  it("encoding the same pixels twice gives the same bytes (stable content hashes)", async () => {
    const [a] = generateImages("dots", 1, 32, 9);
    expect((await encodePng(a!)).equals(await encodePng(a!))).toBe(true);
  });

  it("reads a folder and a zip in name order, skipping non-images", async () => {
    const fromFolder = await readImageFolder(folder);
    expect(fromFolder.map((i) => i.name)).toEqual(["image0001.png", "image0002.jpg"]);
    const fromZip = await readImageZip(zipFile);
    expect(fromZip.map((i) => i.name)).toEqual(["set/image0001.png", "set/image0002.jpg"]);
    expect(Buffer.from(fromZip[0]!.pixels0to255).equals(Buffer.from(fromFolder[0]!.pixels0to255))).toBe(true);
  });

  it("reads deflated zip entries as stored ones; a corrupt entry is an error naming it", async () => {
    const deflated = join(tmp.dir, "deflated.zip");
    const corrupt = join(tmp.dir, "corrupt.zip");
    execFileSync("python3", [
      "-c",
      [
        "import zipfile,sys,struct",
        "for out,bad in ((sys.argv[1],False),(sys.argv[2],True)):",
        "  z=zipfile.ZipFile(out,'w',zipfile.ZIP_DEFLATED)",
        "  z.write(sys.argv[3],'set/image0001.png')",
        "  z.write(sys.argv[4],'set/image0002.jpg')",
        "  z.close()",
        "  if bad:",
        "    i=zipfile.ZipFile(out).infolist()[1]; b=bytearray(open(out,'rb').read()); h=i.header_offset",
        "    n,e=struct.unpack('<HH',b[h+26:h+30]); b[h+30+n+e]=0xff; open(out,'wb').write(b)",
      ].join("\n"),
      deflated,
      corrupt,
      join(folder, "image0001.png"),
      join(folder, "image0002.jpg"),
    ]);
    const stored = await readImageZip(zipFile);
    const fromDeflated = await readImageZip(deflated);
    expect(fromDeflated.map((i) => i.name)).toEqual(stored.map((i) => i.name));
    fromDeflated.forEach((im, i) =>
      expect(Buffer.from(im.pixels0to255).equals(Buffer.from(stored[i]!.pixels0to255))).toBe(true),
    );
    await expect(readImageZip(corrupt)).rejects.toBeInstanceOf(ImageDecodeError);
    await expect(readImageZip(corrupt)).rejects.toThrow(/corrupt\.zip:set\/image0002\.jpg/);
  });

  it("a broken image file is a clear error naming it", async () => {
    const broken = join(tmp.dir, "broken");
    mkdirSync(broken);
    writeFileSync(join(broken, "image0001.png"), await encodePng(checker(8)));
    writeFileSync(join(broken, "image0002.jpg"), Buffer.from("this is not a jpeg"));
    await expect(readImageFolder(broken)).rejects.toBeInstanceOf(ImageDecodeError);
    await expect(readImageFolder(broken)).rejects.toThrow(/image0002\.jpg/);
    await expect(readImageZip(join(tmp.dir, "missing.zip"))).rejects.toThrow(/missing\.zip.*not a readable zip/);
  });

  it("a protocol whose folder holds a broken image stops before the session with that file named", async () => {
    const broken = join(tmp.dir, "broken2");
    mkdirSync(broken);
    writeFileSync(join(broken, "bad.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0]));
    const protocolFile = join(tmp.dir, "broken.json");
    writeFileSync(
      protocolFile,
      JSON.stringify({
        name: "b",
        rig: inProcessRigFile,
        sources: { f: { kind: "folder", path: "broken2" } },
        blocks: [{ name: "b", source: "f" }],
      }),
    );
    const store = SessionStore.open(join(tmp.dir, "broken.db"));
    try {
      await expect(runProtocolFile(store, protocolFile)).rejects.toThrow(/bad\.png/);
      expect(store.listSessions()).toHaveLength(0);
    } finally {
      store.close();
    }
  });

  it("folder and zip sources run as sessions", async () => {
    const protocolFile = join(tmp.dir, "files.json");
    writeFileSync(
      protocolFile,
      JSON.stringify({
        name: "files",
        rig: inProcessRigFile,
        timing: { fixationMs: 0, stimulusMs: 2, interStimulusMs: 1 },
        countWindow: { startMs: 5, endMs: 10 },
        sources: { f: { kind: "folder", path: "images" }, z: { kind: "zip", path: "images.zip" } },
        blocks: [
          { name: "f", source: "f", repeats: 2 },
          { name: "z", source: "z", repeats: 2 },
        ],
      }),
    );
    const store = SessionStore.open(join(tmp.dir, "files.db"));
    try {
      const r = await runProtocolFile(store, protocolFile);
      expect(r.presented).toBe(8);
      // Same pixels in the folder and the zip: stored once each.
      expect(store.countStimuli()).toBe(2);
    } finally {
      store.close();
    }
  });

  it("gaudy thresholds each channel at its mean", () => {
    const img: RgbImage = { width: 2, height: 1, pixels0to255: new Uint8Array([10, 200, 50, 30, 100, 60]) };
    expect(Array.from(gaudy(img).pixels0to255)).toEqual([0, 255, 0, 255, 0, 255]);
  });
});
