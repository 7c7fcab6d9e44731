"""GGUF v3 writing and ggml's block quantization formats, in numpy (no gguf-py).

Written from the format descriptions (docs/gguf.md): the container (header, typed metadata,
tensor infos, aligned data) and, for each block type, a quantizer and the exact f32
dequantization (the same products ggml forms: scale = d * sc, y = scale * q - offset), so
tests can compare the engine's dequantization bit for bit.

The quantizers are simple (per sub-block min/max, no error search as llama-quantize
does): they produce valid blocks of each format, which is what the tests need.
"""
import struct

import numpy as np

# ggml_type ids
GGML = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8,
        "q2_k": 10, "q3_k": 11, "q4_k": 12, "q5_k": 13, "q6_k": 14, "bf16": 30}
# elements per block, bytes per block
BLOCK = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18),
         "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24), "q2_k": (256, 84),
         "q3_k": (256, 110), "q4_k": (256, 144), "q5_k": (256, 176), "q6_k": (256, 210)}
# llama_ftype of a file whose matrices are mostly this type (general.file_type)
FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9,
             "q2_k": 10, "q3_k": 12, "q4_k": 15, "q5_k": 17, "q6_k": 18, "bf16": 32, "q4_k_m": 15}

# metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
           BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}

F = np.float32


def row_bytes(t, cols):
    be, bb = BLOCK[t]
    assert cols % be == 0, (t, cols)
    return cols // be * bb


# ---- metadata encoding ----

def _str(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def _value(t, v):
    if t == STRING:
        return _str(v)
    if t == ARRAY:
        et, items = v
        out = [struct.pack("<IQ", et, len(items))]
        if et in _SCALAR:
            out.append(np.asarray(items, dtype=np.dtype(_SCALAR[et])).tobytes())
        else:
            out.extend(_value(et, x) for x in items)
        return b"".join(out)
    return struct.pack(_SCALAR[t], v)


class GgufWriter:
    """kv: [(key, type, value)]; tensors: [(name, type_name, shape_pytorch)]. Then
    write(name, bytes) per tensor in order, in row chunks, and close()."""

    def __init__(self, path, kv, tensors, alignment=32):
        self.f = open(path, "wb")
        self.align = alignment
        self.order = [t[0] for t in tensors]
        self.sizes = {}
        head = [struct.pack("<IIQQ", 0x46554747, 3, len(tensors), len(kv) + 1)]
        head.append(_str("general.alignment") + struct.pack("<I", U32) + _value(U32, alignment))
        for key, t, v in kv:
            head.append(_str(key) + struct.pack("<I", t) + _value(t, v))
        off = 0
        for name, tname, shape in tensors:
            ne = list(reversed(shape))  # GGUF: innermost first
            rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            size = rows * row_bytes(tname, shape[-1])
            self.sizes[name] = size
            head.append(_str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) +
                        struct.pack("<IQ", GGML[tname], off))
            off += (size + alignment - 1) // alignment * alignment
        blob = b"".join(head)
        self.f.write(blob)
        self.f.write(b"\0" * ((-len(blob)) % alignment))
        self.total = off
        self.cur, self.written = 0, 0

    def write(self, name, data):
        assert name == self.order[self.cur], (name, self.order[self.cur])
        self.f.write(data)
        self.written += len(data)

    def done_tensor(self):
        name = self.order[self.cur]
        assert self.written == self.sizes[name], (name, self.written, self.sizes[name])
        self.f.write(b"\0" * ((-self.written) % self.align))
        self.cur += 1
        self.written = 0

    def close(self):
        assert self.cur == len(self.order)
        self.f.close()


# ---- helpers ----

def _f16(x):
    return np.asarray(x, dtype=F).astype(np.float16)


def _h2f(h):  # f16 values (np.float16) -> f32, exact
    return h.astype(F)


def _round_away(v):  # C roundf: half away from zero (computed in f64: exact for f32 inputs)
    v = np.asarray(v, dtype=np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _safe_inv(d):
    d = np.asarray(d, dtype=F)
    out = np.zeros_like(d)
    nz = d != 0
    out[nz] = F(1.0) / d[nz]
    return out


def _sub_minmax(x, nsub, qmax, bits_scale):
    """Per sub-block affine params for types with a min: x ≈ d*sc*q - dmin*mn, q in
    [0, qmax], sc, mn in [0, 2^bits - 1]. x: [nb, nsub, sub]."""
    mn_s = np.minimum(x.min(axis=2), 0).astype(F)
    mx_s = x.max(axis=2).astype(F)
    scale = ((mx_s - mn_s) / F(qmax)).astype(F)
    off = (-mn_s).astype(F)
    top = F((1 << bits_scale) - 1)
    d = _f16(scale.max(axis=1) / top)
    dmin = _f16(off.max(axis=1) / top)
    df, dminf = _h2f(d)[:, None], _h2f(dmin)[:, None]
    sc = np.clip(_round_away(scale * _safe_inv(df * np.ones_like(scale))), 0, top).astype(np.int64)
    mn = np.clip(_round_away(off * _safe_inv(dminf * np.ones_like(off))), 0, top).astype(np.int64)
    s_eff = (df * sc.astype(F)).astype(F)
    m_eff = (dminf * mn.astype(F)).astype(F)
    q = np.clip(_round_away((x + m_eff[:, :, None]) * _safe_inv(s_eff)[:, :, None]), 0, qmax).astype(np.int64)
    return d, dmin, sc, mn, q


def _sub_signed(x, qlo, qhi, sc_lo, sc_hi):
    """Per sub-block signed scale: x ≈ d*sc*q, q in [qlo, qhi], sc in [sc_lo, sc_hi]."""
    amax_idx = np.abs(x).argmax(axis=2)
    mx = np.take_along_axis(x, amax_idx[:, :, None], axis=2)[:, :, 0].astype(F)
    scale = (mx / F(qlo)).astype(F)  # the largest-magnitude value maps to qlo (as ggml's q4_0)
    d = _f16(np.abs(scale).max(axis=1) / F(max(-sc_lo, sc_hi)))
    df = _h2f(d)[:, None]
    sc = np.clip(_round_away(scale * _safe_inv(df * np.ones_like(scale))), sc_lo, sc_hi).astype(np.int64)
    s_eff = (df * sc.astype(F)).astype(F)
    q = np.clip(_round_away(x * _safe_inv(s_eff)[:, :, None]), qlo, qhi).astype(np.int64)
    return d, sc, q


def _u8(a):
    return np.asarray(a, dtype=np.int64).astype(np.uint8)


# ---- quantizers: x [rows, cols] f32 -> bytes [rows, row_bytes] ----

def quantize(t, x):
    x = np.ascontiguousarray(x, dtype=F)
    rows, cols = x.shape
    if t == "f32":
        return x.tobytes()
    if t == "f16":
        return x.astype(np.float16).tobytes()
    if t == "bf16":
        b = x.view(np.uint32).astype(np.uint64)
        b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
        return b.tobytes()
    be, bb = BLOCK[t]
    xb = x.reshape(-1, be)
    nb = xb.shape[0]
    out = np.zeros((nb, bb), dtype=np.uint8)
    if t == "q8_0":  # ggml quantize_row_q8_0_ref
        amax = np.abs(xb).max(axis=1).astype(F)
        d = (amax / F(127)).astype(F)
        q = _round_away(xb * _safe_inv(d)[:, None]).astype(np.int64)
        out[:, 0:2] = _f16(d).view(np.uint8).reshape(nb, 2)
        out[:, 2:] = q.astype(np.int8).view(np.uint8)
    elif t in ("q4_0", "q5_0"):  # largest-magnitude value -> -8 (-16)
        half = 8 if t == "q4_0" else 16
        idx = np.abs(xb).argmax(axis=1)
        mx = xb[np.arange(nb), idx].astype(F)
        d = (mx / F(-half)).astype(F)
        q = np.minimum(2 * half - 1, np.trunc(xb * _safe_inv(d)[:, None] + F(half + 0.5))).astype(np.int64)
        dh = _f16(d).view(np.uint8).reshape(nb, 2)
        out[:, 0:2] = dh
        lo = q & 0xF
        qs = _u8(lo[:, :16] | (lo[:, 16:] << 4))
        if t == "q4_0":
            out[:, 2:18] = qs
        else:
            hb = (q >> 4) & 1
            qh = (hb << np.arange(32)).sum(axis=1).astype(np.uint32)
            out[:, 2:6] = qh.view(np.uint8).reshape(nb, 4)
            out[:, 6:22] = qs
    elif t in ("q4_1", "q5_1"):
        top = 15 if t == "q4_1" else 31
        mn = xb.min(axis=1).astype(F)
        mx = xb.max(axis=1).astype(F)
        d = ((mx - mn) / F(top)).astype(F)
        q = np.minimum(top, np.trunc((xb - mn[:, None]) * _safe_inv(d)[:, None] + F(0.5))).astype(np.int64)
        out[:, 0:2] = _f16(d).view(np.uint8).reshape(nb, 2)
        out[:, 2:4] = _f16(mn).view(np.uint8).reshape(nb, 2)
        lo = q & 0xF
        qs = _u8(lo[:, :16] | (lo[:, 16:] << 4))
        if t == "q4_1":
            out[:, 4:20] = qs
        else:
            hb = (q >> 4) & 1
            qh = (hb << np.arange(32)).sum(axis=1).astype(np.uint32)
            out[:, 4:8] = qh.view(np.uint8).reshape(nb, 4)
            out[:, 8:24] = qs
    elif t == "q2_k":
        d, dmin, sc, mn, q = _sub_minmax(xb.reshape(nb, 16, 16), 16, 3, 4)
        out[:, 0:16] = _u8(sc | (mn << 4))
        q = q.reshape(nb, 256)
        qs = np.zeros((nb, 64), dtype=np.int64)
        for n in range(2):
            for j in range(4):
                qs[:, 32 * n:32 * n + 32] |= q[:, 128 * n + 32 * j:128 * n + 32 * j + 32] << (2 * j)
        out[:, 16:80] = _u8(qs)
        out[:, 80:82] = d.view(np.uint8).reshape(nb, 2)
        out[:, 82:84] = dmin.view(np.uint8).reshape(nb, 2)
    elif t == "q3_k":
        d, sc, q = _sub_signed(xb.reshape(nb, 16, 16), -4, 3, -32, 31)
        e = q.reshape(nb, 256) + 4  # 0..7: low 2 bits + "no -4" bit
        hm = np.zeros((nb, 32), dtype=np.int64)
        qs = np.zeros((nb, 64), dtype=np.int64)
        for n in range(2):
            for j in range(4):
                seg = e[:, 128 * n + 32 * j:128 * n + 32 * j + 32]
                qs[:, 32 * n:32 * n + 32] |= (seg & 3) << (2 * j)
                hm |= ((seg >> 2) & 1) << (4 * n + j)
        s6 = sc + 32
        scales = np.zeros((nb, 12), dtype=np.int64)
        for i in range(16):
            lo, hi = s6[:, i] & 0xF, (s6[:, i] >> 4) & 3
            if i < 8:
                scales[:, i] |= lo
            else:
                scales[:, i - 8] |= lo << 4
            scales[:, 8 + i % 4] |= hi << (2 * (i // 4))
        out[:, 0:32] = _u8(hm)
        out[:, 32:96] = _u8(qs)
        out[:, 96:108] = _u8(scales)
        out[:, 108:110] = d.view(np.uint8).reshape(nb, 2)
    elif t in ("q4_k", "q5_k"):
        top = 15 if t == "q4_k" else 31
        d, dmin, sc, mn, q = _sub_minmax(xb.reshape(nb, 8, 32), 8, top, 6)
        scales = np.zeros((nb, 12), dtype=np.int64)
        for j in range(8):
            if j < 4:
                scales[:, j] |= sc[:, j]
                scales[:, j + 4] |= mn[:, j]
            else:
                scales[:, j + 4] |= (sc[:, j] & 0xF) | ((mn[:, j] & 0xF) << 4)
                scales[:, j - 4] |= (sc[:, j] >> 4) << 6
                scales[:, j] |= (mn[:, j] >> 4) << 6
        q = q.reshape(nb, 256)
        qs = np.zeros((nb, 128), dtype=np.int64)
        qh = np.zeros((nb, 32), dtype=np.int64)
        for j in range(4):
            a, b = q[:, 64 * j:64 * j + 32], q[:, 64 * j + 32:64 * j + 64]
            qs[:, 32 * j:32 * j + 32] = (a & 0xF) | ((b & 0xF) << 4)
            qh |= ((a >> 4) & 1) << (2 * j)
            qh |= ((b >> 4) & 1) << (2 * j + 1)
        out[:, 0:2] = d.view(np.uint8).reshape(nb, 2)
        out[:, 2:4] = dmin.view(np.uint8).reshape(nb, 2)
        out[:, 4:16] = _u8(scales)
        if t == "q4_k":
            out[:, 16:144] = _u8(qs)
        else:
            out[:, 16:48] = _u8(qh)
            out[:, 48:176] = _u8(qs)
    elif t == "q6_k":
        d, sc, q = _sub_signed(xb.reshape(nb, 16, 16), -32, 31, -128, 127)
        e = q.reshape(nb, 256) + 32
        ql = np.zeros((nb, 128), dtype=np.int64)
        qh = np.zeros((nb, 64), dtype=np.int64)
        for n in range(2):
            b0 = 128 * n
            e0, e1 = e[:, b0:b0 + 32], e[:, b0 + 32:b0 + 64]
            e2, e3 = e[:, b0 + 64:b0 + 96], e[:, b0 + 96:b0 + 128]
            ql[:, 64 * n:64 * n + 32] = (e0 & 15) | ((e2 & 15) << 4)
            ql[:, 64 * n + 32:64 * n + 64] = (e1 & 15) | ((e3 & 15) << 4)
            qh[:, 32 * n:32 * n + 32] = (e0 >> 4) | ((e1 >> 4) << 2) | ((e2 >> 4) << 4) | ((e3 >> 4) << 6)
        out[:, 0:128] = _u8(ql)
        out[:, 128:192] = _u8(qh)
        out[:, 192:208] = sc.astype(np.int8).view(np.uint8)
        out[:, 208:210] = d.view(np.uint8).reshape(nb, 2)
    else:
        raise ValueError(t)
    return out.tobytes()


# ---- exact dequantization (ggml's dequantize_row_*, in f32) ----

def _hf(b, off):  # f16 field at byte offset of each block -> f32 [nb]
    return b[:, off:off + 2].copy().view(np.float16)[:, 0].astype(F)


def _k4_scale_min(sc):  # [nb, 12] -> ([nb, 8], [nb, 8]) as get_scale_min_k4
    sc = sc.astype(np.int64)
    s = np.zeros((sc.shape[0], 8), dtype=np.int64)
    m = np.zeros_like(s)
    for j in range(8):
        if j < 4:
            s[:, j] = sc[:, j] & 63
            m[:, j] = sc[:, j + 4] & 63
        else:
            s[:, j] = (sc[:, j + 4] & 0xF) | ((sc[:, j - 4] >> 6) << 4)
            m[:, j] = (sc[:, j + 4] >> 4) | ((sc[:, j] >> 6) << 4)
    return s, m


def dequantize(t, data, rows, cols):
    """bytes -> f32 [rows, cols], bit-exact to ggml: per element y = (d*sc) * q - (dmin*m)."""
    if t == "f32":
        return np.frombuffer(data, dtype=F).reshape(rows, cols).copy()
    if t == "f16":
        return np.frombuffer(data, dtype=np.float16).astype(F).reshape(rows, cols)
    if t == "bf16":
        return (np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16).view(F).reshape(rows, cols)
    be, bb = BLOCK[t]
    b = np.frombuffer(data, dtype=np.uint8).reshape(-1, bb)
    nb = b.shape[0]
    q = np.zeros((nb, be), dtype=np.int64)       # integer quant per element
    scale = np.zeros((nb, be), dtype=F)          # per element scale
    off = np.zeros((nb, be), dtype=F)            # per element offset
    if t in ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1"):
        d = _hf(b, 0)
        scale[:] = d[:, None]
        if t == "q8_0":
            q[:] = b[:, 2:34].view(np.int8)
        else:
            qs_at = {"q4_0": 2, "q4_1": 4, "q5_0": 6, "q5_1": 8}[t]
            qs = b[:, qs_at:qs_at + 16].astype(np.int64)
            q[:, :16], q[:, 16:] = qs & 0xF, qs >> 4
            if t in ("q5_0", "q5_1"):
                qh_at = 2 if t == "q5_0" else 4
                qh = b[:, qh_at:qh_at + 4].copy().view(np.uint32)[:, 0].astype(np.int64)
                q |= ((qh[:, None] >> np.arange(32)) & 1) << 4
            if t == "q4_0":
                q -= 8
            elif t == "q5_0":
                q -= 16
            else:
                off[:] = -_hf(b, 2)[:, None]  # y = d*q + m  ==  d*q - (-m)
    elif t == "q2_k":
        sc = b[:, 0:16].astype(np.int64)
        qs = b[:, 16:80].astype(np.int64)
        d, dmin = _hf(b, 80), _hf(b, 82)
        for n in range(2):
            for j in range(4):
                for h in range(2):
                    e0 = 128 * n + 32 * j + 16 * h
                    v = sc[:, 8 * n + 2 * j + h]
                    q[:, e0:e0 + 16] = (qs[:, 32 * n + 16 * h:32 * n + 16 * h + 16] >> (2 * j)) & 3
                    scale[:, e0:e0 + 16] = (d * (v & 0xF).astype(F))[:, None]
                    off[:, e0:e0 + 16] = (dmin * (v >> 4).astype(F))[:, None]
    elif t == "q3_k":
        hm = b[:, 0:32].astype(np.int64)
        qs = b[:, 32:96].astype(np.int64)
        s = b[:, 96:108].astype(np.int64)
        d = _hf(b, 108)
        for n in range(2):
            for j in range(4):
                for h in range(2):
                    e0 = 128 * n + 32 * j + 16 * h
                    i = 8 * n + 2 * j + h
                    lo = s[:, i] & 0xF if i < 8 else s[:, i - 8] >> 4
                    hi = (s[:, 8 + i % 4] >> (2 * (i // 4))) & 3
                    sl = slice(16 * h, 16 * h + 16)
                    low2 = (qs[:, 32 * n:32 * n + 32][:, sl] >> (2 * j)) & 3
                    hbit = (hm[:, sl] >> (4 * n + j)) & 1
                    q[:, e0:e0 + 16] = low2 - 4 * (1 - hbit)
                    scale[:, e0:e0 + 16] = (d * ((lo | (hi << 4)) - 32).astype(F))[:, None]
    elif t in ("q4_k", "q5_k"):
        d, dmin = _hf(b, 0), _hf(b, 2)
        s, m = _k4_scale_min(b[:, 4:16])
        qs = b[:, 16:144].astype(np.int64) if t == "q4_k" else b[:, 48:176].astype(np.int64)
        qh = b[:, 16:48].astype(np.int64) if t == "q5_k" else None
        for j in range(4):
            seg = qs[:, 32 * j:32 * j + 32]
            for h, vals in ((0, seg & 0xF), (1, seg >> 4)):
                sb = 2 * j + h
                e0 = 32 * sb
                if qh is not None:
                    vals = vals + (((qh >> sb) & 1) << 4)
                q[:, e0:e0 + 32] = vals
                scale[:, e0:e0 + 32] = (d * s[:, sb].astype(F))[:, None]
                off[:, e0:e0 + 32] = (dmin * m[:, sb].astype(F))[:, None]
    elif t == "q6_k":
        ql = b[:, 0:128].astype(np.int64)
        qh = b[:, 128:192].astype(np.int64)
        sc = b[:, 192:208].view(np.int8).astype(np.int64)
        d = _hf(b, 208)
        for n in range(2):
            L, H = ql[:, 64 * n:64 * n + 64], qh[:, 32 * n:32 * n + 32]
            groups = [(L[:, :32] & 15) | ((H & 3) << 4), (L[:, 32:] & 15) | (((H >> 2) & 3) << 4),
                      (L[:, :32] >> 4) | (((H >> 4) & 3) << 4), (L[:, 32:] >> 4) | (((H >> 6) & 3) << 4)]
            for k, g in enumerate(groups):
                e0 = 128 * n + 32 * k
                q[:, e0:e0 + 32] = g - 32
                for h in range(2):
                    scale[:, e0 + 16 * h:e0 + 16 * h + 16] = (d * sc[:, 8 * n + 2 * k + h].astype(F))[:, None]
    else:
        raise ValueError(t)
    y = (scale * q.astype(F) - off).astype(F)
    return y.reshape(rows, cols)
