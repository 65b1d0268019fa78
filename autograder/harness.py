"""Calling a student's function safely, and the one case driver of every assignment.

- `call(name, fn, *args)`: passes copies, so the student cannot corrupt the checker's data;
  turns an exception or an overlong run inside student code into one clear CheckFailure.
  An input modified in place does not fail a right answer (the student worked on a copy);
  if the answer is wrong, the message says the input was modified.
- `run_cases(what, seed, case, body)`: the replay API of every check. seed=None (hidden
  tests, at grading time) runs one case of each kind in `hidden`, each with its own fresh
  seed; an integer seed (visible tests, or a replay) runs one case of kind `case` (default:
  the first kind). A failure message ends with `replay with seed=S, case='K'`, and
  `check_xxx(..., seed=S, case='K')` reproduces exactly that failure.
"""
from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import traceback
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .checks import CheckFailure, Mistakes, check_close
from .gradcheck import torch_vjp

TIME_LIMIT_S = 20
HIDDEN = ("regular", "regular", "single", "saturated")


@contextlib.contextmanager
def time_limit(seconds: int, name: str):
    """Raise CheckFailure if the block runs longer than `seconds` (main thread, Unix)."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise CheckFailure(f"{name} did not finish within {seconds} s on a small input: "
                           "an infinite loop, or a loop over every element?", ["timeout"])

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _copy(value):
    if hasattr(value, "clone") and hasattr(value, "detach"):  # a torch tensor
        return value.clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, True)
    if hasattr(a, "clone") and hasattr(a, "detach"):
        import torch
        return isinstance(b, torch.Tensor) and a.shape == b.shape and \
            bool(torch.all((a == b) | (a.isnan() & b.isnan())))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return True


_modified: list = []  # inputs modified in place during the current case (for the message)


def call(name: str, fn, *args, arg_names: tuple = (), **kwargs):
    """Call student function `fn` on copies of args; return its result."""
    if not callable(fn):
        raise CheckFailure(f"{name} is not a function (got {type(fn).__name__}).",
                           ["not_a_function"])
    copies = [_copy(a) for a in args]
    kw_copies = {k: _copy(v) for k, v in kwargs.items()}
    try:
        with time_limit(TIME_LIMIT_S, name):
            result = fn(*copies, **kw_copies)
    except CheckFailure:
        raise
    except NotImplementedError:
        raise CheckFailure(f"{name} is not implemented yet (it raises NotImplementedError).",
                           ["not_implemented"]) from None
    except Exception as exc:  # student code failed: say where, briefly
        frames = traceback.extract_tb(exc.__traceback__)
        where = ""
        for frame in reversed(frames):
            if frame.name == getattr(fn, "__name__", None) or "ipykernel" in frame.filename:
                where = f" (in {frame.name}, line {frame.lineno}: `{(frame.line or '').strip()}`)"
                break
        raise CheckFailure(f"{name} raised {type(exc).__name__}: {exc}{where}",
                           ["exception"]) from None
    for i, (orig, copy) in enumerate(zip(args, copies)):
        if not _same(orig, copy):
            _modified.append(f"{name} modified its input "
                             f"`{arg_names[i] if i < len(arg_names) else f'argument {i + 1}'}`")
    return result


def unpack(name: str, result, n: int) -> tuple:
    """Check that a function returned a tuple of n items."""
    if not isinstance(result, tuple) or len(result) != n:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise CheckFailure(f"{name} must return a tuple of {n} values, got {got}.",
                           ["wrong_return_arity"])
    return result


def student(name: str, fn, inputs: dict, n: int) -> tuple:
    """Call `fn(**inputs)` positionally on copies; check it returns a tuple of n items."""
    return unpack(name, call(name, fn, *inputs.values(), arg_names=tuple(inputs)), n)


def needed_first(function: str, compare) -> None:
    """Run `compare()` (a check of a function this test depends on); if it fails, say to
    fix that function first, with its own diagnosis (same message format)."""
    try:
        compare()
    except CheckFailure as e:
        raise CheckFailure(f"Fix {function} first (this test needs its result): {e}",
                           [f"fix_first:{function}"] + e.causes) from None


@dataclass
class Case:
    """One drawn test case: its kind, seed, and the generator its inputs come from."""
    kind: str
    seed: int
    rng: np.random.Generator = field(repr=False)
    label: str = ""

    def torch_generator(self):
        import torch
        return torch.Generator().manual_seed(int(self.seed))


def draw_cases(seed, case, hidden=HIDDEN) -> list[Case]:
    if seed is None:
        return [Case(kind, s, np.random.default_rng(s))
                for kind, s in ((k, secrets.randbits(32)) for k in hidden)]
    kind = case or hidden[0]
    if kind not in hidden:
        raise ValueError(f"case must be one of {sorted(set(hidden))}, got {kind!r}")
    return [Case(kind, int(seed), np.random.default_rng(int(seed)))]


def distinct_sizes(rng, *ranges) -> list:
    """One integer from each [low, high) range, all different where the ranges allow it.

    Every regular case (the visible one included) gets distinct sizes, so that a swapped
    axis, a transposed matrix or a reshape with the wrong length cannot pass by accident
    (with N == T, `x.reshape(T, N, D)` has the right shape).
    """
    taken, sizes = set(), []
    for low, high in ranges:
        free = [v for v in range(low, high) if v not in taken] or list(range(low, high))
        sizes.append(int(free[int(rng.integers(len(free)))]))
        taken.add(sizes[-1])
    return sizes


def run_cases(what: str, seed, case, body, hidden=HIDDEN) -> None:
    """Run `body(c)` for every Case drawn (see the module docstring). body sets c.label
    (the shapes, for the message) and raises CheckFailure when the student is wrong."""
    cases = draw_cases(seed, case, hidden)
    for c in cases:
        _modified.clear()
        try:
            body(c)
        except CheckFailure as e:
            msg, causes = str(e), list(e.causes)
            if _modified:
                msg += " (Note: " + "; ".join(dict.fromkeys(_modified)) + " in place.)"
                causes.append("modified_input")
            label = c.label or f"{c.kind} case"
            raise CheckFailure(f"{msg}\n[{label}; replay with seed={c.seed}, case={c.kind!r}]",
                               causes) from None
    print(f"{what}: OK ({len(cases)} case{'s' if len(cases) > 1 else ''})")


__all__ = ["CheckFailure", "check_close", "call", "unpack", "student", "needed_first",
           "Case", "draw_cases", "distinct_sizes", "run_cases", "HIDDEN", "TIME_LIMIT_S", "Mistakes",
           "grad_mistakes", "value_mistakes", "torch_vjp"]


def grad_mistakes(messages: dict, forward, inputs: dict, upstream, name: str) -> Mistakes:
    """The known mistakes of gradient `name`, from a reference `forward(..., mistakes=)`."""
    return Mistakes(messages, lambda ms: torch_vjp(partial(forward, mistakes=ms), inputs,
                                                   upstream)[0][name])


def terms_scale(forward, inputs: dict, upstream, name: str, no_derivatives: set) -> float:
    """The magnitude rounding errors of gradient `name` scale with: the same backward pass
    with every activation derivative (1 - h**2, s * (1 - s)) replaced by 1. A saturated unit's
    derivative is a difference of numbers near 1, so its absolute error is ~eps whatever its
    size; when every unit is saturated, the gradient itself is no measure of that error."""
    grads, _ = torch_vjp(partial(forward, mistakes=no_derivatives), inputs, upstream)
    return float(np.max(np.abs(grads[name]), initial=0.0))


def value_mistakes(messages: dict, forward, inputs: dict, pick=None) -> Mistakes:
    """The known mistakes of a forward value, from `forward(..., mistakes=)`; `pick`
    selects one output of a tuple."""
    def wrong(ms):
        out = torch_vjp(partial(forward, mistakes=ms), inputs, None, wrt=[])[1]
        return out if pick is None else out[pick]
    return Mistakes(messages, wrong)
