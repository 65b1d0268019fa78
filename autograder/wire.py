"""The data-only wire format between the trusted judge and a sandboxed student worker.

A message is one frame: an 8-byte big-endian length, then UTF-8 JSON. Values are plain
JSON (None, bool, int, float, str) or tagged objects:

    {"t": "list" | "tuple", "v": [...]}          {"t": "dict", "v": [[key, value], ...]}
    {"t": "nd", "dtype": "<f8", "shape": [...], "b": base64}   a numpy array (exact type)
    {"t": "sc", "dtype": "<f8", "b": base64}                   a numpy scalar
    {"t": "tensor", "dtype": "<f8", "shape": [...], "b": base64}  a torch tensor (by value)
    {"t": "h", "id": 7, "type": "Foo"}                           an object left in the worker
    {"t": "f", "v": "nan" | "inf" | "-inf"}                     non-finite float

Nothing is ever unpickled: decoding builds arrays from raw bytes after checking the dtype
against a whitelist and the byte count against the shape, and refuses frames over
MAX_FRAME bytes or nesting deeper than MAX_DEPTH. The same module runs on both sides; the
trusted side passes `tensor_factory` (torch.from_numpy) and `handle_factory`, the worker
its own object table.
"""
from __future__ import annotations

import base64
import json
import math
import struct

import numpy as np

MAX_FRAME = 64 * 2 ** 20          # bytes of JSON in one message
MAX_DEPTH = 32
MAX_ITEMS = 100_000               # elements of one list/dict
DTYPES = {np.dtype(t).str: np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128")}


class WireError(Exception):
    """A malformed or oversized message (treated as a crash of the worker)."""


# ---------------------------------------------------------------- encoding
def _array_fields(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    if a.dtype.str not in DTYPES:
        raise WireError(f"unsupported dtype {a.dtype}")
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "b": base64.b64encode(a.tobytes()).decode("ascii")}


def encode(value, *, to_handle=None, depth: int = 0):
    """value -> JSON-able structure. `to_handle(obj)` -> dict for objects sent by reference."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"t": "f", "v": repr(value)}
    t = type(value)
    if t is np.ndarray:
        return {"t": "nd", **_array_fields(value)}
    if isinstance(value, np.generic) and value.dtype.str in DTYPES:
        return {"t": "sc", **_array_fields(np.asarray(value))}
    if t.__module__.startswith("torch") and t.__name__ in ("Tensor", "Parameter"):
        arr = value.detach().cpu().resolve_conj().resolve_neg().numpy()
        return {"t": "tensor", **_array_fields(arr)}
    if t in (list, tuple):
        return {"t": t.__name__, "v": [encode(v, to_handle=to_handle, depth=depth + 1)
                                      for v in value]}
    if t is dict:
        return {"t": "dict", "v": [[encode(k, to_handle=to_handle, depth=depth + 1),
                                    encode(v, to_handle=to_handle, depth=depth + 1)]
                                   for k, v in value.items()]}
    if to_handle is None:
        raise WireError(f"cannot send an object of type {t.__name__}")
    return to_handle(value)


# ---------------------------------------------------------------- decoding
def _array(d: dict) -> np.ndarray:
    dtype = DTYPES.get(d.get("dtype"))
    if dtype is None:
        raise WireError(f"refused dtype {d.get('dtype')!r}")
    shape = d.get("shape", [])
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise WireError("bad shape")
    raw = base64.b64decode(d.get("b", ""), validate=True)
    if len(raw) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise WireError("array size does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode(obj, *, from_handle=None, tensor_factory=None, depth: int = 0):
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if not isinstance(obj, dict):
        raise WireError(f"unexpected JSON value {type(obj).__name__}")
    tag = obj.get("t")
    if tag == "f":
        if obj.get("v") not in ("nan", "inf", "-inf"):
            raise WireError("bad float")
        return float(obj["v"])
    if tag == "nd":
        return _array(obj)
    if tag == "sc":
        return _array({**obj, "shape": []})[()]
    if tag == "tensor":
        arr = _array(obj)
        if tensor_factory is None:
            raise WireError("tensors cannot be received here")
        return tensor_factory(arr)
    if tag in ("list", "tuple", "dict"):
        items = obj.get("v")
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise WireError("bad sequence")
        kw = dict(from_handle=from_handle, tensor_factory=tensor_factory, depth=depth + 1)
        if tag == "dict":
            out = {}
            for pair in items:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise WireError("bad dict item")
                key = decode(pair[0], **kw)
                if not isinstance(key, (str, int, float, bool, type(None), tuple)):
                    raise WireError("unhashable dict key")
                out[key] = decode(pair[1], **kw)
            return out
        seq = [decode(v, **kw) for v in items]
        return seq if tag == "list" else tuple(seq)
    if tag == "h":
        if from_handle is None or type(obj.get("id")) is not int:
            raise WireError("unexpected object handle")
        return from_handle(obj)
    raise WireError(f"unknown tag {tag!r}")


# ---------------------------------------------------------------- framing
def write_frame(fd: int, message: dict) -> None:
    data = json.dumps(message, allow_nan=False).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise WireError(f"message of {len(data)} bytes is over the {MAX_FRAME}-byte limit")
    buf = memoryview(struct.pack(">Q", len(data)) + data)
    import os
    while buf:
        n = os.write(fd, buf)
        buf = buf[n:]


def parse_frame(data: bytes) -> dict:
    try:
        msg = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"malformed message ({exc.__class__.__name__})") from None
    if not isinstance(msg, dict):
        raise WireError("a message must be a JSON object")
    return msg


def read_exact(fd: int, n: int) -> bytes:
    import os
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict:
    (n,) = struct.unpack(">Q", read_exact(fd, 8))
    if n > MAX_FRAME:
        raise WireError(f"message of {n} bytes is over the {MAX_FRAME}-byte limit")
    return parse_frame(read_exact(fd, n))
