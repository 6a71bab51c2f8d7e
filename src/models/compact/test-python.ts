// Test helper: a python3 that has NumPy, for cross-checks against an independent reader.
import { execFileSync } from "node:child_process";

export function pythonWithNumpy(): string | undefined {
  for (const py of ["python3", "/usr/bin/python3"]) {
    try {
      execFileSync(py, ["-c", "import numpy"], { stdio: "ignore" });
      return py;
    } catch {
      // try the next interpreter
    }
  }
  return undefined;
}
