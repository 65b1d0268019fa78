"""Strict comparisons of a student's arrays with a reference, with messages that help.

Every check here is strict: the type must be a numpy array (not a list, a tensor or a
subclass), the dtype float64, the shape exactly the expected one (no broadcasting), and
every value finite. A mismatch raises `CheckFailure` with a message that names the array,
the worst index (and time step, for arrays with a time axis), the relative error, and the
usual cause of that kind of mistake. The message never contains test inputs.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

# Elementwise relative error below this counts as equal. Float64 references computed
# by torch autograd agree with a correct numpy implementation to ~1e-14; 1e-7 leaves
# room for a different but correct order of summation.
DEFAULT_RTOL = 1e-7
# Elements whose magnitudes are both below this are compared absolutely.
ABS_FLOOR = 1e-10


class CheckFailure(AssertionError):
    """A student's result is wrong. The message is safe to show to the student."""


def rel_error(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Elementwise relative error |a - b| / max(|a| + |b|, floor)."""
    return np.abs(got - expected) / np.maximum(np.abs(got) + np.abs(expected), ABS_FLOOR)


def _describe_index(index: tuple, axes: Sequence[str] | None) -> str:
    if not index:
        return "the scalar"
    if axes and len(axes) == len(index):
        parts = []
        for name, i in zip(axes, index):
            # the book numbers time steps 1..T; arrays index them from 0
            parts.append(f"t={i + 1} (index {i})" if name == "T" else f"{name}={i}")
        return "[" + ", ".join(parts) + "]"
    return "index " + str(tuple(int(i) for i in index))


def check_type(name: str, value, *, shape: tuple | None = None,
               dtype=np.float64) -> np.ndarray:
    """Raise CheckFailure unless `value` is a finite float64 ndarray of `shape`."""
    if value is None:
        raise CheckFailure(f"{name} is None: did you forget a `return`, or leave the "
                           "function body unfinished?")
    if type(value) is not np.ndarray:
        kind = type(value).__module__ + "." + type(value).__qualname__
        if kind.startswith("torch."):
            hint = " (a torch tensor: this part must be written in numpy)"
        elif isinstance(value, np.generic) and shape == ():
            return np.asarray(value, dtype=dtype) if np.isfinite(value) else \
                _nonfinite(name)
        elif isinstance(value, (float, int)) and shape == ():
            if not np.isfinite(value):
                _nonfinite(name)
            return np.asarray(value, dtype=dtype)
        else:
            hint = ""
        raise CheckFailure(f"{name} must be a numpy array, got {kind}{hint}.")
    if dtype is not None and value.dtype != dtype:
        raise CheckFailure(f"{name} has dtype {value.dtype}, expected {np.dtype(dtype)}: "
                           "keep every computation in float64 (do not cast to float32 or int).")
    if shape is not None and value.shape != tuple(shape):
        hint = ""
        if len(shape) == 2 and value.shape == tuple(shape)[::-1]:
            hint = " It has the transposed shape: did you transpose a weight matrix?"
        elif value.size == int(np.prod(shape)):
            hint = " Same number of elements: a reshape or an axis order is off."
        elif value.ndim != len(shape):
            hint = f" It has {value.ndim} axes instead of {len(shape)}: a sum over the " \
                   "wrong axis or a missing/extra axis?"
        raise CheckFailure(f"{name} has shape {value.shape}, expected {tuple(shape)}.{hint}")
    if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
        _nonfinite(name)
    return value


def _nonfinite(name):
    raise CheckFailure(f"{name} contains NaN or inf: an overflow (exp of a large number?) "
                       "or a division by zero.")


def _diagnose(name: str, got: np.ndarray, expected: np.ndarray,
              axes: Sequence[str] | None, known: Mapping[str, np.ndarray] | None,
              rtol: float) -> str:
    """Guess the usual cause of a wrong array. Returns '' when nothing fits."""
    def close(a, b):
        return a.shape == b.shape and float(np.max(rel_error(a, b), initial=0.0)) < 1e-6

    causes = [cause for cause, candidate in (known or {}).items()
              if candidate is not None and close(got, np.asarray(candidate))]
    if causes:
        return f"It matches what one gets when {', or when '.join(causes)}."
    if got.ndim == 2 and got.shape[0] == got.shape[1] and close(got, expected.T):
        return "It equals the transpose of the right answer: check the order of a " \
               "matrix product (W.T @ x versus x @ W) or which weight is transposed."
    if close(got, -expected):
        return "It has the right magnitude but the opposite sign."
    if close(got, np.zeros_like(expected)):
        return "It is all zeros: is this gradient ever accumulated?"
    nonzero = np.abs(expected) > 1e-8
    if np.count_nonzero(nonzero) > 1:
        ratio = got[nonzero] / expected[nonzero]
        if np.ptp(ratio) < 1e-6 * max(1.0, abs(float(ratio.mean()))):
            return (f"It is the right answer times {ratio.mean():.4g}: a missing or extra "
                    "average over the batch or over time, or a factor in the loss?")
    if axes and "T" in axes and got.shape[axes.index("T")] > 1:
        t_axis = axes.index("T")
        other = tuple(i for i in range(got.ndim) if i != t_axis)
        per_t = np.max(rel_error(got, expected), axis=other) > rtol
        if not per_t[-1] and per_t[:-1].any():
            return ("It is right at the last time step but wrong before it: the gradient "
                    "flowing back from step t+1 (through h_t) is not carried across time, "
                    "or not added to the gradient from the output at step t.")
        if per_t[-1] and not per_t[:-1].any():
            return "It is wrong only at the last time step."
    return ""


def check_close(name: str, got, expected: np.ndarray, *,
                axes: Sequence[str] | None = None,
                known: Mapping[str, np.ndarray] | None = None,
                rtol: float = DEFAULT_RTOL) -> None:
    """Raise CheckFailure unless `got` equals `expected` (strict type, dtype and shape).

    axes: names of the axes of `expected`, e.g. ("N", "T", "H"); "T" is reported as t=...
    known: cause -> the array a well-known mistake produces, used for the hint.
    """
    expected = np.asarray(expected)
    got = check_type(name, got, shape=expected.shape)
    err = rel_error(got, expected)
    worst = float(np.max(err, initial=0.0))
    if worst <= rtol:
        return
    index = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    where = _describe_index(tuple(int(i) for i in index), axes)
    n_bad = int(np.count_nonzero(err > rtol))
    msg = (f"{name} is wrong at {where}: relative error {worst:.2g} "
           f"(got {float(got[index]):.6g}, expected {float(expected[index]):.6g}); "
           f"{n_bad} of {err.size} entries differ.")
    hint = _diagnose(name, got, expected, axes, known, rtol)
    raise CheckFailure(msg + (" " + hint if hint else ""))


def check_unchanged(name: str, before: np.ndarray, after: np.ndarray) -> None:
    """Raise CheckFailure if an input array was modified in place."""
    if not np.array_equal(before, after):
        raise CheckFailure(f"your function modified its input `{name}` in place; work on "
                           "a copy (e.g. x = x.copy()) so the caller's data stays intact.")
