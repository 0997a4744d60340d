# SPDX-License-Identifier: MIT
"""Reads a safetensors file with nothing but json and numpy, and prints a summary:
one "metadata KEY=VALUE" line per metadata entry (sorted by key), then one line per tensor,
in data order: "NAME DTYPE [SHAPE] SUM" (the sum taken in float64, printed as %.9g).

An independent check of tapegrad's writer (tests/tools/check_safetensors.cmake runs it):
it shares no code with tapegrad. Usage: python3 read_safetensors.py FILE
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def main(path):
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    data = blob[8 + header_len :]
    for key, value in sorted(header.pop("__metadata__", {}).items()):
        print(f"metadata {key}={value}")
    for name, info in sorted(header.items(), key=lambda item: tuple(item[1]["data_offsets"])):
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        shape = ", ".join(str(d) for d in array.shape)
        print("%s %s [%s] %.9g" % (name, info["dtype"], shape, array.astype(np.float64).sum()))


if __name__ == "__main__":
    main(sys.argv[1])
