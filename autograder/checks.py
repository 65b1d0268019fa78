"""Strict, fair comparisons of a student's arrays with a reference, with messages that help.

Strict: the type must be a numpy array (not a list, a tensor or a subclass), the dtype
float64, the shape exactly the expected one (no broadcasting), every value finite.
Fair: a right answer computed in another (correct) order never fails (see TOLERANCE).
Helpful: a mismatch raises `CheckFailure` whose message names the array, the worst entry
(indices 0-based, as in numpy), the error, and the known mistake(s) that produce exactly
this result; `CheckFailure.causes` lists short stable names of those causes (the class
report counts them). The message never contains test inputs.
"""
from __future__ import annotations

from itertools import combinations
from typing import Callable, Mapping, Sequence

import numpy as np

EPS = np.finfo(np.float64).eps
# TOLERANCE. An entry passes when |got - expected| <= ATOL + RTOL * |expected|, with
#   ATOL = ATOL_ULPS * eps * scale,  scale = max |expected| (or a check's own scale).
# Why: the rounding error of a float64 computation is a few eps times the magnitudes of the
# numbers it combines, not times the result. A saturated tanh unit has 1 - h**2 ~ 1e-10
# computed with an absolute error of ~eps (np.tanh and torch.tanh differ in the last
# digit), so its entries carry a relative error of 1e-6 while the array's large entries
# carry 1e-15: an absolute floor proportional to the array's largest entry accepts both.
# ATOL_ULPS = 2**12 allows ~4000 roundings of the largest magnitude (sums over N*T terms,
# chains of T steps); RTOL = 1e-9 covers a large entry whose terms partly cancel. Where a
# result is much smaller than the terms it sums (the softmax Jacobian, softmax - onehot), a
# check passes the terms' magnitude as `scale`. scripts/bench_fairness.py re-draws every hidden
# test against the masters and alternative correct implementations (tests/alternatives.py):
# their worst error stays below 1/30 of this tolerance, and every known mistake a test can see
# is rejected in every draw (run it for the figures).
ATOL_ULPS = 2.0 ** 12
RTOL = 1e-9
# A wrong answer "matches" a known mistake when it agrees with the mistake's result to this
# (normwise, relative to the largest entry): loose enough for any operation order.
MATCH = 1e-6


class CheckFailure(AssertionError):
    """A student's result is wrong. `str(exc)` is safe to show to the student;
    `exc.causes` names the diagnosed causes (short, stable), [] when none is known."""

    def __init__(self, message: str, causes: Sequence[str] = ()):
        super().__init__(message)
        self.causes = list(causes)

    def __reduce__(self):  # picklable with its causes (the judge sends it between processes)
        return type(self), (str(self), self.causes)


def tolerance(expected: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The elementwise tolerance ATOL + RTOL * |expected| (see TOLERANCE above)."""
    expected = np.asarray(expected, dtype=np.float64)
    if scale is None:
        scale = float(np.max(np.abs(expected), initial=0.0))
    return ATOL_ULPS * EPS * (scale if scale > 0 else 1.0) + RTOL * np.abs(expected)


def excess(got, expected, scale=None) -> float:
    """max |got - expected| / tolerance: <= 1 passes. inf for a shape mismatch."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return float("inf")
    with np.errstate(invalid="ignore"):
        r = np.abs(got - expected) / tolerance(expected, scale)
    return float(np.max(np.where(np.isnan(r), np.inf, r), initial=0.0))


def rel_error(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Elementwise relative error |a - b| / max(|a| + |b|, 1e-300), for messages."""
    return np.abs(got - expected) / np.maximum(np.abs(got) + np.abs(expected), 1e-300)


def describe_index(index: tuple, axes: Sequence[str] | None, name: str = "") -> str:
    """'[N=1, T=0, H=2] (0-based: dh[1, 0, 2])'. Every index in every message is 0-based."""
    if not index:
        return "the scalar"
    flat = ", ".join(str(int(i)) for i in index)
    if axes and len(axes) == len(index):
        named = ", ".join(f"{a}={int(i)}" for a, i in zip(axes, index))
        return f"[{named}] (0-based: {name}[{flat}])" if name else f"[{named}] (0-based)"
    return f"{name}[{flat}] (0-based)" if name else f"index ({flat}) (0-based)"


def _plain(name: str) -> str:
    """'h (from rnn_forward)' -> 'h': the array's name for index expressions."""
    return name.split(" ")[0]


def check_type(name: str, value, *, shape: tuple | None = None, dtype=np.float64,
               all_masked: np.ndarray | None = None) -> np.ndarray:
    """Raise CheckFailure unless `value` is a finite float64 ndarray of `shape`."""
    if value is None:
        raise CheckFailure(f"{name} is None: did you forget a `return`, or leave the "
                           "function body unfinished?", ["returned_none"])
    if type(value) is not np.ndarray:
        if isinstance(value, (float, int, np.generic)) and shape == () and \
                not isinstance(value, (bool, np.bool_)):
            value = np.asarray(value, dtype=dtype)
        else:
            kind = type(value).__module__ + "." + type(value).__qualname__
            hint = " (a torch tensor: this part must be written in numpy)" \
                if kind.startswith("torch.") else ""
            raise CheckFailure(f"{name} must be a numpy array, got {kind}{hint}.",
                               ["not_an_ndarray"])
    if dtype is not None and value.dtype != dtype:
        raise CheckFailure(f"{name} has dtype {value.dtype}, expected {np.dtype(dtype)}: keep "
                           "every computation in float64 (do not cast to float32 or int).",
                           ["wrong_dtype"])
    if shape is not None and value.shape != tuple(shape):
        hint, cause = "", "wrong_shape"
        if len(shape) == 2 and value.shape == tuple(shape)[::-1]:
            hint, cause = " It has the transposed shape: did you transpose a weight matrix?", \
                "transposed_shape"
        elif value.size == int(np.prod(shape)):
            hint = " Same number of elements: a reshape or an axis order is off."
        elif value.ndim != len(shape):
            hint = f" It has {value.ndim} axes instead of {len(shape)}: a sum over the " \
                   "wrong axis or a missing/extra axis?"
        raise CheckFailure(f"{name} has shape {value.shape}, expected {tuple(shape)}.{hint}",
                           [cause])
    if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
        bad = ~np.isfinite(value)
        if all_masked is not None and bad.any() and np.all(all_masked[bad]):
            raise CheckFailure(f"{name} contains NaN only in rows whose entries are all masked "
                               "(all -inf): exp(x - max) with max = -inf is exp(nan); such a "
                               "row must come out as zeros.", ["all_masked_row_nan"])
        raise CheckFailure(f"{name} contains NaN or inf: an overflow (exp of a large number?) "
                           "or a division by zero.", ["nonfinite"])
    return value


class Mistakes:
    """The known mistakes of one result, expressed one way.

    messages: name -> what the mistake is, in words ("the tanh derivative ... is left out").
    wrong(names): the result of a solution that makes every mistake in `names` (a frozenset),
        or None where that combination does not apply. Called only after a check has failed:
        first for each mistake, then, if none fits, for each pair (two mistakes at once).
    """

    def __init__(self, messages: Mapping[str, str], wrong: Callable[[frozenset], object],
                 pairs: bool = True):
        self.messages, self._wrong, self.pairs = dict(messages), wrong, pairs
        self._memo: dict = {}

    def wrong(self, names: frozenset):
        if names not in self._memo:
            try:
                value = self._wrong(names)
            except Exception:  # a combination the model cannot express: no diagnosis
                value = None
            self._memo[names] = None if value is None else np.asarray(value, dtype=np.float64)
        return self._memo[names]

    @classmethod
    def of(cls, table: Mapping[str, tuple]) -> "Mistakes":
        """From {name: (message, value or a function returning it)}: single mistakes only."""
        def wrong(names):
            (name,) = names
            value = table[name][1]
            return value() if callable(value) else value
        return cls({k: v[0] for k, v in table.items()}, wrong, pairs=False)

    def matching(self, got: np.ndarray, expected: np.ndarray, scale) -> tuple[list[str], bool]:
        """The mistakes whose result equals `got`: every single mistake that does (several
        when they coincide on this case), else the first pair that does, else []; and
        whether it is a pair (two mistakes at once)."""
        def fits(names):
            cand = self.wrong(frozenset(names))
            if cand is None or cand.shape != got.shape or excess(cand, expected, scale) <= 1:
                return False  # not applicable here, or indistinguishable from the right answer
            size = max(float(np.max(np.abs(cand), initial=0.0)), 1e-300)
            return bool(np.max(np.abs(got - cand), initial=0.0) <= MATCH * size)
        singles = [k for k in self.messages if fits((k,))]
        if singles or not self.pairs:
            return singles, False
        for pair in combinations(self.messages, 2):
            if fits(pair):
                return list(pair), True
        return [], False


def _generic_diagnosis(got, expected, axes, tol) -> tuple[str, str]:
    """(message, cause) for a wrong array that matches no known mistake; ('', '') if none."""
    def close(a, b):
        return a.shape == b.shape and bool(np.all(np.abs(a - b) <= 1e3 * tol))

    if got.ndim == 2 and got.shape[0] == got.shape[1] and close(got, expected.T):
        return ("It equals the transpose of the right answer: check the order of a matrix "
                "product (W.T @ x versus x @ W) or which weight is transposed.", "transposed")
    if close(got, -expected):
        return "It has the right magnitude but the opposite sign.", "sign_flipped"
    if not np.any(got):
        return "It is all zeros: is this gradient ever accumulated?", "all_zeros"
    big = np.abs(expected) > 1e-3 * np.max(np.abs(expected), initial=0.0)
    if np.count_nonzero(big) > 1:
        ratio = got[big] / expected[big]
        r = float(ratio.mean())
        if np.ptp(ratio) < 1e-6 * max(1.0, abs(r)) and abs(r - 1) > 1e-3:
            return (f"It is the right answer times {r:.4g}: a missing or extra average over "
                    "the batch or over time, or a factor in the loss?", "scaled")
    if axes and "T" in axes and got.shape[axes.index("T")] > 1:
        t_axis = axes.index("T")
        other = tuple(i for i in range(got.ndim) if i != t_axis)
        per_t = np.any(np.abs(got - expected) > tol, axis=other)
        if not per_t[-1] and per_t[:-1].any():
            return ("It is right at the last time step but wrong before it: the gradient "
                    "flowing back from step t+1 (through h_t) is not carried across time, "
                    "or not added to the gradient from the output at step t.",
                    "wrong_before_last_step")
        if per_t[-1] and not per_t[:-1].any():
            return "It is wrong only at the last time step.", "wrong_at_last_step_only"
    return "", ""


def check_close(name: str, got, expected: np.ndarray, *,
                axes: Sequence[str] | None = None,
                known: Mistakes | None = None,
                scale: float | None = None,
                all_masked: np.ndarray | None = None,
                where: Callable[[tuple], str] | None = None) -> None:
    """Raise CheckFailure unless `got` equals `expected` within TOLERANCE (strict type,
    dtype and shape).

    axes: names of the axes of `expected`, e.g. ("N", "T", "H"), for the message.
    known: the known mistakes of this result.
    scale: the magnitude the rounding errors scale with, when max |expected| is not it.
    all_masked: bool array like `expected`, True in rows that are entirely masked.
    where: extra words about the worst index (e.g. which gate a row belongs to).
    """
    expected = np.asarray(expected, dtype=np.float64)
    got = check_type(name, got, shape=expected.shape, all_masked=all_masked)
    tol = tolerance(expected, scale)
    if AUDIT is not None:
        AUDIT(got, expected, scale, known)
    diff = np.abs(got - expected)
    if np.all(diff <= tol):
        return
    over = diff / tol
    index = np.unravel_index(int(np.argmax(over)), over.shape) if over.ndim else ()
    index = tuple(int(i) for i in index)
    n_bad = int(np.count_nonzero(diff > tol))
    msg = (f"{name} is wrong at {describe_index(index, axes, _plain(name))}: got "
           f"{float(got[index]):.6g}, expected {float(expected[index]):.6g} (relative error "
           f"{float(rel_error(got[index], expected[index])):.2g}); {n_bad} of {diff.size} "
           "entries differ.")
    tail = where(index) if where is not None else ""
    tail = " " + tail if tail else ""
    causes, pair = known.matching(got, expected, scale) if known is not None else ([], False)
    if causes:
        said = (" and when " if pair else ", or when ").join(known.messages[c] for c in causes)
        both = " (two mistakes at once)" if pair else ""
        raise CheckFailure(f"{msg} It matches what one gets when {said}{both}.{tail}", causes)
    hint, cause = _generic_diagnosis(got, expected, axes, tol)
    raise CheckFailure(msg + (" " + hint if hint else "") + tail, [cause] if cause else [])


# Set only by the fairness audit (tests/fairness.py): called as AUDIT(got, expected, scale,
# known) on every comparison, to measure margins and which known mistakes would be caught.
AUDIT = None
