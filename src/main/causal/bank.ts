// Candidate banks for a causal design: folders or zips of PNG/JPEG images, decoded a few ahead.
import { bankEntries } from "../jobs/select.js";
import { decodeImage, resultsAhead, type NamedImage } from "../../stimulus/index.js";
import { CausalInputError } from "./errors.js";

/** Every image of `banks` in order, checked to be size×size; a bank that cannot be read is an error. */
export async function* streamBank(banks: readonly string[], size: number): AsyncGenerator<NamedImage> {
  if (banks.length === 0)
    throw new CausalInputError(
      "bank",
      "No candidate bank was given; name a folder or zip of PNG/JPEG images with --bank.",
    );
  for (const bank of banks) {
    let entries;
    try {
      entries = await bankEntries(bank);
    } catch (err) {
      throw new CausalInputError(
        "bank",
        `Could not read the bank ${bank} (${err instanceof Error ? err.message : String(err)}); give a folder ` +
          `or a zip of PNG/JPEG images.`,
      );
    }
    if (entries.length === 0) throw new CausalInputError("bank", `The bank ${bank} holds no PNG or JPEG images.`);
    // Up to 64 images (a scoring batch) decoded ahead (libuv's thread pool) while the models score the ones before.
    const decodes = entries.map((e) => async (): Promise<NamedImage> => {
      let image;
      try {
        image = await decodeImage(await e.read(), `${bank}:${e.name}`);
      } catch (err) {
        throw new CausalInputError("bank", `${err instanceof Error ? err.message : String(err)} (bank ${bank}).`);
      }
      if (image.width !== size || image.height !== size) {
        throw new CausalInputError(
          "bank",
          `Image ${e.name} in ${bank} is ${image.width}×${image.height}; the model takes ${size}×${size} ` +
            `images. Resize the bank first.`,
        );
      }
      return { ...image, name: `${bank}:${e.name}` };
    });
    yield* resultsAhead(decodes, 64);
  }
}
