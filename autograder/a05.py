"""Checks for assignment a05 (the Transformer's gradients, by hand, in numpy).

The student writes numpy forward and backward passes of layer normalisation, a masked
softmax (fully masked rows included), multi-head attention and a pre-LN Transformer block.
Every check draws its case at grading time (seed=None), runs the student's code on float64
numpy arrays, and compares with torch autograd in float64 on the torch oracles of
reference.py (layer_norm, masked_softmax, mha, block), which tests/test_autograder_a05.py
compares with nn.MultiheadAttention and nn.TransformerEncoderLayer(norm_first=True).
Same replay API as every assignment (harness.run_cases).

Conventions: weights are stored (out, in) like torch.nn (a batch is multiplied as
x @ W.T + b); a boolean mask is True where attention is ALLOWED; a query whose row of the
mask is all False attends to nothing: its weights are zeros and its attention output is
zero (so the multi-head output there is b_o), and no gradient flows through that row.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch

from . import reference as ref
from .harness import (check_close, dict_with_keys, distinct_sizes, forward_then_backward,
                      grad_mistakes, run_cases, student, terms_scale, torch_vjp,
                      value_mistakes)
from .reference import LN_EPS as EPS, MHA_PARAMS as ATTENTION

CASES_HIDDEN = ("regular", "regular", "single", "large")
LAYERNORM = ("ln1_g", "ln1_b", "ln2_g", "ln2_b")
FFN = ("W_1", "b_1", "W_2", "b_2")
BLOCK_GROUPS = {"attention": ATTENTION, "layernorm": LAYERNORM, "ffn": FFN}
MHA_GRADS = ("dx_q", "dx_kv", "dW_q", "dW_k", "dW_v", "dW_o", "db")
LN_GRADS = ("dx", "dgamma", "dbeta")

LN_FORWARD = {
    "unbiased_var": "the variance is the unbiased one (divided by d - 1); layer norm divides by d",
    "eps_on_std": "eps is added to the standard deviation instead of the variance"}
LN_BACKWARD = {
    "ln_stats_constant": "the mean and the variance are treated as constants "
                         "(dx = dout * gamma / std)",
    "ln_no_var_path": "the path through the variance is missing (only the mean is subtracted)",
    "ln_no_mean_path": "the path through the mean is missing"}
MASK = {
    "no_mask": "the mask is ignored",
    "mask_after_softmax": "the mask is applied after the softmax (masked weights set to 0 "
                          "without renormalising the row)"}
SUM_TERM = {"no_softmax_sum_term": "the softmax backward lacks the sum term (ds = w * dw "
                                   "instead of w * (dw - sum(w * dw)))"}
MHA_BACKWARD = {**SUM_TERM,
                "no_scale_backward": "the 1/sqrt(d_head) scale is left out of the backward pass"}
KV_PATHS = {"key_path_only": "only the path through the keys reaches x_kv (add the values' path)",
            "value_path_only": "only the path through the values reaches x_kv (add the keys' "
                               "path)"}
SPLIT = {"split_merge_no_transpose": "the heads are split and merged with a reshape but no "
                                     "transpose (tokens and heads get mixed)"}
BLOCK_FORWARD = {"post_ln": "the layer norms come after the residual additions (post-LN) "
                            "instead of before each sublayer (pre-LN)",
                 "no_mask": "the causal mask is not passed to the attention"}
BLOCK_DX = {"no_residual_gradient": "the gradient of the residual path (the identity) is not "
                                    "added",
            "query_path_only": "only the query path of the self-attention reaches LN1(x) (its "
                               "output is also the keys and the values: add dx_q and dx_kv)"}


# ==================================================================== cases
def _odd_head_size(rng, taken):
    """An odd size from 3 to 11 not drawn yet (3 to 7 when free): d_model = 3 * it is odd."""
    free = [v for v in (3, 5, 7) if v not in taken] or [v for v in (9, 11) if v not in taken]
    return int(rng.choice(free))


def _mask(rng, T_q, T_kv, fully_masked_row=True):
    """Random (T_q, T_kv) mask, something masked; row 0 allows nothing when T_q > 1."""
    mask = rng.random((T_q, T_kv)) < 0.6
    mask[:, -1] = True
    if T_kv > 1:
        mask[-1, 0] = False                # always something masked
    if fully_masked_row and T_q > 1:
        mask[0] = False                    # a query that may attend to nothing
    return mask


def _attention_params(rng, d, prefix_scale=1.0):
    P = {}
    for name in ("q", "k", "v", "o"):
        P[f"W_{name}"] = prefix_scale * rng.standard_normal((d, d)) / math.sqrt(d)
        P[f"b_{name}"] = 0.3 * rng.standard_normal(d)
    return P


def _ln_case(c):
    rng, kind = c.rng, c.kind
    if kind == "single":
        N, T, d = 1, 1, int(rng.integers(2, 6))
    else:
        N, T, d = distinct_sizes(rng, (2, 5), (2, 7), (3, 10))
    shift, scale = (50.0, 30.0) if kind == "large" else (0.5, 1.0)
    c.label = f"{kind} case N={N}, T={T}, d={d}"
    return {"x": shift + scale * rng.standard_normal((N, T, d)),
            "gamma": 1.0 + 0.5 * rng.standard_normal(d), "beta": 0.5 * rng.standard_normal(d)}


def _softmax_case(c):
    rng, kind = c.rng, c.kind
    if kind == "single":
        N, h, T_q, T_k = 1, 1, 1, 1
    else:
        N, h, T_q, T_k = distinct_sizes(rng, (1, 4), (2, 4), (2, 7), (2, 8))
    scale = 1000.0 if kind == "large" else 2.0           # exp overflows past ~709 in float64
    s = scale * rng.standard_normal((N, h, T_q, T_k))
    mask = _mask(rng, T_q, T_k)
    c.label = (f"{kind} case scores {(N, h, T_q, T_k)}, mask {(T_q, T_k)}"
               + (" with a fully masked row" if T_q > 1 else "")
               + (", scores ~1000" if kind == "large" else ""))
    return s, mask


def _mha_case(c):
    """(inputs {x_q, x_kv, W_*, b_*}, n_heads, mask). Regular cases have an odd width
    d = 3 * d_head."""
    rng = c.rng
    if c.kind == "single":
        N, T_q, T_kv, h, d_head = 1, 1, 1, 1, int(rng.integers(2, 5))
    elif c.kind == "large":
        N, T_q, T_kv, d_head = distinct_sizes(rng, (1, 4), (2, 7), (2, 8), (2, 6))
        h = int(rng.choice([2, 4]))
    else:
        N, T_q, T_kv = distinct_sizes(rng, (1, 4), (2, 7), (2, 8))
        h, d_head = 3, _odd_head_size(rng, (N, T_q, T_kv))
    d = h * d_head
    P = _attention_params(c.rng, d, 4.0 if c.kind == "large" else 1.0)
    x_q, x_kv = c.rng.standard_normal((N, T_q, d)), c.rng.standard_normal((N, T_kv, d))
    mask = _mask(c.rng, T_q, T_kv)
    c.label = f"{c.kind} case N={N}, T_q={T_q}, T_kv={T_kv}, d_model={d}, heads={h}"
    return {"x_q": x_q, "x_kv": x_kv, **P}, h, mask


def _block_case(c):
    """(inputs {x, params...}, n_heads, causal mask)."""
    rng, kind = c.rng, c.kind
    if kind == "single":
        N, T, h, d_head, d_ff = 1, 1, 1, int(rng.integers(2, 5)), int(rng.integers(2, 9))
    else:
        N, T, d_head, d_ff = distinct_sizes(rng, (1, 4), (2, 7), (2, 6), (4, 12))
        h = 3 if kind == "regular" else int(rng.choice([2, 4]))
        if kind == "regular":
            d_head = _odd_head_size(rng, (N, T, d_ff))
    d = h * d_head
    P = _attention_params(rng, d)
    P.update({"ln1_g": 1.0 + 0.3 * rng.standard_normal(d), "ln1_b": 0.3 * rng.standard_normal(d),
              "ln2_g": 1.0 + 0.3 * rng.standard_normal(d), "ln2_b": 0.3 * rng.standard_normal(d),
              "W_1": rng.standard_normal((d_ff, d)) / math.sqrt(d),
              "b_1": 0.3 * rng.standard_normal(d_ff),
              "W_2": rng.standard_normal((d, d_ff)) / math.sqrt(d_ff),
              "b_2": 0.3 * rng.standard_normal(d)})
    x = (3.0 if kind == "large" else 1.0) * rng.standard_normal((N, T, d))
    mask = np.tril(np.ones((T, T), dtype=bool))               # causal
    c.label = f"{kind} case N={N}, T={T}, d_model={d}, heads={h}, d_ff={d_ff}, causal mask"
    return {"x": x, **P}, h, mask


def _all_masked(mask, shape):
    """True on the entries of `shape` (..., T_q, last) whose query row allows nothing."""
    rows = ~np.asarray(mask).any(axis=-1)                     # (T_q,)
    return np.broadcast_to(rows[:, None], shape)


# ==================================================================== layer norm
def check_layernorm_forward(layernorm_forward, seed=None, case=None):
    def body(c):
        inp = _ln_case(c)
        expected = torch_vjp(ref.layer_norm, inp, None, wrt=[])[1]
        out, _ = student("layernorm_forward", layernorm_forward, {**inp, "eps": EPS}, 2)
        check_close("out", out, expected, axes=("N", "T", "d"),
                    known=value_mistakes(LN_FORWARD, ref.layer_norm, inp))
    run_cases("layernorm_forward", seed, case, body, CASES_HIDDEN)


def check_layernorm_backward(layernorm_forward, layernorm_backward, grad, seed=None, case=None):
    """grad: "dx", "dgamma" or "dbeta"."""
    if grad not in LN_GRADS:
        raise ValueError(f"grad must be one of {LN_GRADS}")
    name = grad[1:]

    def body(c):
        inp = _ln_case(c)
        dout = c.rng.standard_normal(inp["x"].shape)
        grads, out_ref = torch_vjp(ref.layer_norm, inp, dout)
        got = forward_then_backward(
            "layernorm_forward", layernorm_forward, {**inp, "eps": EPS}, 2,
            lambda out: check_close("out", out[0], out_ref, axes=("N", "T", "d")),
            "layernorm_backward", layernorm_backward, {"dout": dout}, 3)[LN_GRADS.index(grad)]
        check_close(grad, got, grads[name], axes=("N", "T", "d") if grad == "dx" else ("d",),
                    scale=terms_scale(ref.layer_norm, inp, dout, name, {"ln_stats_constant"},
                                      grads[name]),
                    known=grad_mistakes(LN_BACKWARD, ref.layer_norm, inp, dout, name)
                    if grad == "dx" else None)
    run_cases(f"layernorm_backward {grad}", seed, case, body, CASES_HIDDEN)


# ==================================================================== masked softmax
def check_masked_softmax_forward(masked_softmax_forward, seed=None, case=None):
    def body(c):
        s, mask = _softmax_case(c)
        forward = partial(ref.masked_softmax, mask=torch.tensor(mask))
        expected = torch_vjp(forward, {"s": s}, None, wrt=[])[1]
        w, _ = student("masked_softmax_forward", masked_softmax_forward,
                       {"s": s, "mask": mask}, 2)
        check_close("w", w, expected, axes=("N", "head", "query", "key"),
                    all_masked=_all_masked(mask, s.shape),
                    known=value_mistakes(MASK, forward, {"s": s}))
    run_cases("masked softmax forward", seed, case, body, CASES_HIDDEN)


def check_masked_softmax_backward(masked_softmax_forward, masked_softmax_backward, seed=None,
                                  case=None):
    def body(c):
        s, mask = _softmax_case(c)
        dw = c.rng.standard_normal(s.shape)
        forward = partial(ref.masked_softmax, mask=torch.tensor(mask))
        grads, w_ref = torch_vjp(forward, {"s": s}, dw)
        ds = forward_then_backward(
            "masked_softmax_forward", masked_softmax_forward, {"s": s, "mask": mask}, 2,
            lambda out: check_close("w", out[0], w_ref, axes=("N", "head", "query", "key"),
                                    all_masked=_all_masked(mask, s.shape)),
            "masked_softmax_backward", masked_softmax_backward, {"dw": dw})
        check_close("ds", ds, grads["s"], axes=("N", "head", "query", "key"),
                    scale=terms_scale(forward, {"s": s}, dw, "s", SUM_TERM, grads["s"]),
                    known=grad_mistakes(SUM_TERM, forward, {"s": s}, dw, "s"))
    run_cases("masked softmax backward", seed, case, body, CASES_HIDDEN)


# ==================================================================== multi-head attention
def _mha_inputs(inp, h, mask):
    return {"x_q": inp["x_q"], "x_kv": inp["x_kv"], "params": {k: inp[k] for k in ATTENTION},
            "n_heads": h, "mask": mask}


def check_mha_forward(mha_forward, part, seed=None, case=None):
    """part: "unmasked" (mask=None) or "masked" (a (T_q, T_kv) mask with a fully masked row)."""
    if part not in ("unmasked", "masked"):
        raise ValueError("part must be 'unmasked' or 'masked'")

    def body(c):
        inp, h, mask = _mha_case(c)
        mask = mask if part == "masked" else None
        if mask is not None:
            c.label += ", masked"
        forward = partial(ref.mha, n_heads=h, mask=None if mask is None else torch.tensor(mask))
        expected = torch_vjp(forward, inp, None, wrt=[])[1]
        out, _ = student("mha_forward", mha_forward, _mha_inputs(inp, h, mask), 2)
        check_close("out", out, expected, axes=("N", "query", "d_model"),
                    known=value_mistakes({**SPLIT, **(MASK if mask is not None else {})},
                                          forward, inp))
    run_cases(f"mha_forward {part}", seed, case, body, CASES_HIDDEN)


def check_mha_backward(mha_forward, mha_backward, grad, seed=None, case=None):
    """grad: "dx_q", "dx_kv", "dW_q", "dW_k", "dW_v", "dW_o" or "db" (all four biases).
    Compared on the masked case (a fully masked query included)."""
    if grad not in MHA_GRADS:
        raise ValueError(f"grad must be one of {MHA_GRADS}")

    def body(c):
        inp, h, mask = _mha_case(c)
        c.label += ", masked"
        forward = partial(ref.mha, n_heads=h, mask=torch.tensor(mask))
        dout = c.rng.standard_normal(inp["x_q"].shape)
        grads, out_ref = torch_vjp(forward, inp, dout)
        dx_q, dx_kv, dparams = forward_then_backward(
            "mha_forward", mha_forward, _mha_inputs(inp, h, mask), 2,
            lambda out: check_close("out", out[0], out_ref, axes=("N", "query", "d_model")),
            "mha_backward", mha_backward, {"dout": dout}, 3)
        messages = {**MHA_BACKWARD, **(KV_PATHS if grad == "dx_kv" else {})}
        if grad in ("dx_q", "dx_kv"):
            name = grad[1:]
            check_close(grad, dx_q if grad == "dx_q" else dx_kv, grads[name],
                        axes=("N", "T", "d_model"),
                        scale=terms_scale(forward, inp, dout, name, SUM_TERM, grads[name]),
                        known=grad_mistakes(messages, forward, inp, dout, name))
            return
        names = ("b_q", "b_k", "b_v", "b_o") if grad == "db" else (grad[1:],)
        dict_with_keys("the gradients mha_backward returns", dparams, names)
        for name in names:
            _check_param(name, dparams[name], grads, forward, inp, dout,
                         grad_mistakes(messages, forward, inp, dout, name))
    run_cases(f"mha_backward {grad}", seed, case, body, CASES_HIDDEN)


def _check_param(name, got, grads, forward, inp, dout, known=None):
    """check_close of grads[name]. The gradient of b_k is zero: adding b_k adds q . b_k to
    every score of a row, which the softmax ignores; both sides are rounding noise there,
    which scales with the other attention biases' gradients."""
    biases = ("b_q", "b_k", "b_v", "b_o") if name == "b_k" else ()
    scale = terms_scale(forward, inp, dout, "b_q" if biases else name, SUM_TERM, grads[name],
                        *(grads[b] for b in biases))
    check_close(f"grads['{name}']", got, grads[name], scale=scale,
                known=None if name == "b_k" else known)


# ==================================================================== pre-LN block
def _block_inputs(inp, h, mask):
    return {"x": inp["x"], "params": {k: v for k, v in inp.items() if k != "x"}, "n_heads": h,
            "mask": mask}


def check_block_forward(block_forward, seed=None, case=None):
    def body(c):
        inp, h, mask = _block_case(c)
        forward = partial(ref.block, n_heads=h, mask=torch.tensor(mask))
        expected = torch_vjp(forward, inp, None, wrt=[])[1]
        out, _ = student("block_forward", block_forward, _block_inputs(inp, h, mask), 2)
        messages = BLOCK_FORWARD if mask.shape[0] > 1 else {"post_ln": BLOCK_FORWARD["post_ln"]}
        check_close("out", out, expected, axes=("N", "T", "d_model"),
                    known=value_mistakes(messages, forward, inp))
    run_cases("block_forward", seed, case, body, CASES_HIDDEN)


def check_block_backward(block_forward, block_backward, part, seed=None, case=None):
    """part: "dx", or a group of parameter gradients: "attention", "layernorm", "ffn"."""
    if part != "dx" and part not in BLOCK_GROUPS:
        raise ValueError("part must be 'dx', 'attention', 'layernorm' or 'ffn'")

    def body(c):
        inp, h, mask = _block_case(c)
        forward = partial(ref.block, n_heads=h, mask=torch.tensor(mask))
        dout = c.rng.standard_normal(inp["x"].shape)
        grads, out_ref = torch_vjp(forward, inp, dout)
        dx, dparams = forward_then_backward(
            "block_forward", block_forward, _block_inputs(inp, h, mask), 2,
            lambda out: check_close("out", out[0], out_ref, axes=("N", "T", "d_model")),
            "block_backward", block_backward, {"dout": dout}, 2)
        if part == "dx":
            check_close("dx", dx, grads["x"], axes=("N", "T", "d_model"),
                        scale=terms_scale(forward, inp, dout, "x", SUM_TERM, grads["x"]),
                        known=grad_mistakes(BLOCK_DX, forward, inp, dout, "x"))
            return
        dict_with_keys("the gradients block_backward returns", dparams,
                       BLOCK_GROUPS[part])
        for name in BLOCK_GROUPS[part]:
            _check_param(name, dparams[name], grads, forward, inp, dout)
    run_cases(f"block_backward {part}", seed, case, body, CASES_HIDDEN)
