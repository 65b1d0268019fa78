"""Calling a student's function safely, and drawing test cases at grading time.

- `call(name, fn, *args)`: passes copies, so the student cannot corrupt the checker's
  data; reports an input modified in place; turns an exception or an overlong run
  inside student code into one clear CheckFailure instead of a crash.
- `rng_for(seed)`: seed=None draws fresh entropy (hidden tests at grading time); an
  integer gives the fixed cases of the visible tests. The seed is printed on failure
  so that an instructor can replay a case.
"""
from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import traceback

import numpy as np

from .checks import CheckFailure, check_unchanged

TIME_LIMIT_S = 20


@contextlib.contextmanager
def time_limit(seconds: int, name: str):
    """Raise CheckFailure if the block runs longer than `seconds` (main thread, Unix)."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise CheckFailure(f"{name} did not finish within {seconds} s on a small input: "
                           "an infinite loop, or a loop over every element?")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


def call(name: str, fn, *args, arg_names: tuple = (), **kwargs):
    """Call student function `fn` on copies of args; return its result."""
    if not callable(fn):
        raise CheckFailure(f"{name} is not a function (got {type(fn).__name__}).")
    copies = [_copy(a) for a in args]
    kw_copies = {k: _copy(v) for k, v in kwargs.items()}
    try:
        with time_limit(TIME_LIMIT_S, name):
            result = fn(*copies, **kw_copies)
    except CheckFailure:
        raise
    except NotImplementedError:
        raise CheckFailure(f"{name} is not implemented yet (it raises NotImplementedError).")
    except Exception as exc:  # student code failed: say where, briefly
        frames = traceback.extract_tb(exc.__traceback__)
        where = ""
        for frame in reversed(frames):
            if frame.name == getattr(fn, "__name__", None) or "ipykernel" in frame.filename:
                where = f" (in {frame.name}, line {frame.lineno}: `{(frame.line or '').strip()}`)"
                break
        raise CheckFailure(f"{name} raised {type(exc).__name__}: {exc}{where}") from None
    for i, (orig, copy) in enumerate(zip(args, copies)):
        label = arg_names[i] if i < len(arg_names) else f"argument {i + 1}"
        if isinstance(orig, np.ndarray):
            check_unchanged(label, orig, copy)
        elif isinstance(orig, dict):
            for key, value in orig.items():
                if isinstance(value, np.ndarray) and isinstance(copy.get(key), np.ndarray):
                    check_unchanged(f"{label}['{key}']", value, copy[key])
    return result


def unpack(name: str, result, n: int) -> tuple:
    """Check that a function returned a tuple of n items."""
    if not isinstance(result, tuple) or len(result) != n:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise CheckFailure(f"{name} must return a tuple of {n} values, got {got}.")
    return result


def case_seeds(seed, case, visible, hidden):
    """The cases a check runs, as [(kind, Generator, seed)].

    seed=None (hidden tests): every kind in `hidden`, each with its own fresh seed, so a
    failure message names the one seed and kind that reproduce it. An integer seed (the
    visible test, or a replay): one case of kind `case` (default: the first visible kind).
    """
    if seed is None:
        seeds = [secrets.randbits(32) for _ in hidden]
        return [(kind, np.random.default_rng(s), s) for kind, s in zip(hidden, seeds)]
    kind = case or visible[0]
    return [(kind, np.random.default_rng(seed), seed)]


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


def rng_for(seed):
    """(Generator, seed): fresh entropy when seed is None."""
    if seed is None:
        seed = secrets.randbits(32)
    return np.random.default_rng(seed), seed


def with_seed(message: str, seed, case: str, kind: str | None = None) -> str:
    replay = f"seed={seed}" + (f", case={kind!r}" if kind else "")
    return f"{message}\n[{case}; replay with {replay}]"
