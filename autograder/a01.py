"""Checks for assignment a01 (a numpy RNN and its backward pass through time).

Every check takes the student's functions, a `seed` and a `case` (see harness.run_cases):
seed=0 is the visible case; seed=None (hidden tests) draws new shapes and values at grading
time, including T = 1, N = 1 and saturated tanh units. Gradients are compared one at a
time against torch autograd in float64.

Student conventions (see the assignment): batch-first arrays, weights stored (out, in):
    a_t = x_t @ W_xh.T + h_{t-1} @ W_hh.T + b_h,   h_t = tanh(a_t)
"""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .harness import (Backward, Mistakes, call, check_close, dict_with_keys, distinct_sizes,
                      run_cases, torch_vjp, unpack, HIDDEN)

STEP_GRADS = ("dx", "dh_prev", "dW_xh", "dW_hh", "db_h")
SEQ_GRADS = ("dx", "dh0", "dW_xh", "dW_hh", "db_h")
CASES_HIDDEN = HIDDEN
_AXES = {"x": ("N", "D"), "h_prev": ("N", "H"), "W_xh": ("H", "D"), "W_hh": ("H", "H"),
         "b_h": ("H",), "h0": ("N", "H")}
TANH = {"no_tanh_derivative": "the tanh derivative (1 - h**2) is left out"}
CARRY = {"no_carry": "the gradient from step t+1 is not carried back to step t"}


def _draw(c):
    """rnn_forward's arguments (x, h0, W_xh, W_hh, b_h) and the sizes (N, T, D, H)."""
    rng, kind = c.rng, c.kind
    if kind == "single":
        N, T = 1, 1
        D, H = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    else:
        N, T, D, H = distinct_sizes(rng, (2, 5), (2, 7), (2, 6), (2, 7))
    scale = 3.0 if kind == "saturated" else 0.7
    c.label = f"{kind} case N={N}, T={T}, D={D}, H={H}"
    return {"x": rng.standard_normal((N, T, D)), "h0": 0.5 * rng.standard_normal((N, H)),
            "W_xh": scale * rng.standard_normal((H, D)) / np.sqrt(D),
            "W_hh": scale * rng.standard_normal((H, H)) / np.sqrt(H),
            "b_h": 0.1 * rng.standard_normal(H)}, (N, T, D, H)


# ---------------------------------------------------------------- single step
def _step_case(c):
    p, (N, _, _, H) = _draw(c)
    inp = {"x": p["x"][:, 0], "h_prev": p["h0"], **{k: p[k] for k in ("W_xh", "W_hh", "b_h")}}
    return inp, {"dh_next": c.rng.standard_normal((N, H))}


STEP = Backward("rnn_step_forward", "rnn_step_backward", ref.rnn_step, {"h_next": ("N", "H")},
                ("dh_next",), STEP_GRADS, _AXES, TANH, frozenset(TANH))


def check_rnn_step_forward(rnn_step_forward, seed=None, case=None):
    STEP.check(rnn_step_forward, None, None, seed, case, _step_case)


def check_rnn_step_backward(rnn_step_forward, rnn_step_backward, grad, seed=None, case=None):
    """Check one gradient (one of STEP_GRADS) of rnn_step_backward."""
    STEP.check(rnn_step_forward, rnn_step_backward, grad, seed, case, _step_case)


# ---------------------------------------------------------------- whole sequence
def _seq_case(c):
    p, (N, T, _, H) = _draw(c)
    return p, {"dh": c.rng.standard_normal((N, T, H))}


SEQ = Backward("rnn_forward", "rnn_backward", ref.rnn_forward, {"h": ("N", "T", "H")}, ("dh",),
               SEQ_GRADS, {**_AXES, "x": ("N", "T", "D")}, {**TANH, **CARRY}, frozenset(TANH))


def check_rnn_forward(rnn_forward, seed=None, case=None):
    SEQ.check(rnn_forward, None, None, seed, case, _seq_case)


def check_rnn_backward(rnn_forward, rnn_backward, grad, seed=None, case=None):
    """Check one gradient (one of SEQ_GRADS) of rnn_backward, the full BPTT."""
    SEQ.check(rnn_forward, rnn_backward, grad, seed, case, _seq_case)


# ---------------------------------------------------------------- loss
LOSS_MISTAKES = {"no_mask": "the mask is ignored",
                 "no_batch_mean": "the loss is not divided by N",
                 "mean_over_NT": "the loss is averaged over N*T instead of divided by N"}


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
    if part not in ("loss", "dlogits"):
        raise ValueError("part must be 'loss' or 'dlogits'")

    def body(c):
        logits, y, mask, (N, T, C) = _loss_case(c.rng, c.kind)
        c.label = (f"{c.kind} case N={N}, T={T}, C={C}, {int(mask.sum())} of {mask.size} "
                   "steps unmasked")

        def reference(ms):
            return torch_vjp(lambda logits: ref.temporal_softmax_loss(logits, y, mask, ms),
                             {"logits": logits}, None)
        grads, loss_ref = reference(None)
        out = call("temporal_softmax_loss", temporal_softmax_loss, logits, y, mask,
                   arg_names=("logits", "y", "mask"))
        loss, dlogits = unpack("temporal_softmax_loss", out, 2)
        if part == "loss":
            # rounding scales with the log-sum-exps added up, not with the (small) loss
            check_close("loss", loss, np.asarray(loss_ref),
                        scale=float(np.abs(logits).max()) * mask.sum() / N,
                        known=Mistakes(LOSS_MISTAKES, lambda ms: reference(ms)[1]))
        else:
            # softmax - onehot cancels to ~exp(-gap) on confident steps: its terms are 1/N
            check_close("dlogits", dlogits, grads["logits"], axes=("N", "T", "C"), scale=1.0 / N,
                        known=Mistakes(LOSS_MISTAKES, lambda ms: reference(ms)[0]["logits"]))
    run_cases(f"temporal_softmax_loss {part}", seed, case, body)


# ---------------------------------------------------------------- clipping
def check_clip_grad_norm(clip_grad_norm, seed=None, case=None):
    """clip_grad_norm(grads: dict, max_norm) -> (clipped: dict, total_norm: float)."""
    def body(c):
        rng = c.rng
        shapes = {"dW_xh": (int(rng.integers(1, 5)), int(rng.integers(1, 5))),
                  "dW_hh": (3, 3), "db_h": (int(rng.integers(1, 5)),)}
        grads = {k: rng.standard_normal(s) * (50 if c.kind == "saturated" else 2)
                 for k, s in shapes.items()}
        total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
        max_norm = total * (2.0 if c.kind == "below" else float(rng.uniform(0.1, 0.9)))
        scale = min(1.0, max_norm / total)
        c.label = f"{c.kind} case: total norm {'below' if c.kind == 'below' else 'above'} max_norm"
        out = call("clip_grad_norm", clip_grad_norm, grads, max_norm,
                   arg_names=("grads", "max_norm"))
        clipped, norm = unpack("clip_grad_norm", out, 2)
        dict_with_keys("the clipped gradients clip_grad_norm returns", clipped, grads)
        check_close("total_norm", norm, np.asarray(total))
        for k, g in grads.items():
            check_close(f"clipped['{k}']", clipped[k], g * scale, known=Mistakes.of({
                "per_array_norm": ("each array is clipped by its own norm instead of the "
                                   "global norm", g * min(1.0, max_norm / np.linalg.norm(g))),
                "clip_by_value": ("values are clipped elementwise (clip by value)",
                                  np.clip(g, -max_norm, max_norm))}))
    run_cases("clip_grad_norm", seed, case, body, HIDDEN + ("below",))
