/**
 * The few NWB building blocks the export needs, over h5wasm (HDF5 compiled to WebAssembly, so
 * nothing native to build): typed groups and datasets with their object ids, DynamicTable columns,
 * ragged columns with their VectorIndex. The file is built in h5wasm's in-memory file system and
 * handed back as bytes, so writing it to disk is plain Node I/O that reports a full disk.
 */
import { randomUUID } from "node:crypto";
import type { Dataset, Group } from "h5wasm";

type H5 = typeof import("h5wasm").default;

/** The library and its in-memory file system (where the file is built before it goes to disk). */
export interface H5Runtime {
  h5: H5;
  fs: { readFile(path: string): Uint8Array; unlink(path: string): void };
}

let loaded: Promise<H5Runtime> | undefined;

/** h5wasm, loaded once (about a quarter of a second the first time). */
export function loadH5(): Promise<H5Runtime> {
  loaded ??= import("h5wasm").then(async (m) => {
    const module = await m.default.ready;
    const fs = module.FS as unknown as H5Runtime["fs"];
    return { h5: m.default, fs };
  });
  return loaded;
}

export type Namespace = "core" | "hdmf-common";

export function typed(obj: Group | Dataset, neurodataType: string, namespace: Namespace): void {
  obj.create_attribute("neurodata_type", neurodataType);
  obj.create_attribute("namespace", namespace);
  obj.create_attribute("object_id", randomUUID());
}

/** A scalar text dataset (NWB's `text`: variable-length UTF-8). */
export function textScalar(parent: Group, name: string, value: string): Dataset {
  return parent.create_dataset({ name, data: value, shape: [] });
}

export type ColumnData =
  Float64Array | Float32Array | Int32Array | Uint32Array | Uint8Array | BigInt64Array | Int8Array | string[];

export interface ColumnSpec {
  name: string;
  description: string;
  data: ColumnData;
  /** Shape when the column holds more than one number per row (row count first). */
  shape?: number[];
}

export interface RaggedColumnSpec {
  name: string;
  description: string;
  /** One list per row. */
  rows: number[][];
}

/**
 * A DynamicTable (or subtype) with `ids.length` rows: an `id` dataset, one VectorData per column,
 * ragged columns as VectorData + VectorIndex whose `target` references the data.
 */
export function dynamicTable(
  parent: Group,
  name: string,
  type: { neurodataType: string; namespace: Namespace },
  description: string,
  ids: Int32Array,
  columns: ColumnSpec[],
  ragged: RaggedColumnSpec[] = [],
): Group {
  const g = parent.create_group(name);
  typed(g, type.neurodataType, type.namespace);
  g.create_attribute("description", description);
  g.create_attribute("colnames", [...columns.map((c) => c.name), ...ragged.map((c) => c.name)]);
  const id = g.create_dataset({ name: "id", data: ids });
  typed(id, "ElementIdentifiers", "hdmf-common");
  for (const c of columns) {
    const rows = c.shape?.[0] ?? c.data.length;
    if (rows !== ids.length)
      throw new Error(`dynamicTable ${name}: column ${c.name} has ${rows} rows, the table has ${ids.length}`);
    const d = g.create_dataset({ name: c.name, data: c.data, shape: c.shape ?? null });
    typed(d, "VectorData", "hdmf-common");
    d.create_attribute("description", c.description);
  }
  for (const c of ragged) {
    if (c.rows.length !== ids.length)
      throw new Error(
        `dynamicTable ${name}: ragged column ${c.name} has ${c.rows.length} rows, the table has ${ids.length}`,
      );
    const flat = new Int32Array(c.rows.reduce((n, r) => n + r.length, 0));
    const ends = new Uint32Array(c.rows.length);
    let k = 0;
    c.rows.forEach((r, i) => {
      for (const v of r) flat[k++] = v;
      ends[i] = k;
    });
    const d = g.create_dataset({ name: c.name, data: flat });
    typed(d, "VectorData", "hdmf-common");
    d.create_attribute("description", c.description);
    const index = g.create_dataset({ name: `${c.name}_index`, data: ends });
    typed(index, "VectorIndex", "hdmf-common");
    index.create_attribute("description", `Index for VectorData '${c.name}'`);
    index.create_attribute("target", d.create_reference());
  }
  return g;
}
