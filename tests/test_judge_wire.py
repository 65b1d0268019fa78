"""The judge's wire format: data round-trips exactly; anything else is refused, never run."""
import json
import struct

import numpy as np
import pytest
import torch

from autograder import wire


def roundtrip(value):
    return wire.decode(json.loads(json.dumps(wire.encode(value))),
                       tensor_factory=torch.from_numpy)


def test_data_round_trips_exactly():
    value = {"a": np.arange(6.0).reshape(2, 3), "b": (1, 2.5, None, True, "s"),
             "c": [np.float64(1e-300), np.int64(-3), np.bool_(True)], "d": float("nan"),
             "e": torch.tensor([[1.0, 2.0]], dtype=torch.float64),
             "f": torch.tril(torch.ones(3, 3, dtype=torch.bool))}
    got = roundtrip(value)
    assert type(got["a"]) is np.ndarray and np.array_equal(got["a"], value["a"])
    assert got["b"] == value["b"] and type(got["b"]) is tuple
    assert type(got["c"][0]) is np.float64 and got["c"][0] == 1e-300
    assert np.isnan(got["d"])
    assert torch.equal(got["e"], value["e"]) and got["e"].dtype == torch.float64
    assert got["f"].dtype == torch.bool and torch.equal(got["f"], value["f"])


def test_objects_are_sent_by_reference_only_where_allowed():
    class Cache:
        pass
    with pytest.raises(wire.WireError):
        wire.encode(Cache())
    sent = wire.encode([Cache()], to_handle=lambda o: {"t": "h", "id": 7})
    assert wire.decode(sent, from_handle=lambda h: ("handle", h["id"])) == [("handle", 7)]
    with pytest.raises(wire.WireError):  # a handle where none may come
        wire.decode(sent)


@pytest.mark.parametrize("bad", [
    {"t": "nd", "dtype": "|O", "shape": [1], "b": "AAAAAAAAAAA="},            # object dtype
    {"t": "nd", "dtype": "<f8", "shape": [3], "b": "AAAAAAAAAAA="},           # size mismatch
    {"t": "nd", "dtype": "<f8", "shape": [-1], "b": ""},                      # bad shape
    {"t": "pickle", "v": "gASVAAAAAAAAAAB9lC4="},                             # unknown tag
    {"t": "f", "v": "__import__('os')"},
])
def test_malformed_values_are_refused(bad):
    with pytest.raises((wire.WireError, ValueError)):
        wire.decode(bad, tensor_factory=torch.from_numpy)


def test_deep_nesting_and_huge_frames_are_refused():
    deep = {"t": "list", "v": []}
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"t": "list", "v": [deep]}
    with pytest.raises(wire.WireError):
        wire.decode(deep)
    with pytest.raises(wire.WireError):
        wire.parse_frame(b"[" * 100000 + b"]" * 100000)
    r, w = __import__("os").pipe()
    __import__("os").write(w, struct.pack(">Q", wire.MAX_FRAME + 1))
    with pytest.raises(wire.WireError):
        wire.read_frame(r)
