// No line over 120 characters in the files ESLint does not read (Markdown, JSON, YAML, CSS, HTML,
// Python, shell), outside generated text. Prints each long line and exits 1 if there is one.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const MAX = 120;
const endings = /\.(md|json|ya?ml|css|html|py|sh)$/;
// Written by programs: `cortexloop schema` (the JSON Schemas) and npm (the lock file).
const generated = new Set(["protocols/schema.json", "protocols/rig.schema.json", "package-lock.json"]);
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { encoding: "utf8" })
  .split("\n")
  .filter((f) => endings.test(f) && !generated.has(f));
let long = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    continue; // listed by git but deleted in the working tree
  }
  text.split("\n").forEach((line, i) => {
    if ([...line].length > MAX) {
      long++;
      console.log(`${file}:${i + 1}: ${[...line].length} characters (at most ${MAX})`);
    }
  });
}
console.log(
  `line length: ${long} line(s) over ${MAX} characters in ${files.length} Markdown/JSON/YAML/CSS/HTML/Python/shell ` +
    `files`,
);
process.exit(long > 0 ? 1 : 0);
