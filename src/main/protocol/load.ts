import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { z } from "zod";
import { protocolSchema, rigSchema, type Protocol, type RigConfig } from "./schema.js";

/**
 * A protocol or rig file that could not be used; `problems` name the JSON path, what was expected and what was found.
 */
export class InvalidFileError extends Error {
  readonly code = "invalid-file";
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `${file} is not a valid file:\n${problems.map((p) => `  - ${p}`).join("\n")}\nNothing was run or stored; fix ` +
        `the file and try again.`,
    );
    this.name = "InvalidFileError";
  }
}

function jsonPath(path: readonly PropertyKey[]): string {
  let out = "$";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
  return out;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return "an object";
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  const where = jsonPath(issue.path);
  const found = describeValue(valueAt(root, issue.path));
  switch (issue.code) {
    case "invalid_type":
      return `${where}: expected ${issue.expected}, found ${found}`;
    case "unrecognized_keys":
      return (
        `${where}: unexpected key${issue.keys.length > 1 ? "s" : ""} ` + `${issue.keys.map((k) => `"${k}"`).join(", ")}`
      );
    case "invalid_value":
      return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, found ${found}`;
    case "invalid_union": {
      const options = (issue as { options?: unknown[] }).options;
      if (Array.isArray(options) && options.length > 0)
        return `${where}: expected one of ${options.map((o) => JSON.stringify(o)).join(", ")}, found ${found}`;
      return `${where}: ${issue.message}, found ${found}`;
    }
    case "too_small":
    case "too_big":
      return `${where}: ${issue.message.replace(/^Too (small|big): /, "")}, found ${found}`;
    default:
      return `${where}: ${issue.message}, found ${found}`;
  }
}

function parseJsonText(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new InvalidFileError(file, [`$: not valid JSON (${message})`]);
  }
}

/** Validates already-read JSON text against a schema, naming the file in any error. */
export function parseWithSchema<S extends z.ZodType>(schema: S, file: string, text: string): z.infer<S> {
  const raw = parseJsonText(file, text);
  const result = schema.safeParse(raw);
  if (!result.success)
    throw new InvalidFileError(
      file,
      result.error.issues.map((i) => describeIssue(i, raw)),
    );
  return result.data;
}

export interface LoadedProtocol {
  file: string;
  text: string;
  sha256: string;
  protocol: Protocol;
}

export function parseProtocolText(file: string, text: string): LoadedProtocol {
  const protocol = parseWithSchema(protocolSchema, file, text);
  return { file, text, sha256: sha256Hex(text), protocol };
}

export function loadProtocolFile(file: string): LoadedProtocol {
  return parseProtocolText(file, readFileText(file));
}

export function loadRigFile(file: string): { rig: RigConfig; text: string } {
  const text = readFileText(file);
  return { rig: parseWithSchema(rigSchema, file, text), text };
}

function readFileText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new InvalidFileError(file, [`$: the file could not be read (${message})`]);
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
