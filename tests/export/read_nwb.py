#!/usr/bin/python3
"""Reads a cortexloop NWB file with h5py alone (an independent reader) and prints what the test
compares against the store, as JSON: units, presentations, spike counts, faults, images."""
import hashlib
import json
import sys

import h5py


def text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def column(table, name):
    return [text(x) if isinstance(x, bytes) else x.item() if hasattr(x, "item") else x for x in table[name][()]]


def ragged(table, name):
    data = table[name][()].tolist()
    ends = table[name + "_index"][()].tolist()
    out, start = [], 0
    for end in ends:
        out.append(data[start:end])
        start = end
    return out


with h5py.File(sys.argv[1], "r") as f:
    units = f["units"]
    pres = f["intervals/presentations"]
    faults = f["intervals/faults"]
    images = f["stimulus/templates/stimuli"]
    refs = images["order_of_images"][()] if "order_of_images" in images else []
    order = [text(f[ref].name).rsplit("/", 1)[-1] for ref in refs]
    out = {
        "identifier": text(f["identifier"][()]),
        "nwb_version": text(f.attrs["nwb_version"]),
        "protocol": text(f["general/protocol"][()]),
        "rig": text(f["general/data_collection"][()]),
        "software": text(f["general/source_script"][()]),
        "units": {
            "id": units["id"][()].tolist(),
            "electrode": column(units, "electrode_label"),
            "sorted_id": units["sorted_id"][()].tolist(),
        },
        "presentations": {
            "id": pres["id"][()].tolist(),
            "start_time": pres["start_time"][()].tolist(),
            "stop_time": pres["stop_time"][()].tolist(),
            "event_code": pres["event_code"][()].tolist(),
            "onset_sample": pres["onset_sample"][()].tolist(),
            "stimulus_sha256": column(pres, "stimulus_sha256"),
            "stimulus_index": pres["stimulus_index"][()].tolist(),
            "block": column(pres, "block"),
            "status": column(pres, "status"),
            "counts_state": column(pres, "counts_state"),
            "spike_counts": pres["spike_counts"][()].tolist(),
        },
        "faults": {"code": column(faults, "code"), "presentation_idxs": ragged(faults, "presentation_idxs")},
        "images": {
            name: {"shape": list(ds.shape), "sha256_of_pixels": hashlib.sha256(ds[()].tobytes()).hexdigest()}
            for name, ds in images.items()
            if name != "order_of_images"
        },
        "order_of_images": order,
        "shown": f["stimulus/presentation/stimuli_shown/data"][()].tolist(),
    }
    json.dump(out, sys.stdout)
