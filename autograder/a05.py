"""Checks for assignment a05 (the Transformer's gradients, by hand, in numpy).

The student writes numpy forward and backward passes of layer normalisation, a masked
softmax (fully masked rows included), multi-head attention and a pre-LN Transformer block.
Every check draws its case at grading time (seed=None), runs the student's code on float64
numpy arrays, and compares with torch autograd in float64 on an equivalent torch forward.
Those torch forwards are themselves compared with torch.nn.LayerNorm,
nn.MultiheadAttention and nn.TransformerEncoderLayer(norm_first=True) in
tests/test_autograder.py.

Conventions: weights are stored (out, in) like torch.nn (a batch is multiplied as
x @ W.T + b); a boolean mask is True where attention is ALLOWED; a query whose row of the
mask is all False attends to nothing: its weights are zeros and its attention output is
zero (so the multi-head output there is b_o), and no gradient flows through that row.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .checks import CheckFailure, check_close, check_type
from .gradcheck import torch_vjp
from .harness import call, case_seeds, distinct_sizes, unpack, with_seed

CASES_VISIBLE = ("regular",)
CASES_HIDDEN = ("regular", "regular", "single", "large")

EPS = 1e-5
B_K_ATOL = 1e-9   # |dL/db_k| of a correct answer: rounding noise, about 1e-15 on these sizes
ATTENTION = ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o")
LAYERNORM = ("ln1_g", "ln1_b", "ln2_g", "ln2_b")
FFN = ("W_1", "b_1", "W_2", "b_2")
BLOCK_GROUPS = {"attention": ATTENTION, "layernorm": LAYERNORM, "ffn": FFN}


def _ok(what, n):
    print(f"{what}: OK ({n} case{'s' if n > 1 else ''})")


# ==================================================================== torch references
class _SoftmaxNoCoupling(torch.autograd.Function):
    """softmax whose backward forgets the coupling term: ds = w * dw (a classic mistake)."""

    @staticmethod
    def forward(ctx, s):
        w = torch.softmax(s, dim=-1)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return w * g


def torch_masked_softmax(s, mask, mistake=None):
    """Row-wise softmax over the allowed entries; rows with no allowed entry give zeros.

    s: (..., T_q, T_k); mask: bool, broadcastable to s, True = allowed.
    """
    allowed = mask.any(dim=-1, keepdim=True)                  # (..., T_q, 1)
    s = s.masked_fill(~mask, float("-inf")).masked_fill(~allowed, 0.0)
    w = _SoftmaxNoCoupling.apply(s) if mistake == "no_coupling" else torch.softmax(s, dim=-1)
    return w * allowed


def torch_mha(x_q, x_kv, P, n_heads, mask=None, mistake=None):
    """Multi-head attention, batch-first: x_q (N, T_q, d), x_kv (N, T_kv, d) -> (N, T_q, d)."""
    N, T_q, d = x_q.shape
    T_kv, d_head = x_kv.shape[1], d // n_heads
    x_k = x_kv.detach() if mistake == "value_path_only" else x_kv
    x_v = x_kv.detach() if mistake == "key_path_only" else x_kv

    def split(x, T):                                          # (N, T, d) -> (N, heads, T, d_head)
        return x.reshape(N, T, n_heads, d_head).transpose(1, 2)

    q = split(x_q @ P["W_q"].T + P["b_q"], T_q)
    k = split(x_k @ P["W_k"].T + P["b_k"], T_kv)
    v = split(x_v @ P["W_v"].T + P["b_v"], T_kv)
    raw = q @ k.transpose(-2, -1)                             # (N, heads, T_q, T_kv)
    if mistake == "unscaled_backward":                        # value scaled, gradient not
        s = raw.detach() / math.sqrt(d_head) + (raw - raw.detach())
    else:
        s = raw / math.sqrt(d_head)
    m = torch.ones(T_q, T_kv, dtype=torch.bool) if mask is None else mask
    w = torch_masked_softmax(s, m, "no_coupling" if mistake == "no_coupling" else None)
    o = (w @ v).transpose(1, 2).reshape(N, T_q, d)            # merge the heads
    return o @ P["W_o"].T + P["b_o"]


def torch_block(x, P, n_heads, mask=None, mistake=None):
    """Pre-LN block: x + MHA(LN1(x)), then + W_2 relu(W_1 LN2(x) + b_1) + b_2."""
    d = x.shape[-1]
    h = F.layer_norm(x, (d,), P["ln1_g"], P["ln1_b"], EPS)
    x_res = x.detach() if mistake == "no_residual_gradient" else x
    x = x_res + torch_mha(h, h.detach() if mistake == "query_path_only" else h, P, n_heads, mask)
    h2 = F.layer_norm(x, (d,), P["ln2_g"], P["ln2_b"], EPS)
    return x + torch.relu(h2 @ P["W_1"].T + P["b_1"]) @ P["W_2"].T + P["b_2"]


# ==================================================================== cases
def _ln_case(rng, kind):
    if kind == "single":
        N, T, d = 1, 1, int(rng.integers(2, 6))
    else:
        N, T, d = distinct_sizes(rng, (2, 5), (2, 7), (3, 10))
    shift, scale = (50.0, 30.0) if kind == "large" else (0.5, 1.0)
    args = {"x": shift + scale * rng.standard_normal((N, T, d)),
            "gamma": 1.0 + 0.5 * rng.standard_normal(d), "beta": 0.5 * rng.standard_normal(d)}
    return args, f"{kind} case N={N}, T={T}, d={d}"


def _mha_sizes(rng, kind):
    """N, T_q, T_kv, heads, d_head. Regular cases have an odd width d = 3 * d_head."""
    if kind == "single":
        return 1, 1, 1, 1, int(rng.integers(2, 5))
    if kind == "large":
        N, T_q, T_kv, d_head = distinct_sizes(rng, (1, 4), (2, 7), (2, 8), (2, 6))
        return N, T_q, T_kv, int(rng.choice([2, 4])), d_head
    N, T_q, T_kv = distinct_sizes(rng, (1, 4), (2, 7), (2, 8))
    return N, T_q, T_kv, 3, _odd_head_size(rng, (N, T_q, T_kv))


def _odd_head_size(rng, taken):
    """An odd size from 3 to 11 not drawn yet (3 to 7 when free): d_model = 3 * it is odd."""
    free = [v for v in (3, 5, 7) if v not in taken] or [v for v in (9, 11) if v not in taken]
    return int(rng.choice(free))


def _attention_params(rng, d, prefix_scale=1.0):
    P = {}
    for name in ("q", "k", "v", "o"):
        P[f"W_{name}"] = prefix_scale * rng.standard_normal((d, d)) / math.sqrt(d)
        P[f"b_{name}"] = 0.3 * rng.standard_normal(d)
    return P


def _mask(rng, T_q, T_kv, fully_masked_row=True):
    """Random (T_q, T_kv) mask, something masked; row 0 allows nothing when T_q > 1."""
    mask = rng.random((T_q, T_kv)) < 0.6
    mask[:, -1] = True
    if T_kv > 1:
        mask[-1, 0] = False                # always something masked
    if fully_masked_row and T_q > 1:
        mask[0] = False                    # a query that may attend to nothing
    return mask


def _mha_case(rng, kind):
    N, T_q, T_kv, h, d_head = _mha_sizes(rng, kind)
    d = h * d_head
    scale = 4.0 if kind == "large" else 1.0
    P = _attention_params(rng, d, scale)
    x_q, x_kv = rng.standard_normal((N, T_q, d)), rng.standard_normal((N, T_kv, d))
    mask = _mask(rng, T_q, T_kv)
    label = f"{kind} case N={N}, T_q={T_q}, T_kv={T_kv}, d_model={d}, heads={h}"
    return x_q, x_kv, P, h, mask, label


def _block_case(rng, kind):
    if kind == "single":
        N, T, h, d_head, d_ff = 1, 1, 1, int(rng.integers(2, 5)), int(rng.integers(2, 9))
    else:
        N, T, d_head, d_ff = distinct_sizes(rng, (1, 4), (2, 7), (2, 6), (4, 12))
        h = 3 if kind == "regular" else int(rng.choice([2, 4]))
        if kind == "regular":
            d_head = _odd_head_size(rng, (N, T, d_ff))
    d = h * d_head
    scale = 3.0 if kind == "large" else 1.0
    P = _attention_params(rng, d)
    P.update({"ln1_g": 1.0 + 0.3 * rng.standard_normal(d), "ln1_b": 0.3 * rng.standard_normal(d),
              "ln2_g": 1.0 + 0.3 * rng.standard_normal(d), "ln2_b": 0.3 * rng.standard_normal(d),
              "W_1": rng.standard_normal((d_ff, d)) / math.sqrt(d), "b_1": 0.3 * rng.standard_normal(d_ff),
              "W_2": rng.standard_normal((d, d_ff)) / math.sqrt(d_ff), "b_2": 0.3 * rng.standard_normal(d)})
    x = scale * rng.standard_normal((N, T, d))
    mask = np.tril(np.ones((T, T), dtype=bool))               # causal
    label = f"{kind} case N={N}, T={T}, d_model={d}, heads={h}, d_ff={d_ff}, causal mask"
    return x, P, h, mask, label


def _student(name, fn, args, arg_names, n_out):
    return unpack(name, call(name, fn, *args, arg_names=arg_names), n_out)


# ==================================================================== layer norm
def check_layernorm_forward(layernorm_forward, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        args, label = _ln_case(rng, kind)
        x, g, b = (torch.tensor(args[k]) for k in ("x", "gamma", "beta"))
        expected = F.layer_norm(x, (x.shape[-1],), g, b, EPS).numpy()
        mu, var_unbiased = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=True)
        known = {"the variance is the unbiased one (divided by d - 1); layer norm divides by d":
                 ((x - mu) / torch.sqrt(var_unbiased + EPS) * g + b).numpy(),
                 "eps is added to the standard deviation instead of the variance":
                 ((x - mu) / (x.std(-1, keepdim=True, unbiased=False) + EPS) * g + b).numpy()}
        try:
            out, _ = _student("layernorm_forward", layernorm_forward,
                              (args["x"], args["gamma"], args["beta"], EPS),
                              ("x", "gamma", "beta", "eps"), 2)
            check_close("out", out, expected, axes=("N", "T", "d"), known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok("layernorm_forward", len(cases))


def _ln_mistakes(x, g, dout):
    """dx of three classic partial derivations of the layer norm backward."""
    mu = x.mean(-1, keepdims=True)
    std = np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + EPS)
    xhat, dxhat = (x - mu) / std, dout * g
    return {"the mean and the variance are treated as constants (dx = dout * gamma / std)":
            dxhat / std,
            "the path through the variance is missing (only the mean is subtracted)":
            (dxhat - dxhat.mean(-1, keepdims=True)) / std,
            "the path through the mean is missing":
            (dxhat - xhat * (dxhat * xhat).mean(-1, keepdims=True)) / std}


def check_layernorm_backward(layernorm_forward, layernorm_backward, grad, seed=None, case=None):
    """grad: "dx", "dgamma" or "dbeta"."""
    index = {"dx": 0, "dgamma": 1, "dbeta": 2}[grad]
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        args, label = _ln_case(rng, kind)
        dout = rng.standard_normal(args["x"].shape)
        grads, _ = torch_vjp(lambda x, gamma, beta: F.layer_norm(x, (x.shape[-1],), gamma, beta, EPS),
                             args, dout)
        expected = grads[{"dx": "x", "dgamma": "gamma", "dbeta": "beta"}[grad]]
        known = _ln_mistakes(args["x"], args["gamma"], dout) if grad == "dx" else {}
        try:
            _, cache = _student("layernorm_forward", layernorm_forward,
                                (args["x"], args["gamma"], args["beta"], EPS),
                                ("x", "gamma", "beta", "eps"), 2)
            got = _student("layernorm_backward", layernorm_backward, (dout, cache),
                           ("dout", "cache"), 3)[index]
            check_close(grad, got, expected,
                        axes=("N", "T", "d") if grad == "dx" else ("d",), known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"layernorm_backward {grad}", len(cases))


# ==================================================================== masked softmax
def _softmax_case(rng, kind):
    if kind == "single":
        N, h, T_q, T_k = 1, 1, 1, 1
    else:
        N, h, T_q, T_k = distinct_sizes(rng, (1, 4), (2, 4), (2, 7), (2, 8))
    scale = 1000.0 if kind == "large" else 2.0           # exp overflows past ~709 in float64
    s = scale * rng.standard_normal((N, h, T_q, T_k))
    mask = _mask(rng, T_q, T_k)
    return s, mask, f"{kind} case scores {(N, h, T_q, T_k)}, mask {(T_q, T_k)}" + \
        (" with a fully masked row" if T_q > 1 else "") + (", logits ~1000" if kind == "large" else "")


def check_masked_softmax_forward(masked_softmax_forward, seed=None, case=None):
    _check_masked_softmax(masked_softmax_forward, None, "forward", seed, case)


def check_masked_softmax_backward(masked_softmax_forward, masked_softmax_backward, seed=None,
                                  case=None):
    _check_masked_softmax(masked_softmax_forward, masked_softmax_backward, "backward", seed, case)


def _check_masked_softmax(masked_softmax_forward, masked_softmax_backward, part, seed, case):
    """part: "forward" (the weights) or "backward" (ds for a given dw)."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        s, mask, label = _softmax_case(rng, kind)
        dw = rng.standard_normal(s.shape)
        tmask = torch.tensor(mask)
        grads, w_ref = torch_vjp(lambda s: torch_masked_softmax(s, tmask), {"s": s}, dw)
        try:
            w, cache = _student("masked_softmax_forward", masked_softmax_forward, (s, mask),
                                ("s", "mask"), 2)
            axes = ("N", "head", "query", "key")
            if part == "forward":
                check_close("w", w, w_ref, axes=axes)
            else:
                wrong, _ = torch_vjp(lambda s: torch_masked_softmax(s, tmask, "no_coupling"),
                                     {"s": s}, dw)
                ds = call("masked_softmax_backward", masked_softmax_backward, dw, cache,
                          arg_names=("dw", "cache"))
                check_close("ds", ds, grads["s"], axes=axes,
                            known={"the coupling term of the softmax Jacobian is missing "
                                   "(ds = w * dw instead of w * (dw - sum(w * dw)))": wrong["s"]})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"masked softmax {part}", len(cases))


# ==================================================================== multi-head attention
def _mha_reference(x_q, x_kv, P, h, mask, dout, mistake=None):
    tmask = None if mask is None else torch.tensor(mask)
    inputs = {"x_q": x_q, "x_kv": x_kv, **P}
    return torch_vjp(lambda x_q, x_kv, **p: torch_mha(x_q, x_kv, p, h, tmask, mistake),
                     inputs, dout)


def check_mha_forward(mha_forward, part, seed=None, case=None):
    """part: "unmasked" (mask=None) or "masked" (a (T_q, T_kv) mask with a fully masked row)."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        x_q, x_kv, P, h, mask, label = _mha_case(rng, kind)
        mask = mask if part == "masked" else None
        _, expected = _mha_reference(x_q, x_kv, P, h, mask, np.zeros(x_q.shape))
        known = {}
        if mask is not None:
            _, known["the mask is ignored"] = _mha_reference(x_q, x_kv, P, h, None, np.zeros(x_q.shape))
        try:
            out, _ = _student("mha_forward", mha_forward, (x_q, x_kv, P, h, mask),
                              ("x_q", "x_kv", "params", "n_heads", "mask"), 2)
            check_close("out", out, expected, axes=("N", "query", "d_model"), known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label + (", masked" if mask is not None else ""),
                                         kind)) from None
    _ok(f"mha_forward {part}", len(cases))


MHA_GRADS = ("dx_q", "dx_kv", "dW_q", "dW_k", "dW_v", "dW_o", "db")


def check_mha_backward(mha_forward, mha_backward, grad, seed=None, case=None):
    """grad: "dx_q", "dx_kv", "dW_q", "dW_k", "dW_v", "dW_o" or "db" (all four biases)."""
    if grad not in MHA_GRADS:
        raise ValueError("unknown gradient")
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        x_q, x_kv, P, h, mask, label = _mha_case(rng, kind)
        dout = rng.standard_normal(x_q.shape)
        grads, _ = _mha_reference(x_q, x_kv, P, h, mask, dout)
        mistakes = {"the coupling term of the softmax Jacobian is missing": "no_coupling",
                    "the 1/sqrt(d_head) scale is left out of the backward pass": "unscaled_backward"}
        if grad == "dx_kv":
            mistakes.update({"only the path through the keys reaches x_kv (add the values' path)":
                             "key_path_only",
                             "only the path through the values reaches x_kv (add the keys' path)":
                             "value_path_only"})
        wrong = {cause: _mha_reference(x_q, x_kv, P, h, mask, dout, m)[0]
                 for cause, m in mistakes.items()}
        try:
            _, cache = _student("mha_forward", mha_forward, (x_q, x_kv, P, h, mask),
                                ("x_q", "x_kv", "params", "n_heads", "mask"), 2)
            dx_q, dx_kv, dparams = _student("mha_backward", mha_backward, (dout, cache),
                                            ("dout", "cache"), 3)
            if grad in ("dx_q", "dx_kv"):
                got = dx_q if grad == "dx_q" else dx_kv
                check_close(grad, got, grads[grad[1:]], axes=("N", "T", "d_model"),
                            known={c: g[grad[1:]] for c, g in wrong.items()})
            else:
                names = ("b_q", "b_k", "b_v", "b_o") if grad == "db" else (grad[1:],)
                if not isinstance(dparams, dict):
                    raise CheckFailure("the third value returned by mha_backward must be a dict "
                                       "with the keys of params.")
                for name in names:
                    if name not in dparams:
                        raise CheckFailure(f"the gradient dict has no key '{name}'.")
                    _check_param(name, dparams[name], grads[name],
                                 known={c: g[name] for c, g in wrong.items()})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label + ", masked", kind)) from None
    _ok(f"mha_backward {grad}", len(cases))


def _check_param(name, got, expected, known=None):
    """check_close, except for b_k, whose gradient is zero: adding b_k adds q . b_k to every
    score of a row, which the softmax ignores. Both sides are rounding noise there, so it is
    compared absolutely."""
    if name != "b_k":
        check_close(f"grads['{name}']", got, expected, known=known)
        return
    got = check_type("grads['b_k']", got, shape=expected.shape)
    worst = float(np.max(np.abs(got), initial=0.0))
    if worst > B_K_ATOL:
        raise CheckFailure(f"grads['b_k'] should be zero up to rounding, but an entry is {worst:.3g}: "
                           "b_k adds the same number q . b_k to every score of a row, and the softmax "
                           "does not change when every score of a row moves together.")


# ==================================================================== pre-LN block
def _block_reference(x, P, h, mask, dout, mistake=None):
    tmask = torch.tensor(mask)
    return torch_vjp(lambda x, **p: torch_block(x, p, h, tmask, mistake), {"x": x, **P}, dout)


def check_block_forward(block_forward, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        x, P, h, mask, label = _block_case(rng, kind)
        zeros = np.zeros(x.shape)
        _, expected = _block_reference(x, P, h, mask, zeros)
        tx, tP = torch.tensor(x), {k: torch.tensor(v) for k, v in P.items()}
        d = x.shape[-1]
        with torch.no_grad():   # post-LN with the same weights: LN after each residual addition
            y = F.layer_norm(tx + torch_mha(tx, tx, tP, h, torch.tensor(mask)), (d,),
                             tP["ln1_g"], tP["ln1_b"], EPS)
            y = y + torch.relu(y @ tP["W_1"].T + tP["b_1"]) @ tP["W_2"].T + tP["b_2"]
            post = F.layer_norm(y, (d,), tP["ln2_g"], tP["ln2_b"], EPS).numpy()
        known = {"the layer norms come after the residual additions (post-LN) instead of "
                 "before each sublayer (pre-LN)": post}
        if x.shape[1] > 1:
            known["the causal mask is not passed to the attention"] = \
                _block_reference(x, P, h, np.ones_like(mask), zeros)[1]
        try:
            out, _ = _student("block_forward", block_forward, (x, P, h, mask),
                              ("x", "params", "n_heads", "mask"), 2)
            check_close("out", out, expected, axes=("N", "T", "d_model"), known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok("block_forward", len(cases))


def check_block_backward(block_forward, block_backward, part, seed=None, case=None):
    """part: "dx", or a group of parameter gradients: "attention", "layernorm", "ffn"."""
    if part != "dx" and part not in BLOCK_GROUPS:
        raise ValueError("unknown part")
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        x, P, h, mask, label = _block_case(rng, kind)
        dout = rng.standard_normal(x.shape)
        grads, _ = _block_reference(x, P, h, mask, dout)
        try:
            _, cache = _student("block_forward", block_forward, (x, P, h, mask),
                                ("x", "params", "n_heads", "mask"), 2)
            dx, dparams = _student("block_backward", block_backward, (dout, cache),
                                   ("dout", "cache"), 2)
            if part == "dx":
                known = {"the gradient of the residual path (the identity) is not added":
                         _block_reference(x, P, h, mask, dout, "no_residual_gradient")[0]["x"],
                         "only the query path of the self-attention reaches LN1(x) (its "
                         "output is also the keys and the values: add dx_q and dx_kv)":
                         _block_reference(x, P, h, mask, dout, "query_path_only")[0]["x"]}
                check_close("dx", dx, grads["x"], axes=("N", "T", "d_model"), known=known)
            else:
                if not isinstance(dparams, dict):
                    raise CheckFailure("the second value returned by block_backward must be a "
                                       "dict with the keys of params.")
                for name in BLOCK_GROUPS[part]:
                    if name not in dparams:
                        raise CheckFailure(f"the gradient dict has no key '{name}'.")
                    _check_param(name, dparams[name], grads[name])
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"block_backward {part}", len(cases))
