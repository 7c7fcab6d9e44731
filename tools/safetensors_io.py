"""Minimal safetensors reader/writer in plain numpy, shared by the test-model
generator and the numpy reference. Written from the format description
(u64 little-endian header length, JSON header, data section), not from any library;
it is deliberately independent of the C++ reader it helps to test.

bf16 has no numpy dtype: it is carried as uint16 bit patterns and widened by a shift.
"""
import json
import struct

import numpy as np

DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (np.uint16, 2)}


def f32_to_bf16_bits(x):
    """Round-to-nearest-even f32 -> bf16 bit pattern (uint16), as torch casts."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def read_header(path):
    """Returns (header dict without __metadata__, data section start offset)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def load_file(path, as_float64=True):
    """name -> numpy array (float64 by default; exact widening of the stored values)."""
    header, start = read_header(path)
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, t in header.items():
        dt, size = DTYPES[t["dtype"]]
        b, e = t["data_offsets"]
        a = raw[start + b:start + e].view(dt).reshape(t["shape"])
        if t["dtype"] == "BF16":
            a = bf16_bits_to_f32(a)
        out[name] = a.astype(np.float64) if as_float64 else np.array(a)
    return out


def load_checkpoint(model_dir, as_float64=True):
    """All tensors of a checkpoint folder: sharded (index.json) or single file."""
    import os
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    out = {}
    for s in shards:
        out.update(load_file(os.path.join(model_dir, s), as_float64))
    return out


class StreamingWriter:
    """Writes one safetensors file whose tensor list (name, dtype, shape) is known up
    front; data is then appended tensor by tensor in that order, so an 8B checkpoint
    never has to be held in memory."""

    def __init__(self, path, specs, metadata=None):
        self.specs = list(specs)  # [(name, dtype_str, shape)]
        header = {}
        off = 0
        for name, dt, shape in self.specs:
            n = int(np.prod(shape, dtype=np.int64)) * DTYPES[dt][1]
            header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + n]}
            off += n
        if metadata:
            header["__metadata__"] = metadata
        hbytes = json.dumps(header, separators=(",", ":")).encode()
        hbytes += b" " * (-len(hbytes) % 8)  # data section 8-byte aligned, as the spec recommends
        self.f = open(path, "wb")
        self.f.write(struct.pack("<Q", len(hbytes)))
        self.f.write(hbytes)
        self.next = 0
        self.total = off

    def write(self, name, chunk):
        """Appends bytes of the current tensor; chunk is already in the file dtype."""
        spec_name = self.specs[self.next][0]
        assert name == spec_name, (name, spec_name)
        self.f.write(np.ascontiguousarray(chunk).tobytes())

    def done_tensor(self):
        self.next += 1

    def close(self):
        assert self.next == len(self.specs), "not every tensor was written"
        self.f.close()
