#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of the fuzz targets: tests/fuzz/{npy,safetensors,idx}/.

Each file is small, and either valid (its name starts with ok_: the reader must accept it)
or broken in one particular way (bad_: the reader must reject it with an IoError). The fuzzers
start from these files; tests/reliability/test_fuzz_corpus.cpp runs every one of them, and
every crash reproducer committed beside them, through the same checks in the regular build.

Plain python3 (struct, json, gzip): the formats are simple enough to write byte by byte,
which is also how the broken files have to be made. Run from anywhere:
    python3 scripts/make_fuzz_corpus.py
It rewrites the ok_ and bad_ files and leaves any other file (crash reproducers) alone.
"""
import gzip
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fuzz"


# ---- .npy -----------------------------------------------------------------------------

def npy_header(descr, shape, fortran=False):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(tuple(shape)))


def npy(header, data=b"", version=1, pad=True, length=None):
    """A .npy file: magic, version, header length, header dict (+ NumPy's padding), data."""
    prefix = 10 if version == 1 else 12
    text = header.encode("latin-1")
    if pad:  # as NumPy: spaces and a newline up to a multiple of 64 bytes
        text += b" " * ((64 - (prefix + len(text) + 1) % 64) % 64) + b"\n"
    size = len(text) if length is None else length
    length_bytes = struct.pack("<H", size) if version == 1 else struct.pack("<I", size)
    return b"\x93NUMPY" + bytes([version, 0]) + length_bytes + text + data


def f4(*values):
    return struct.pack("<%df" % len(values), *values)


def f8(*values):
    return struct.pack("<%dd" % len(values), *values)


def npy_files():
    # float32 bit patterns NumPy can hold: quiet and signalling NaNs, infinities, -0, the
    # smallest subnormal, the largest finite value.
    special = struct.pack("<7I", 0x7FC00000, 0x7F800001, 0x7F800000, 0xFF800000, 0x80000000, 0x00000001, 0x7F7FFFFF)
    yield "ok_f4_2x3.npy", npy(npy_header("<f4", (2, 3)), f4(*[i / 4 - 0.5 for i in range(6)]))
    yield "ok_f8_scalar.npy", npy(npy_header("<f8", ()), f8(3.25))
    yield "ok_f4_empty_0x3.npy", npy(npy_header("<f4", (0, 3)))
    yield "ok_f8_v2_2x2.npy", npy(npy_header("<f8", (2, 2)), f8(0.1, 0.2, 0.3, 0.4), version=2)
    yield "ok_f4_v3_3.npy", npy(npy_header("<f4", (3,)), f4(1.5, -2.5, 1e-3), version=3)
    yield "ok_f4_rank8.npy", npy(npy_header("<f4", (1, 2, 1, 2, 1, 1, 1, 1)), f4(1, 2, 3, 4))
    yield "ok_f4_special_values.npy", npy(npy_header("<f4", (7,)), special)
    yield "ok_reordered_keys_unpadded.npy", npy(
        "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}\n", f4(7, 8), pad=False)
    yield "ok_f8_empty_with_huge_dims.npy", npy(npy_header("<f8", (0, 2**62, 2**62)))

    yield "bad_empty.npy", b""
    yield "bad_magic.npy", b"\x93NUMPZ" + npy(npy_header("<f4", (1,)), f4(1))[6:]
    yield "bad_preamble_truncated.npy", b"\x93NUMPY\x01"
    yield "bad_version_4.npy", npy(npy_header("<f4", (1,)), f4(1), version=4)
    yield "bad_header_length_past_end.npy", npy(npy_header("<f4", (1,)), f4(1), length=60000)
    yield "ok_i8_3.npy", npy(npy_header("<i8", (3,)), struct.pack("<3q", 0, -1, 2**62))
    yield "ok_b1_2x2.npy", npy(npy_header("|b1", (2, 2)), bytes([1, 0, 0, 1]))
    yield "bad_b1_byte_2.npy", npy(npy_header("|b1", (2,)), bytes([1, 2]))
    yield "bad_dtype_i4.npy", npy(npy_header("<i4", (3,)), struct.pack("<3i", 0, 1, 2))
    yield "bad_dtype_big_endian.npy", npy(npy_header(">f4", (3,)), struct.pack(">3f", 0, 1, 2))
    yield "bad_fortran_order.npy", npy(npy_header("<f4", (2, 3), fortran=True), f4(*range(6)))
    yield "bad_data_truncated.npy", npy(npy_header("<f4", (2, 3)), f4(*range(5)))
    yield "bad_trailing_bytes.npy", npy(npy_header("<f4", (2, 3)), f4(*range(7)))
    yield "bad_dim_overflows_int64.npy", npy(npy_header("<f4", (10**20,)))
    yield "bad_numel_overflows_int64.npy", npy(npy_header("<f4", (2**32, 2**32)))
    yield "bad_bytes_overflow_64_bits.npy", npy(npy_header("<f8", (2**61,)))
    yield "bad_huge_shape_small_file.npy", npy(npy_header("<f4", (10**9, 1000)), f4(1, 2))
    yield "bad_rank9.npy", npy(npy_header("<f4", (1,) * 9), f4(1))
    yield "bad_negative_dim.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")
    yield "bad_unknown_key.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", f4(1))
    yield "bad_missing_shape.npy", npy("{'descr': '<f4', 'fortran_order': False}", f4(1))
    yield "bad_unterminated_string.npy", npy("{'descr': '<f4", f4(1))
    yield "bad_order_not_bool.npy", npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", f4(1))
    yield "bad_unclosed_dict.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", f4(1), pad=False)


# ---- safetensors -----------------------------------------------------------------------

def safetensors(header, data=b"", length=None, pad=b" "):
    """8-byte little-endian header length, the JSON header padded to 8 bytes, the data."""
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    text += pad * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def safetensors_files():
    weight = f4(*[i / 8 for i in range(6)])
    two = {"__metadata__": {"format": "pt"}, "weight": entry("F32", [2, 3], 0, 24), "bias": entry("F64", [2], 24, 40)}
    yield "ok_two_tensors.safetensors", safetensors(two, weight + f8(0.5, -0.5))
    yield "ok_no_tensors.safetensors", safetensors({})
    yield "ok_metadata_only.safetensors", safetensors({"__metadata__": {"a": "b", "name": "caf\u00e9"}})
    yield "ok_scalar.safetensors", safetensors({"x": entry("F64", [], 0, 8)}, f8(2.5))
    yield "ok_empty_tensors.safetensors", safetensors(
        {"a": entry("F32", [0, 3], 0, 0), "b": entry("F32", [2], 0, 8), "c": entry("F64", [0], 8, 8)}, f4(1, 2))
    yield "ok_offsets_out_of_order.safetensors", safetensors(
        {"second": entry("F32", [2], 8, 16), "first": entry("F32", [2], 0, 8)}, f4(1, 2, 3, 4))
    yield "ok_unusual_names.safetensors", safetensors(
        {"": entry("F32", [1], 0, 4), "layer.0.w\u00e9ight": entry("F32", [1], 4, 8)}, f4(1, 2))
    yield "ok_rank8.safetensors", safetensors({"r": entry("F32", [1, 1, 2, 1, 1, 1, 1, 1], 0, 8)}, f4(1, 2))

    yield "bad_empty.safetensors", b""
    yield "bad_short_prefix.safetensors", b"\x08\x00\x00"
    yield "bad_header_length_past_end.safetensors", safetensors({}, length=4096)
    yield "bad_header_length_over_limit.safetensors", safetensors({}, length=2**62)
    yield "bad_header_length_max.safetensors", safetensors({}, length=2**64 - 1)
    yield "bad_not_json.safetensors", safetensors(b"{'x': 1}")
    yield "bad_json_array.safetensors", safetensors(b"[]")
    yield "bad_nul_padding.safetensors", safetensors(b"{}", pad=b"\0")
    yield "bad_invalid_utf8.safetensors", safetensors(b'{"\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                                                      f4(1))
    yield "ok_f16_bf16.safetensors", safetensors(
        {"h": entry("F16", [4], 0, 8), "b": entry("BF16", [3], 8, 14)},
        struct.pack("<4e", 1.5, -0.0, 65504.0, 2.0**-24) + struct.pack("<3H", 0x3FC0, 0xC2F7, 0x7F80))
    yield "ok_i64_bool.safetensors", safetensors(
        {"i": entry("I64", [2], 0, 16), "m": entry("BOOL", [3], 16, 19)}, struct.pack("<2q", -5, 2**40) + bytes([1, 0, 1]))
    yield "bad_bool_byte.safetensors", safetensors({"m": entry("BOOL", [2], 0, 2)}, bytes([0, 7]))
    yield "bad_dtype_u8.safetensors", safetensors({"h": entry("U8", [4], 0, 4)}, b"\0" * 4)
    yield "bad_dtype_not_string.safetensors", safetensors({"h": entry(3, [1], 0, 4)}, f4(1))
    yield "bad_shape_not_list.safetensors", safetensors({"s": entry("F32", 4, 0, 16)}, f4(1, 2, 3, 4))
    yield "bad_negative_dim.safetensors", safetensors({"s": entry("F32", [-1], 0, 0)})
    yield "bad_float_dim.safetensors", safetensors({"s": entry("F32", [2.0], 0, 8)}, f4(1, 2))
    yield "bad_dim_over_int64.safetensors", safetensors({"s": entry("F32", [2**63], 0, 0)})
    yield "bad_numel_overflow.safetensors", safetensors({"s": entry("F32", [2**32, 2**32], 0, 0)})
    yield "bad_bytes_overflow.safetensors", safetensors({"s": entry("F32", [2**62], 0, 0)})
    yield "bad_rank9.safetensors", safetensors({"s": entry("F32", [1] * 9, 0, 4)}, f4(1))
    yield "bad_huge_shape_small_file.safetensors", safetensors(
        {"s": entry("F32", [10**9, 1000], 0, 4 * 10**12)}, f4(1, 2))
    yield "bad_three_offsets.safetensors", safetensors(
        {"s": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, f4(1))
    yield "bad_offsets_reversed.safetensors", safetensors({"s": entry("F32", [0], 4, 0)})
    yield "bad_offsets_mismatch_shape.safetensors", safetensors({"s": entry("F32", [3], 0, 8)}, f4(1, 2))
    yield "bad_offsets_past_end.safetensors", safetensors({"s": entry("F32", [2], 0, 8)}, f4(1))
    yield "bad_overlap.safetensors", safetensors(
        {"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, f4(1, 2, 3))
    yield "bad_gap.safetensors", safetensors({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)},
                                             f4(1, 2, 3))
    yield "bad_trailing_bytes.safetensors", safetensors({"a": entry("F32", [1], 0, 4)}, f4(1, 2))
    yield "bad_duplicate_name.safetensors", safetensors(
        b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        f4(1, 2))
    yield "bad_duplicate_key_in_entry.safetensors", safetensors(
        b'{"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}}', f4(1))
    yield "bad_unexpected_key.safetensors", safetensors(
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "stride": [1]}}, f4(1))
    yield "bad_missing_dtype.safetensors", safetensors({"a": {"shape": [1], "data_offsets": [0, 4]}}, f4(1))
    yield "bad_entry_not_object.safetensors", safetensors({"a": [1, 2]})
    yield "bad_metadata_not_object.safetensors", safetensors({"__metadata__": "pt"})
    yield "bad_metadata_value_not_string.safetensors", safetensors({"__metadata__": {"epoch": 3}})


# ---- gzip IDX ----------------------------------------------------------------------------

def idx(dims, data, type_code=0x08, rank=None):
    """An uncompressed IDX file: 00 00 <type> <rank>, big-endian uint32 dims, the bytes."""
    rank = len(dims) if rank is None else rank
    return bytes([0, 0, type_code, rank]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def gz(data, level=9):
    return gzip.compress(data, compresslevel=level, mtime=0)


def pixels(n):
    return [(i * 37) % 256 for i in range(n)]


def idx_files():
    images = idx([2, 3, 4], pixels(24))
    yield "ok_images_2x3x4.gz", gz(images)
    yield "ok_images_1x28x28.gz", gz(idx([1, 28, 28], pixels(784)))
    yield "ok_images_zero_count.gz", gz(idx([0, 28, 28], []))
    yield "ok_images_two_gzip_members.gz", gz(images[:10]) + gz(images[10:])
    yield "ok_labels_10.gz", gz(idx([10], [i % 10 for i in range(10)]))
    yield "ok_labels_empty.gz", gz(idx([0], []))
    yield "ok_labels_stored_block.gz", gz(idx([4], [9, 8, 7, 6]), level=0)

    yield "bad_empty.gz", b""
    yield "bad_not_gzip.gz", images
    yield "bad_empty_gzip.gz", gz(b"")
    yield "bad_gzip_truncated.gz", gz(images)[:-12]
    yield "bad_gzip_crc.gz", gz(images)[:-8] + b"\xde\xad\xbe\xef" + gz(images)[-4:]
    yield "bad_magic.gz", gz(b"\x01" + images[1:])
    yield "bad_element_type_float.gz", gz(idx([2, 3, 4], pixels(24), type_code=0x0D))
    yield "bad_rank_2.gz", gz(idx([6, 4], pixels(24)))
    yield "bad_header_truncated.gz", gz(images[:9])
    yield "bad_images_short_data.gz", gz(images[:-1])
    yield "bad_images_trailing_data.gz", gz(images + b"\0")
    yield "bad_labels_trailing_data.gz", gz(idx([3], [1, 2, 3, 4]))
    yield "bad_labels_huge_count.gz", gz(idx([2**32 - 1], [1, 2, 3]))
    yield "bad_images_dims_overflow.gz", gz(idx([2**32 - 1] * 3, []))
    yield "bad_images_huge_count.gz", gz(idx([10**9, 28, 28], pixels(784)))


def main():
    for folder, files in (("npy", npy_files), ("safetensors", safetensors_files), ("idx", idx_files)):
        directory = ROOT / folder
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("ok_*"):
            stale.unlink()
        for stale in directory.glob("bad_*"):
            stale.unlink()
        count = 0
        for name, content in files():
            (directory / name).write_bytes(content)
            count += 1
        print(f"{directory}: {count} files")


if __name__ == "__main__":
    main()
