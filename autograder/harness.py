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


def dict_with_keys(what: str, value, keys) -> dict:
    """Check that `value` (what a function returned, named `what`) is a dict with every key."""
    keys = list(keys)
    if not isinstance(value, dict) or not set(keys) <= set(value):
        raise CheckFailure(f"{what} must be a dict with the keys {keys}; got "
                           f"{type(value).__name__}"
                           + (f" with keys {sorted(value)}" if isinstance(value, dict) else "")
                           + ".", ["wrong_keys"])
    return value


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


def forward_then_backward(forward: str, student_forward, inputs: dict, n_out: int, compare,
                          backward: str, student_backward, upstream: dict, n_grads=None):
    """The student's forward on `inputs` (a tuple of n_out, the cache last), whose outputs
    `compare(outputs)` checks first (a failure says: fix the forward first); then the
    student's backward on the upstream gradients and the cache. Returns what the backward
    returned: a tuple of n_grads, or (n_grads None) the value itself."""
    got = student(forward, student_forward, inputs, n_out)
    needed_first(forward, lambda: compare(got[:-1]))
    res = call(backward, student_backward, *upstream.values(), got[-1],
               arg_names=(*upstream, "cache"))
    return res if n_grads is None else unpack(backward, res, n_grads)


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


@dataclass(frozen=True)
class Backward:
    """A student's forward/backward pair, checked one gradient at a time against torch
    autograd on `reference` (an oracle of reference.py): the test of every hand-written
    backward pass whose gradients are plain arrays (a01, a02, a03, a06).

    outputs: the forward's outputs before its cache, {name: axes}, in the reference's order.
    upstream: the backward's arguments before the cache ("d" + an output's name).
    grads: what the backward returns, in order ("d" + an input's name); axes: {input: axes}.
    mistakes / forward_mistakes: the known mistakes of the gradients / of the outputs.
    no_derivatives: the mistakes that replace every activation derivative by 1 (terms_scale).
    where(name, index, inputs): extra words about the worst entry of a gradient.
    """
    forward: str
    backward: str
    reference: object
    outputs: dict
    upstream: tuple
    grads: tuple
    axes: dict
    mistakes: dict
    no_derivatives: frozenset = frozenset()
    forward_mistakes: dict = field(default_factory=dict)
    where: object = None

    def check(self, student_forward, student_backward, grad, seed, case, draw, hidden=HIDDEN):
        """Replay API as run_cases; draw(c) -> (inputs, {upstream name: array}).
        grad None checks the forward's outputs only."""
        if grad is not None and grad not in self.grads:
            raise ValueError(f"grad must be one of {self.grads}")
        outs = list(self.outputs)
        one = len(outs) == 1

        def body(c):
            inputs, upstream = draw(c)
            ups = tuple(upstream.get("d" + o) for o in outs)
            ups = ups[0] if one else ups
            grads, refs = torch_vjp(self.reference, inputs, ups, wrt=None if grad else [])

            def outputs(got):
                for i, o in enumerate(outs):
                    check_close(o, got[i], refs if one else refs[i], axes=self.outputs[o],
                                known=value_mistakes(self.forward_mistakes, self.reference,
                                                     inputs, None if one else i))
            if grad is None:
                return outputs(student(self.forward, student_forward, inputs, len(outs) + 1))
            value = forward_then_backward(
                self.forward, student_forward, inputs, len(outs) + 1, outputs, self.backward,
                student_backward, upstream, len(self.grads))[self.grads.index(grad)]
            name = grad[1:]
            check_close(grad, value, grads[name], axes=self.axes.get(name),
                        where=self.where and partial(self.where, name, inputs=inputs),
                        scale=terms_scale(self.reference, inputs, ups, name, self.no_derivatives,
                                          grads[name]),
                        known=grad_mistakes(self.mistakes, self.reference, inputs, ups, name))
        run_cases(f"{self.backward} {grad}" if grad else self.forward, seed, case, body, hidden)


def grad_mistakes(messages: dict, forward, inputs: dict, upstream, name: str) -> Mistakes:
    """The known mistakes of gradient `name`, from a reference `forward(..., mistakes=)`."""
    return Mistakes(messages, lambda ms: torch_vjp(partial(forward, mistakes=ms), inputs,
                                                   upstream)[0][name])


def terms_scale(forward, inputs: dict, upstream, name: str, without, *also) -> float | None:
    """The magnitude rounding errors of gradient `name` scale with where the result cancels
    its terms: the largest entry of the same gradient computed with the mistakes `without`
    (every activation derivative 1 - h**2, s * (1 - s) replaced by 1; the softmax backward
    without its subtracted sum term), and of the arrays `also` (the gradient itself). A
    saturated unit's derivative is a difference of numbers near 1, with an absolute error of
    ~eps whatever its size; w * (dw - sum(w * dw)) can be far smaller than w * dw. When
    everything cancels, the result itself is no measure of its rounding error."""
    if not without:
        return None  # the gradient's own largest entry (check_close's default)
    grads, _ = torch_vjp(partial(forward, mistakes=without), inputs, upstream)
    return max(float(np.max(np.abs(a), initial=0.0)) for a in (grads[name], *also))


def value_mistakes(messages: dict, forward, inputs: dict, pick=None) -> Mistakes:
    """The known mistakes of a forward value, from `forward(..., mistakes=)`; `pick`
    selects one output of a tuple."""
    def wrong(ms):
        out = torch_vjp(partial(forward, mistakes=ms), inputs, None, wrt=[])[1]
        return out if pick is None else out[pick]
    return Mistakes(messages, wrong)
