"""Gradient oracles in float64: central differences (for students) and torch autograd.

- `numeric_vjp`: central differences of any numpy function against an upstream gradient
  (the vector-Jacobian product a layer's backward computes).
- `check_grads`: the students' self-check: every gradient a backward pass returns against
  central differences, each with a max-normalised error (see its docstring for when the
  numbers can be trusted).
- `torch_vjp`: the same product from torch autograd on an equivalent torch forward, exact
  to rounding. This is the oracle the graded tests use.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

DEFAULT_STEP = 1e-5
# A max-normalised error above this is a wrong gradient. With step 1e-5 central differences
# of smooth float64 functions err by ~1e-10 of the largest gradient entry (truncation
# h^2 f''' and rounding eps |f| / h); every known mistake errs by 1e-2 or more.
SELF_CHECK_LIMIT = 1e-6


def _dot(out, upstream) -> float:
    outs = out if isinstance(out, tuple) else (out,)
    ups = upstream if isinstance(upstream, tuple) else (upstream,)
    return float(sum(np.sum(np.asarray(o) * u) for o, u in zip(outs, ups)))


def numeric_vjp(f: Callable[[], object], x: np.ndarray, upstream, h: float = DEFAULT_STEP
                ) -> np.ndarray:
    """d(sum(f() * upstream))/dx by central differences, perturbing `x` in place.

    f takes no arguments and reads `x` (closing over it); `x` is restored afterwards.
    f may return a tuple of arrays, with `upstream` a tuple of the same length.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numeric_vjp needs a float64 array, got {x.dtype}: central "
                        "differences in float32 cannot check a correct gradient reliably")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = _dot(f(), upstream)
        x[i] = old - h
        minus = _dot(f(), upstream)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def max_error(got, expected) -> float:
    """max |got - expected| / max |expected|: the error relative to the largest entry.
    Unlike an elementwise relative error it does not blow up on tiny entries (a saturated
    unit's gradient of 1e-12 carries an absolute error of ~1e-11 in central differences)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return float("inf")
    return float(np.max(np.abs(got - expected), initial=0.0) /
                 max(float(np.max(np.abs(expected), initial=0.0)), 1e-300))


def check_grads(f: Callable[[], object], inputs: Mapping[str, np.ndarray], upstream,
                grads: Sequence[np.ndarray], names: Sequence[str] | None = None) -> dict:
    """Compare EVERY gradient of a backward pass with central differences; print one line
    each and return {name: max-normalised error}.

    f(): the forward pass reading `inputs` (through a closure), returning its output(s).
    inputs: name -> the array each gradient belongs to, in the order of `grads`.
    upstream: the upstream gradient(s) given to the backward pass (a tuple if f returns one).
    A line says "ok" below SELF_CHECK_LIMIT; when the numeric gradient itself is below
    1e-7 of the outputs' size it says so instead (central differences cannot resolve it:
    the only case in which this check can cry wolf).
    """
    names = list(names or ["d" + k for k in inputs])
    if len(grads) != len(inputs):
        print(f"the backward pass returned {len(grads)} arrays, expected {len(inputs)}")
    out = f()
    size = max(float(np.max(np.abs(o), initial=0.0)) for o in
               (out if isinstance(out, tuple) else (out,)))
    errors = {}
    for name, (key, x), g in zip(names, inputs.items(), grads):
        num = numeric_vjp(f, x, upstream)
        err = errors[name] = max_error(g, num)
        if np.max(np.abs(num), initial=0.0) < 1e-7 * max(size, 1.0):
            verdict = "too small for central differences to judge"
        else:
            verdict = "ok" if err < SELF_CHECK_LIMIT else "WRONG"
        print(f"{name:>10}: max error / max |gradient| = {err:.1e}  {verdict}")
    return errors


def torch_vjp(forward: Callable, inputs: Mapping[str, np.ndarray], upstream,
              wrt: list[str] | None = None) -> tuple[dict, object]:
    """Run a torch `forward(**tensors)` in float64 and back-propagate `upstream`.

    forward may return one tensor or a tuple of tensors; `upstream` matches it
    (None for a scalar output). Returns ({name: gradient as ndarray}, outputs as ndarrays).
    """
    import torch

    wrt = list(inputs) if wrt is None else wrt
    tensors = {k: torch.tensor(np.asarray(v), dtype=torch.float64 if
                               np.asarray(v).dtype.kind == "f" else None,
                               requires_grad=k in wrt)
               for k, v in inputs.items()}
    out = forward(**tensors)
    outs = out if isinstance(out, tuple) else (out,)
    ups = upstream if isinstance(upstream, tuple) else (upstream,)
    grads_out = [None if u is None else torch.tensor(np.asarray(u), dtype=torch.float64)
                 for u in ups]
    # outputs with upstream None take no gradient, unless the output is a scalar
    pairs = [(o, g) for o, g in zip(outs, grads_out)
             if o.requires_grad and (g is not None or o.dim() == 0)]
    if pairs:
        torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
    grads = {}
    for k in wrt:
        g = tensors[k].grad
        grads[k] = np.zeros(np.shape(inputs[k])) if g is None else g.detach().numpy().copy()
    values = tuple(o.detach().numpy().copy() for o in outs)
    return grads, values if isinstance(out, tuple) else values[0]
