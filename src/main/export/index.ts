export { csv, csvFileNames, exportSessionCsv, sessionCsvFiles } from "./csv.js";
export { bundleColumns, sessionBundle, writeSessionBundle, type SessionBundle } from "./bundle.js";
export { nwbVersion, sessionNwb, writeSessionNwb, type NwbExport, type NwbOptions } from "./nwb.js";
export { ExportError, assertFinished, type ExportErrorCode } from "./errors.js";
export { writeFileAtomic, temporaryPathFor, type WriteChunk } from "./atomic.js";
