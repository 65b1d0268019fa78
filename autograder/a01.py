"""Checks for assignment a01 (a numpy RNN and its backward pass through time).

Every check takes the student's functions and a `seed`: an integer gives the fixed
cases of the visible tests; `seed=None` (the hidden tests) draws new shapes and values
at grading time, including the edge cases T = 1, N = 1 and saturated tanh units.
Gradients are compared one at a time against torch autograd in float64.

Student conventions (see the assignment): batch-first arrays, weights stored (out, in):
    a_t = x_t @ W_xh.T + h_{t-1} @ W_hh.T + b_h,   h_t = tanh(a_t)
"""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .checks import CheckFailure, check_close
from .gradcheck import torch_vjp
from .harness import call, case_seeds, distinct_sizes, unpack, with_seed

STEP_GRADS = ("dx", "dh_prev", "dW_xh", "dW_hh", "db_h")
SEQ_GRADS = ("dx", "dh0", "dW_xh", "dW_hh", "db_h")
CASES_VISIBLE = ("regular",)
CASES_HIDDEN = ("regular", "regular", "single", "saturated")

_AXES = {"x": ("N", "D"), "h_prev": ("N", "H"), "W_xh": ("H", "D"), "W_hh": ("H", "H"),
         "b_h": ("H",), "h0": ("N", "H")}


def _rnn_params(rng, kind):
    if kind == "single":
        N, T = 1, 1
        D, H = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    else:
        N, T, D, H = distinct_sizes(rng, (2, 5), (2, 7), (2, 6), (2, 7))
    scale = 3.0 if kind == "saturated" else 0.7
    p = {
        "x": rng.standard_normal((N, T, D)),
        "h0": 0.5 * rng.standard_normal((N, H)),
        "W_xh": scale * rng.standard_normal((H, D)) / np.sqrt(D),
        "W_hh": scale * rng.standard_normal((H, H)) / np.sqrt(H),
        "b_h": 0.1 * rng.standard_normal(H),
    }
    return p, (N, T, D, H)


def _label(kind, dims):
    N, T, D, H = dims
    return f"{kind} case N={N}, T={T}, D={D}, H={H}"


def _ok(what, n):
    print(f"{what}: OK ({n} case{'s' if n > 1 else ''})")


# ---------------------------------------------------------------- single step
def _step_inputs(p):
    return {"x": p["x"][:, 0], "h_prev": p["h0"], "W_xh": p["W_xh"], "W_hh": p["W_hh"],
            "b_h": p["b_h"]}


def _student_step_forward(fn, inp):
    out = call("rnn_step_forward", fn, *inp.values(), arg_names=tuple(inp))
    h_next, cache = unpack("rnn_step_forward", out, 2)
    return h_next, cache


def check_rnn_step_forward(rnn_step_forward, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        p, dims = _rnn_params(rng, kind)
        inp = _step_inputs(p)
        _, expected = torch_vjp(ref.rnn_step, inp, None, wrt=[])
        try:
            h_next, _ = _student_step_forward(rnn_step_forward, inp)
            check_close("h_next", h_next, expected, axes=("N", "H"))
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, _label(kind, dims), kind)) from None
    _ok("rnn_step_forward", len(cases))


def check_rnn_step_backward(rnn_step_forward, rnn_step_backward, grad, seed=None, case=None):
    """Check one gradient (one of STEP_GRADS) of rnn_step_backward."""
    if grad not in STEP_GRADS:
        raise ValueError(f"grad must be one of {STEP_GRADS}")
    name = {"dx": "x", "dh_prev": "h_prev", "dW_xh": "W_xh", "dW_hh": "W_hh", "db_h": "b_h"}[grad]
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        p, dims = _rnn_params(rng, kind)
        inp = _step_inputs(p)
        N, _, _, H = dims
        dh_next = rng.standard_normal((N, H))
        grads, h_ref = torch_vjp(ref.rnn_step, inp, dh_next)
        wrong, _ = torch_vjp(lambda **k: ref.rnn_step(**k, mistake="no_tanh_derivative"),
                             inp, dh_next)
        try:
            h_next, cache = _student_step_forward(rnn_step_forward, inp)
            check_close("h_next (from rnn_step_forward, needed first)", h_next, h_ref)
            out = call("rnn_step_backward", rnn_step_backward, dh_next, cache,
                       arg_names=("dh_next", "cache"))
            got = unpack("rnn_step_backward", out, 5)[STEP_GRADS.index(grad)]
            check_close(grad, got, grads[name], axes=_AXES[name],
                        known={"the tanh derivative (1 - h**2) is left out": wrong[name]})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, _label(kind, dims), kind)) from None
    _ok(f"rnn_step_backward {grad}", len(cases))


# ---------------------------------------------------------------- whole sequence
def _student_forward(fn, p):
    inp = {k: p[k] for k in ("x", "h0", "W_xh", "W_hh", "b_h")}
    out = call("rnn_forward", fn, *inp.values(), arg_names=tuple(inp))
    return unpack("rnn_forward", out, 2)


def check_rnn_forward(rnn_forward, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        p, dims = _rnn_params(rng, kind)
        _, expected = torch_vjp(ref.rnn_forward, p, None, wrt=[])
        try:
            h, _ = _student_forward(rnn_forward, p)
            check_close("h", h, expected, axes=("N", "T", "H"))
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, _label(kind, dims), kind)) from None
    _ok("rnn_forward", len(cases))


def check_rnn_backward(rnn_forward, rnn_backward, grad, seed=None, case=None):
    """Check one gradient (one of SEQ_GRADS) of rnn_backward, the full BPTT."""
    if grad not in SEQ_GRADS:
        raise ValueError(f"grad must be one of {SEQ_GRADS}")
    name = {"dx": "x", "dh0": "h0", "dW_xh": "W_xh", "dW_hh": "W_hh", "db_h": "b_h"}[grad]
    axes = {"x": ("N", "T", "D")}.get(name, _AXES[name])
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        p, dims = _rnn_params(rng, kind)
        N, T, _, H = dims
        dh = rng.standard_normal((N, T, H))
        grads, h_ref = torch_vjp(ref.rnn_forward, p, dh)
        known = {}
        for cause, mistake in (("the tanh derivative (1 - h**2) is left out",
                                "no_tanh_derivative"),
                               ("the gradient from step t+1 is not carried back to step t",
                                "no_carry")):
            g, _ = torch_vjp(lambda **k: ref.rnn_forward(**k, mistake=mistake), p, dh)
            known[cause] = g[name]
        try:
            h, cache = _student_forward(rnn_forward, p)
            check_close("h (from rnn_forward, needed first)", h, h_ref)
            out = call("rnn_backward", rnn_backward, dh, cache, arg_names=("dh", "cache"))
            got = unpack("rnn_backward", out, 5)[SEQ_GRADS.index(grad)]
            check_close(grad, got, grads[name], axes=axes, known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, _label(kind, dims), kind)) from None
    _ok(f"rnn_backward {grad}", len(cases))


# ---------------------------------------------------------------- loss
def _loss_case(rng, kind):
    if kind == "single":
        N, T, C = 1, 1, int(rng.integers(3, 9))
    else:
        N, T, C = distinct_sizes(rng, (2, 6), (2, 7), (3, 9))
    scale = 400.0 if kind == "saturated" else 2.0  # large logits overflow a naive exp
    logits = scale * rng.standard_normal((N, T, C))
    y = rng.integers(0, C, size=(N, T))
    mask = rng.random((N, T)) < 0.7
    if kind == "single" or not mask.any():
        mask[:] = True
    elif mask.all():
        mask[0, -1] = False  # always some padding, so an ignored mask is caught
    return logits, y, mask, (N, T, C)


def check_temporal_softmax_loss(temporal_softmax_loss, part, seed=None, case=None):
    """part: "loss" (the value) or "dlogits" (its gradient)."""
    import torch

    if part not in ("loss", "dlogits"):
        raise ValueError("part must be 'loss' or 'dlogits'")
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        logits, y, mask, (N, T, C) = _loss_case(rng, kind)
        grads, loss_ref = torch_vjp(
            lambda logits: ref.temporal_softmax_loss(logits, torch.tensor(y), torch.tensor(mask)),
            {"logits": logits}, None)
        nomask, _ = torch_vjp(
            lambda logits: ref.temporal_softmax_loss(logits, torch.tensor(y),
                                                     torch.ones(N, T, dtype=torch.bool)),
            {"logits": logits}, None)
        label = f"{kind} case N={N}, T={T}, C={C}, {int(mask.sum())} of {mask.size} steps unmasked"
        try:
            out = call("temporal_softmax_loss", temporal_softmax_loss, logits, y, mask,
                       arg_names=("logits", "y", "mask"))
            loss, dlogits = unpack("temporal_softmax_loss", out, 2)
            if part == "loss":
                check_close("loss", loss, np.asarray(loss_ref),
                            known={"the mask is ignored": None})
            else:
                check_close("dlogits", dlogits, grads["logits"], axes=("N", "T", "C"),
                            known={"the mask is ignored": nomask["logits"],
                                   "the loss is not divided by N": grads["logits"] * N,
                                   "the loss is averaged over N*T":
                                       grads["logits"] / T if T > 1 else None})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"temporal_softmax_loss {part}", len(cases))


# ---------------------------------------------------------------- clipping
def check_clip_grad_norm(clip_grad_norm, seed=None, case=None):
    """clip_grad_norm(grads: dict, max_norm) -> (clipped: dict, total_norm: float)."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN + ("below",))
    for kind, rng, seed in cases:
        shapes = {"dW_xh": (int(rng.integers(1, 5)), int(rng.integers(1, 5))),
                  "dW_hh": (3, 3), "db_h": (int(rng.integers(1, 5)),)}
        grads = {k: rng.standard_normal(s) * (50 if kind == "saturated" else 2)
                 for k, s in shapes.items()}
        total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
        max_norm = total * (2.0 if kind == "below" else float(rng.uniform(0.1, 0.9)))
        scale = min(1.0, max_norm / total)
        label = f"{kind} case: total norm {'below' if kind == 'below' else 'above'} max_norm"
        try:
            out = call("clip_grad_norm", clip_grad_norm, grads, max_norm,
                       arg_names=("grads", "max_norm"))
            clipped, norm = unpack("clip_grad_norm", out, 2)
            if not isinstance(clipped, dict) or set(clipped) != set(grads):
                raise CheckFailure("clip_grad_norm must return a dict with the same keys "
                                   f"as its input ({sorted(grads)}).")
            check_close("total_norm", norm, np.asarray(total),
                        known={"the norm is taken per array, not over all arrays": None})
            for k in grads:
                per_array = grads[k] * min(1.0, max_norm / np.linalg.norm(grads[k]))
                check_close(f"clipped['{k}']", clipped[k], grads[k] * scale,
                            known={"each array is clipped by its own norm instead of the "
                                   "global norm": per_array,
                                   "values are clipped elementwise (clip by value)":
                                       np.clip(grads[k], -max_norm, max_norm)})
            for k, g in grads.items():
                if clipped[k] is g:
                    raise CheckFailure("clip_grad_norm returned the input array itself; "
                                       "return new arrays.")
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok("clip_grad_norm", len(cases))
