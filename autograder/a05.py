"""Checks for assignment a05 (the Transformer's parts in torch).

The student writes torch code; every check runs it in float64 on shapes drawn at
grading time (seed=None) and compares with torch's own implementation:
F.scaled_dot_product_attention, nn.MultiheadAttention and nn.TransformerEncoderLayer
with the student's weights mapped in. Masks follow one convention throughout the
assignment: a boolean mask is True where attention is ALLOWED.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .checks import CheckFailure, check_close
from .harness import call, case_seeds, rng_for, with_seed

CASES_VISIBLE = ("regular",)
CASES_HIDDEN = ("regular", "regular", "single", "large")


def _ok(what, n):
    print(f"{what}: OK ({n} case{'s' if n > 1 else ''})")


def _np(name, value):
    """A student's tensor as a float64 ndarray, with a clear message otherwise."""
    if isinstance(value, torch.Tensor):
        if value.dtype != torch.float64:
            raise CheckFailure(f"{name} has dtype {value.dtype}, expected torch.float64: "
                               "do not create float32 tensors (use the inputs' dtype).")
        return value.detach().cpu().numpy()
    if value is None:
        raise CheckFailure(f"{name} is None: a missing `return`?")
    raise CheckFailure(f"{name} must be a torch tensor, got {type(value).__name__}.")


def _randn(gen, *shape, scale=1.0):
    return scale * torch.randn(*shape, generator=gen, dtype=torch.float64)


def _run(name, fn, *tensors, arg_names=()):
    """Call student code on clones and report in-place modification of an input."""
    clones = [t.clone() if isinstance(t, torch.Tensor) else t for t in tensors]
    with torch.no_grad():
        out = call(name, fn, *clones, arg_names=arg_names)
    for i, (a, b) in enumerate(zip(tensors, clones)):
        if isinstance(a, torch.Tensor) and not torch.equal(a, b):
            label = arg_names[i] if i < len(arg_names) else f"argument {i + 1}"
            raise CheckFailure(f"your code modified its input `{label}` in place.")
    return out


# ---------------------------------------------------------------- softmax
def reference_softmax(x, dim=-1):
    """softmax that gives zeros (not NaN) on rows whose entries are all -inf."""
    out = torch.softmax(x, dim=dim)
    return torch.nan_to_num(out, nan=0.0)


def check_stable_softmax(stable_softmax, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        gen = torch.Generator().manual_seed(int(seed))
        shape = (1, 1) if kind == "single" else (int(rng.integers(2, 5)), int(rng.integers(2, 6)),
                                                 int(rng.integers(2, 7)))
        scale = 1000.0 if kind == "large" else 3.0
        x = _randn(gen, *shape, scale=scale)
        if kind == "large":
            x[..., 1] = x[..., 1].abs() + 800.0       # exp overflows in float64 past ~709
        if kind != "single":
            x[..., 0] = float("-inf")                 # a masked key in every row
            x[0, -1, :] = float("-inf")               # one fully masked row -> zeros
        dim = -1
        label = f"{kind} case shape {tuple(shape)}" + (" with logits ~1000" if kind == "large" else "")
        try:
            got = _np("softmax", _run("stable_softmax", stable_softmax, x, dim,
                                      arg_names=("x", "dim")))
            naive = torch.exp(x) / torch.exp(x).sum(dim, keepdim=True)
            check_close("softmax", got, reference_softmax(x, dim).numpy(),
                        known={"the maximum is not subtracted before exp (it overflows)":
                               naive.numpy() if torch.isfinite(naive).all() else None})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok("stable_softmax", len(cases))


# ---------------------------------------------------------------- causal mask
def check_causal_mask(causal_mask, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        T = 1 if kind == "single" else int(rng.integers(2, 9))
        expected = torch.tril(torch.ones(T, T, dtype=torch.bool))
        try:
            got = call("causal_mask", causal_mask, T, arg_names=("T",))
            if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
                raise CheckFailure("causal_mask must return a torch.bool tensor, got "
                                   f"{getattr(got, 'dtype', type(got).__name__)}.")
            if tuple(got.shape) != (T, T):
                raise CheckFailure(f"causal_mask({T}) has shape {tuple(got.shape)}, expected ({T}, {T}).")
            if not torch.equal(got, expected):
                if torch.equal(got, ~expected):
                    hint = " It is inverted: in this assignment True means 'may attend'."
                elif torch.equal(got, torch.tril(torch.ones(T, T, dtype=torch.bool), -1)):
                    hint = " The diagonal is missing: position t may attend to itself."
                elif torch.equal(got, expected.T):
                    hint = " It is transposed: row t (the query) may see columns 0..t (the keys)."
                else:
                    hint = ""
                i, j = [int(v) for v in torch.nonzero(got != expected)[0]]
                raise CheckFailure(f"causal_mask({T}) is wrong at [query {i}, key {j}]: "
                                   f"got {bool(got[i, j])}, expected {bool(expected[i, j])}.{hint}")
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, f"{kind} case T={T}", kind)) from None
    _ok("causal_mask", len(cases))


# ---------------------------------------------------------------- attention
def _sdpa_case(rng, gen, kind):
    if kind == "single":
        N, h, Tq, Tk = 1, 1, 1, 1
    else:
        N, h = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        Tq, Tk = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    dk, dv = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    scale = 6.0 if kind == "large" else 1.0
    q, k, v = _randn(gen, N, h, Tq, dk, scale=scale), _randn(gen, N, h, Tk, dk), _randn(gen, N, h, Tk, dv)
    mask = torch.rand(Tq, Tk, generator=gen) < 0.7
    mask[:, 0] = True                      # every query sees at least one key
    if Tk > 1:
        mask[0, -1] = False                # and something is always masked
    return q, k, v, mask, f"{kind} case N={N}, heads={h}, Tq={Tq}, Tk={Tk}, d_k={dk}, d_v={dv}"


def check_attention(scaled_dot_product_attention, part, seed=None, case=None):
    """part: "output" or "weights" (mask given), or "unmasked" (mask=None)."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        gen = torch.Generator().manual_seed(int(seed))
        q, k, v, mask, label = _sdpa_case(rng, gen, kind)
        use_mask = None if part == "unmasked" else mask
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if use_mask is not None:
            scores = scores.masked_fill(~use_mask, float("-inf"))
        w_ref = torch.softmax(scores, dim=-1)
        out_ref = F.scaled_dot_product_attention(q, k, v, attn_mask=use_mask)
        unscaled = torch.softmax((q @ k.transpose(-2, -1)).masked_fill(
            ~(use_mask if use_mask is not None else torch.ones_like(mask)), float("-inf")), -1)
        inverted = None
        if use_mask is not None:
            inverted = reference_softmax((q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]))
                                         .masked_fill(mask, float("-inf")), -1)
        wrong_dim = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2)
        try:
            out = _run("scaled_dot_product_attention", scaled_dot_product_attention, q, k, v,
                       use_mask, arg_names=("q", "k", "v", "mask"))
            if not isinstance(out, tuple) or len(out) != 2:
                raise CheckFailure("scaled_dot_product_attention must return (out, weights).")
            got_out, got_w = out
            known_w = {"the scores are not divided by sqrt(d_k)": unscaled.numpy(),
                       "the mask is inverted (True must mean 'may attend')":
                           None if inverted is None else inverted.numpy(),
                       "the softmax runs over the queries (dim -2) instead of the keys":
                           wrong_dim.numpy() if use_mask is None else None,
                       "the mask is ignored": torch.softmax(q @ k.transpose(-2, -1) /
                                                            math.sqrt(q.shape[-1]), -1).numpy()
                           if use_mask is not None else None}
            axes = ("N", "head", "query", "key")
            if part == "weights" or part == "unmasked":
                check_close("weights", _np("weights", got_w), w_ref.numpy(), axes=axes,
                            known=known_w)
            if part in ("output", "unmasked"):
                known_out = {c: (torch.tensor(w) @ v).numpy() for c, w in known_w.items()
                             if w is not None}
                check_close("out", _np("out", got_out), out_ref.numpy(),
                            axes=("N", "head", "query", "d_v"), known=known_out)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"scaled_dot_product_attention {part}", len(cases))


# ---------------------------------------------------------------- multi-head attention
def _mha_pair(MultiHeadAttention, d_model, n_heads, gen):
    """A torch nn.MultiheadAttention and the student's module with the same weights."""
    ref = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(d_model))
    mine = call("MultiHeadAttention(d_model, n_heads)", MultiHeadAttention, d_model, n_heads)
    mine = mine.double()
    _load_mha(mine, ref, d_model)
    return ref, mine


def _load_mha(mine, ref, d):
    W, b = ref.in_proj_weight, ref.in_proj_bias
    try:
        with torch.no_grad():
            for i, lin in enumerate((mine.W_q, mine.W_k, mine.W_v)):
                lin.weight.copy_(W[i * d:(i + 1) * d])
                lin.bias.copy_(b[i * d:(i + 1) * d])
            mine.W_o.weight.copy_(ref.out_proj.weight)
            mine.W_o.bias.copy_(ref.out_proj.bias)
    except (AttributeError, RuntimeError) as exc:
        raise CheckFailure("keep the layers W_q, W_k, W_v, W_o created in __init__ as "
                           f"nn.Linear(d_model, d_model) ({exc}).") from None


def _wrong_split(ref, xq, xkv, mask, n_heads, merge_wrong=True):
    """MHA whose heads are split with a plain view (no transpose): a classic bug."""
    d = xq.shape[-1]
    W, b = ref.in_proj_weight, ref.in_proj_bias
    q, k, v = (x @ W[i * d:(i + 1) * d].T + b[i * d:(i + 1) * d]
               for i, x in enumerate((xq, xkv, xkv)))
    N, Tq, Tk, dh = xq.shape[0], xq.shape[1], xkv.shape[1], d // n_heads
    q, k, v = q.reshape(N, n_heads, Tq, dh), k.reshape(N, n_heads, Tk, dh), v.reshape(N, n_heads, Tk, dh)
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (N, heads, Tq, dh)
    o = o.reshape(N, Tq, d) if merge_wrong else o.transpose(1, 2).reshape(N, Tq, d)
    return ref.out_proj(o)


def check_multihead_attention(MultiHeadAttention, part, seed=None, case=None):
    """part: "self" (self-attention), "cross" (other keys/values), "causal" (with a mask)."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        gen = torch.Generator().manual_seed(int(seed))
        n_heads = 1 if kind == "single" else int(rng.integers(2, 5))
        d_model = n_heads * int(rng.integers(2, 5))
        N, T = (1, 1) if kind == "single" else (int(rng.integers(1, 4)), int(rng.integers(2, 7)))
        Tk = T if part != "cross" else (1 if kind == "single" else int(rng.integers(2, 7)))
        label = f"{kind} case N={N}, T={T}, T_kv={Tk}, d_model={d_model}, heads={n_heads}"
        try:
            ref, mine = _mha_pair(MultiHeadAttention, d_model, n_heads, gen)
            xq = _randn(gen, N, T, d_model, scale=3.0 if kind == "large" else 1.0)
            xkv = xq if part != "cross" else _randn(gen, N, Tk, d_model)
            mask = torch.tril(torch.ones(T, Tk, dtype=torch.bool)) if part == "causal" else None
            with torch.no_grad():
                expected = ref(xq, xkv, xkv, attn_mask=None if mask is None else ~mask,
                               need_weights=False)[0]
                known = {"the heads are split and merged with a reshape/view but no "
                         "transpose (tokens and heads get mixed)":
                         _wrong_split(ref, xq, xkv, mask, n_heads).numpy(),
                         "the heads are split with a reshape/view but no transpose (tokens "
                         "and heads get mixed)":
                         _wrong_split(ref, xq, xkv, mask, n_heads, merge_wrong=False).numpy()}
                if mask is not None:
                    known["the mask is ignored"] = ref(xq, xkv, xkv, need_weights=False)[0].numpy()
            got = _run("MultiHeadAttention.forward", mine, xq, xkv, mask,
                       arg_names=("x_q", "x_kv", "mask"))
            check_close("output", _np("output", got), expected.numpy(),
                        axes=("N", "query", "d_model"), known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"MultiHeadAttention {part}", len(cases))


# ---------------------------------------------------------------- positional encoding
def reference_positional_encoding(T, d_model):
    """Vaswani et al. (2017): PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)."""
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / 10000 ** (i / d_model)                   # (T, ceil(d/2))
    pe = torch.zeros(T, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe


def check_positional_encoding(positional_encoding, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        T = 1 if kind == "single" else int(rng.integers(2, 50))
        d = 2 * int(rng.integers(1, 9)) + (1 if kind == "large" else 0)  # odd d_model too
        expected = reference_positional_encoding(T, d)
        halves = torch.cat([expected[:, 0::2], expected[:, 1::2]], dim=1)
        pos = torch.arange(T, dtype=torch.float64)[:, None]
        j = torch.arange(0, d, 2, dtype=torch.float64)
        wrong_exp = expected.clone()
        wrong_exp[:, 0::2] = torch.sin(pos / 10000 ** (j / 2 / d))
        wrong_exp[:, 1::2] = torch.cos(pos / 10000 ** (j / 2 / d))[:, : d // 2]
        try:
            got = _run("positional_encoding", positional_encoding, T, d, arg_names=("T", "d_model"))
            check_close("PE", _np("PE", got), expected.numpy(), axes=("pos", "dim"),
                        known={"sin and cos are concatenated as two halves instead of "
                               "interleaved on even/odd dimensions": halves.numpy(),
                               "the exponent uses i/d_model instead of 2i/d_model":
                               wrong_exp.numpy()})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, f"{kind} case T={T}, d_model={d}", kind)) from None
    _ok("positional_encoding", len(cases))


# ---------------------------------------------------------------- Transformer block
def check_transformer_block(TransformerBlock, causal, seed=None, case=None):
    """Pre-LN block against nn.TransformerEncoderLayer(norm_first=True) with mapped weights."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        gen = torch.Generator().manual_seed(int(seed))
        n_heads = 1 if kind == "single" else int(rng.integers(2, 4))
        d_model = n_heads * int(rng.integers(2, 5))
        d_ff = int(rng.integers(4, 17))
        N, T = (1, 1) if kind == "single" else (int(rng.integers(1, 4)), int(rng.integers(2, 7)))
        label = f"{kind} case N={N}, T={T}, d_model={d_model}, heads={n_heads}, d_ff={d_ff}"
        kwargs = dict(d_model=d_model, nhead=n_heads, dim_feedforward=d_ff, dropout=0.0,
                      batch_first=True, dtype=torch.float64)
        ref = torch.nn.TransformerEncoderLayer(norm_first=True, **kwargs).eval()
        post = torch.nn.TransformerEncoderLayer(norm_first=False, **kwargs).eval()
        with torch.no_grad():
            for p, q in zip(ref.parameters(), post.parameters()):
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(d_model))
                if p.dim() == 1 and p.shape[0] == d_model:
                    p.add_(1.0 if p is ref.norm1.weight or p is ref.norm2.weight else 0.0)
                q.copy_(p)
        x = _randn(gen, N, T, d_model, scale=3.0 if kind == "large" else 1.0)
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool)) if causal else None
        torch_mask = None if mask is None else ~mask
        try:
            block = call("TransformerBlock(d_model, n_heads, d_ff)", TransformerBlock,
                         d_model, n_heads, d_ff).double()
            try:
                _load_mha(block.attn, ref.self_attn, d_model)
                with torch.no_grad():
                    for mine, theirs in ((block.ln1, ref.norm1), (block.ln2, ref.norm2),
                                         (block.ff1, ref.linear1), (block.ff2, ref.linear2)):
                        mine.weight.copy_(theirs.weight)
                        mine.bias.copy_(theirs.bias)
            except AttributeError as exc:
                raise CheckFailure("keep the submodules attn, ln1, ln2, ff1, ff2 created in "
                                   f"__init__ ({exc}).") from None
            with torch.no_grad():
                expected = ref(x, src_mask=torch_mask)
                known = {"the layer norms are applied after the residual additions (post-LN) "
                         "instead of before each sublayer (pre-LN)": post(x, src_mask=torch_mask).numpy()}
                if mask is not None:
                    known["the mask is not passed to the attention"] = ref(x).numpy()
            got = _run("TransformerBlock.forward", block, x, mask, arg_names=("x", "mask"))
            check_close("output", _np("output", got), expected.numpy(),
                        axes=("N", "T", "d_model"), known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"TransformerBlock{' causal' if causal else ''}", len(cases))
