"""Checks for assignment a02 (truncated BPTT, clipping, gradient norm against lag, and
the Jordan network).

Same conventions and replay API as a01: batch-first, weights stored (out, in), float64;
seed=0 gives the visible case, seed=None draws hidden cases at grading time.
"""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .harness import (Backward, Mistakes, call, check_close, dict_with_keys, distinct_sizes,
                      run_cases, unpack, HIDDEN)
from .reference import LM_PARAMS

JORDAN_GRADS = ("dx", "dy0", "dW_xh", "dW_yh", "db_h", "dW_hy", "db_y")
_JORDAN_AXES = {"x": ("N", "T", "D"), "y0": ("N", "C"), "W_xh": ("H", "D"),
                "W_yh": ("H", "C"), "b_h": ("H",), "W_hy": ("C", "H"), "b_y": ("C",)}
CASES_HIDDEN = HIDDEN
JORDAN_MISTAKES = {
    "no_tanh_derivative": "the tanh derivative (1 - h**2) is left out",
    "no_carry": "the gradient reaching y_t from step t+1 (through W_yh) is not carried back"}
TBPTT_MISTAKES = {
    "no_detach": "the state is never detached (that is full BPTT, not truncated)",
    "reset": "the hidden state is reset to h0 at every block (independent blocks, not a "
             "carried state)",
    "chunks": "each block's losses are backpropagated through the block only (k2 is "
              "ignored: that is the chunked scheme k1 = k2)",
    "mean_over_T": "the loss is averaged over time steps"}


# ---------------------------------------------------------------- Jordan network
def _jordan_case(c):
    """(jordan_forward's arguments, {"dy": the upstream gradient})."""
    rng, kind = c.rng, c.kind
    if kind == "single":
        N, T = 1, 1
        D, H, C = distinct_sizes(rng, (2, 5), (3, 7), (2, 5))
    else:
        N, T, D, H, C = distinct_sizes(rng, (2, 5), (2, 8), (2, 8), (3, 9), (2, 9))
    scale = 3.0 if kind == "saturated" else 0.7
    c.label = f"{kind} case N={N}, T={T}, D={D}, H={H}, C={C}"
    p = {"x": rng.standard_normal((N, T, D)), "y0": 0.5 * rng.standard_normal((N, C)),
         "W_xh": scale * rng.standard_normal((H, D)) / np.sqrt(D),
         "W_yh": scale * rng.standard_normal((H, C)) / np.sqrt(C),
         "b_h": 0.1 * rng.standard_normal(H),
         "W_hy": rng.standard_normal((C, H)) / np.sqrt(H),
         "b_y": 0.1 * rng.standard_normal(C)}
    return p, {"dy": rng.standard_normal((N, T, C))}


JORDAN = Backward("jordan_forward", "jordan_backward", ref.jordan_forward,
                  {"h": ("N", "T", "H"), "y": ("N", "T", "C")}, ("dy",), JORDAN_GRADS,
                  _JORDAN_AXES, JORDAN_MISTAKES, frozenset({"no_tanh_derivative"}))


def check_jordan_forward(jordan_forward, seed=None, case=None):
    JORDAN.check(jordan_forward, None, None, seed, case, _jordan_case)


def check_jordan_backward(jordan_forward, jordan_backward, grad, seed=None, case=None):
    """Check one gradient (one of JORDAN_GRADS) of jordan_backward."""
    JORDAN.check(jordan_forward, jordan_backward, grad, seed, case, _jordan_case)


# ---------------------------------------------------------------- truncated BPTT
def _lm_case(c):
    rng, kind = c.rng, c.kind
    if kind == "single":
        N, T, k1, k2 = 1, 1, 1, 1
        C, H = distinct_sizes(rng, (4, 9), (3, 8))
    else:
        N, T, C, H = distinct_sizes(rng, (2, 5), (6, 13), (4, 9), (3, 8))
        k1 = int(rng.integers(2, T // 2))    # several blocks
        k2 = int(rng.integers(k1 + 1, T))    # reaches further back than its block
    scale = 3.0 if kind == "saturated" else 0.8
    params = {"W_xh": scale * rng.standard_normal((H, C)),
              "W_hh": scale * rng.standard_normal((H, H)) / np.sqrt(H),
              "b_h": 0.1 * rng.standard_normal(H),
              "W_hy": rng.standard_normal((C, H)) / np.sqrt(H),
              "b_y": 0.1 * rng.standard_normal(C)}
    ids = rng.integers(0, C, size=(N, T + 1))
    h0 = 0.5 * rng.standard_normal((N, H))
    c.label = f"{kind} case N={N}, T={T}, k1={k1}, k2={k2}, C={C}, H={H}"
    return ids, h0, params, k1, k2


def check_tbptt(tbptt_gradients, part, seed=None, case=None):
    """tbptt_gradients(ids, h0, params, k1, k2) -> (loss, grads, h_last) of BPTT(k1, k2).
    part: "loss", "h_last", or a parameter name "W_hh", "W_xh", "b_h", "W_hy", "b_y"."""
    if part not in ("loss", "h_last") + LM_PARAMS:
        raise ValueError("unknown part")

    def body(c):
        ids, h0, params, k1, k2 = _lm_case(c)
        loss_ref, grads_ref, h_ref = ref.lm_reference(ids, h0, params, k1, k2)
        out = call("tbptt_gradients", tbptt_gradients, ids, h0, params, k1, k2,
                   arg_names=("ids", "h0", "params", "k1", "k2"))
        loss, grads, h_last = unpack("tbptt_gradients", out, 3)

        def wrong(pick):  # (loss, grads, h) of the mistaken solutions -> the part checked
            return Mistakes(TBPTT_MISTAKES,
                            lambda ms: pick(ref.lm_reference(ids, h0, params, k1, k2, ms)))
        if part == "loss":
            check_close("loss", loss, np.asarray(loss_ref), known=wrong(lambda r: r[0]))
        elif part == "h_last":
            check_close("h_last", h_last, h_ref, axes=("N", "H"))
        else:
            dict_with_keys("the grads tbptt_gradients returns", grads, [part])
            check_close(f"grads['{part}']", grads[part], grads_ref[part],
                        known=wrong(lambda r: r[1][part]))
    run_cases(f"tbptt_gradients {part}", seed, case, body)


# ---------------------------------------------------------------- clipping by value
def check_clip_by_value(clip_by_value, seed=None, case=None):
    """clip_by_value(grads: dict, c) -> dict of arrays clipped to [-c, c]."""
    def body(cs):
        rng = cs.rng
        grads = {"W": rng.standard_normal((int(rng.integers(1, 5)), 3)) * 3,
                 "b": rng.standard_normal(int(rng.integers(1, 6))) * 3}
        c = float(rng.uniform(0.5, 2.0))
        cs.label = f"{cs.kind} case c={c:.3g}"
        out = call("clip_by_value", clip_by_value, grads, c, arg_names=("grads", "c"))
        dict_with_keys("what clip_by_value returns", out, grads)
        total = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
        for k_, g in grads.items():
            check_close(f"clipped['{k_}']", out[k_], np.clip(g, -c, c), known=Mistakes.of({
                "clip_by_norm": ("the global norm is clipped instead (that is clip by norm)",
                                 g * min(1.0, c / total))}))
    run_cases("clip_by_value", seed, case, body)


# ---------------------------------------------------------------- gradient norm against lag
def check_grad_norm_by_lag(grad_norm_by_lag, seed=None, case=None):
    """grad_norm_by_lag(x, h0, W_xh, W_hh, b_h, u) -> (T+1,) norms, index = lag."""
    def body(c):
        rng, kind = c.rng, c.kind
        if kind == "single":
            N, T, (D, H) = 1, 1, distinct_sizes(rng, (2, 5), (3, 8))
        else:
            N, T, D, H = distinct_sizes(rng, (2, 5), (3, 15), (2, 5), (3, 8))
        scale = 3.0 if kind == "saturated" else 1.0
        args = dict(x=rng.standard_normal((N, T, D)), h0=0.5 * rng.standard_normal((N, H)),
                    W_xh=scale * rng.standard_normal((H, D)) / np.sqrt(D),
                    W_hh=scale * rng.standard_normal((H, H)) / np.sqrt(H),
                    b_h=0.1 * rng.standard_normal(H), u=rng.standard_normal((N, H)))
        expected = ref.grad_norm_by_lag(**args)
        c.label = f"{kind} case N={N}, T={T}, D={D}, H={H}"
        got = call("grad_norm_by_lag", grad_norm_by_lag, *args.values(), arg_names=tuple(args))
        check_close("norms", got, expected, axes=("lag",), known=Mistakes.of({
            "reversed": ("the array runs from lag T down to lag 0 (reversed)", expected[::-1])}))
    run_cases("grad_norm_by_lag", seed, case, body)
