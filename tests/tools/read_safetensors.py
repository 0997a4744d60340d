# SPDX-License-Identifier: MIT
"""Reads a safetensors file with nothing but json and numpy, and prints a summary:
one "metadata KEY=VALUE" line per metadata entry (sorted by key), then one line per tensor,
in data order: "NAME DTYPE [SHAPE] SUM" (the sum taken in float64, printed as %.9g).

An independent check of tapegrad's writer (tests/tools/check_safetensors.cmake runs it): it
shares no code with tapegrad's C++; the file is parsed by scripts/safetensors_numpy.py, which
scripts/torch_lenet.py also uses. Usage: python3 read_safetensors.py FILE
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import safetensors_numpy  # noqa: E402


def main(path):
    tensors, metadata = safetensors_numpy.read(path)
    for key, value in sorted(metadata.items()):
        print(f"metadata {key}={value}")
    for name, array in tensors.items():
        dtype = safetensors_numpy.NAMES[np.dtype(array.dtype)]
        shape = ", ".join(str(d) for d in array.shape)
        print("%s %s [%s] %.9g" % (name, dtype, shape, array.astype(np.float64).sum()))


if __name__ == "__main__":
    main(sys.argv[1])
