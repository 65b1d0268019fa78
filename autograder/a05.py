"""Checks for assignment a05 (the Transformer's parts in torch).

The student writes torch code; every check runs it in float64 on shapes drawn at grading
time (seed=None) and compares with torch's own implementation: F.scaled_dot_product_attention,
nn.MultiheadAttention and nn.TransformerEncoderLayer with the student's weights mapped in.
Masks follow one convention throughout: a boolean mask is True where attention is ALLOWED.
Same replay API as every assignment (harness.run_cases).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import reference as ref
from .harness import CheckFailure, Mistakes, call, check_close, run_cases

CASES_HIDDEN = ("regular", "regular", "single", "large")


def _np(name, value):
    """A student's tensor as a float64 ndarray, with a clear message otherwise."""
    if isinstance(value, torch.Tensor):
        if value.dtype != torch.float64:
            raise CheckFailure(f"{name} has dtype {value.dtype}, expected torch.float64: "
                               "do not create float32 tensors (use the inputs' dtype).",
                               ["wrong_dtype"])
        return value.detach().cpu().numpy()
    if value is None:
        raise CheckFailure(f"{name} is None: a missing `return`?", ["returned_none"])
    raise CheckFailure(f"{name} must be a torch tensor, got {type(value).__name__}.",
                       ["not_a_tensor"])


def _randn(gen, *shape, scale=1.0):
    return scale * torch.randn(*shape, generator=gen, dtype=torch.float64)


def _run(name, fn, *tensors, arg_names=()):
    with torch.no_grad():
        return call(name, fn, *tensors, arg_names=arg_names)


# ---------------------------------------------------------------- softmax
def check_stable_softmax(stable_softmax, seed=None, case=None):
    def body(c):
        rng, kind, gen = c.rng, c.kind, c.torch_generator()
        shape = (1, 1) if kind == "single" else (int(rng.integers(2, 5)), int(rng.integers(2, 6)),
                                                 int(rng.integers(2, 7)))
        x = _randn(gen, *shape, scale=1000.0 if kind == "large" else 3.0)
        if kind == "large":
            x[..., 1] = x[..., 1].abs() + 800.0       # exp overflows in float64 past ~709
        if kind != "single":
            x[..., 0] = float("-inf")                 # a masked key in every row
            x[0, -1, :] = float("-inf")               # one fully masked row -> zeros
        c.label = f"{kind} case shape {tuple(shape)}" + (" with logits ~1000" if kind == "large" else "")
        got = _np("softmax", _run("stable_softmax", stable_softmax, x, -1, arg_names=("x", "dim")))
        naive = torch.exp(x) / torch.exp(x).sum(-1, keepdim=True)
        check_close("softmax", got, ref.softmax_zero_rows(x).numpy(),
                    all_masked=torch.isneginf(x).all(-1, keepdim=True).expand_as(x).numpy(),
                    known=Mistakes.of({"no_max_subtracted": (
                        "the maximum is not subtracted before exp (it overflows)",
                        naive.numpy() if torch.isfinite(naive).all() else None)}))
    run_cases("stable_softmax", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- causal mask
def check_causal_mask(causal_mask, seed=None, case=None):
    def body(c):
        T = 1 if c.kind == "single" else int(c.rng.integers(2, 9))
        c.label = f"{c.kind} case T={T}"
        expected = torch.tril(torch.ones(T, T, dtype=torch.bool))
        got = call("causal_mask", causal_mask, T, arg_names=("T",))
        if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
            raise CheckFailure("causal_mask must return a torch.bool tensor, got "
                               f"{getattr(got, 'dtype', type(got).__name__)}.", ["wrong_dtype"])
        if tuple(got.shape) != (T, T):
            raise CheckFailure(f"causal_mask({T}) has shape {tuple(got.shape)}, expected "
                               f"({T}, {T}).", ["wrong_shape"])
        if torch.equal(got, expected):
            return
        hint, cause = "", []
        for name, wrong, words in (
                ("inverted_mask", ~expected, "It is inverted: in this assignment True means "
                                             "'may attend'."),
                ("no_diagonal", torch.tril(expected, -1), "The diagonal is missing: position "
                                                          "t may attend to itself."),
                ("transposed", expected.T, "It is transposed: row t (the query) may see "
                                           "columns 0..t (the keys).")):
            if torch.equal(got, wrong):
                hint, cause = " " + words, [name]
                break
        i, j = (int(v) for v in torch.nonzero(got != expected)[0])
        raise CheckFailure(f"causal_mask({T}) is wrong at [query={i}, key={j}] (0-based): got "
                           f"{bool(got[i, j])}, expected {bool(expected[i, j])}.{hint}", cause)
    run_cases("causal_mask", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- attention
ATTENTION_MISTAKES = {
    "no_scale": "the scores are not divided by sqrt(d_k)",
    "inverted_mask": "the mask is inverted (True must mean 'may attend')",
    "softmax_over_queries": "the softmax runs over the queries (dim -2) instead of the keys",
    "no_mask": "the mask is ignored",
    "mask_after_softmax": "the mask is applied after the softmax (masked weights set to 0 "
                          "without renormalising the row)"}


def check_attention(scaled_dot_product_attention, part, seed=None, case=None):
    """part: "output" or "weights" (mask given), or "unmasked" (mask=None)."""
    def body(c):
        rng, kind, gen = c.rng, c.kind, c.torch_generator()
        if kind == "single":
            N, h, Tq, Tk = 1, 1, 1, 1
        else:
            N, h = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            Tq, Tk = int(rng.integers(2, 7)), int(rng.integers(2, 7))
        dk, dv = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        q = _randn(gen, N, h, Tq, dk, scale=6.0 if kind == "large" else 1.0)
        k, v = _randn(gen, N, h, Tk, dk), _randn(gen, N, h, Tk, dv)
        mask = torch.rand(Tq, Tk, generator=gen) < 0.7
        mask[:, 0] = True                      # every query sees at least one key
        if Tk > 1:
            mask[0, -1] = False                # and something is always masked
        use_mask = None if part == "unmasked" else mask
        c.label = f"{kind} case N={N}, heads={h}, Tq={Tq}, Tk={Tk}, d_k={dk}, d_v={dv}"

        def weights(ms=None):
            return ref.sdpa(q, k, v, use_mask, ms)[1]
        out = _run("scaled_dot_product_attention", scaled_dot_product_attention, q, k, v,
                   use_mask, arg_names=("q", "k", "v", "mask"))
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailure("scaled_dot_product_attention must return (out, weights).",
                               ["wrong_return_arity"])
        skip = ("inverted_mask", "no_mask", "mask_after_softmax") if use_mask is None \
            else ("softmax_over_queries",)
        table = {m: t for m, t in ATTENTION_MISTAKES.items() if m not in skip}
        if part in ("weights", "unmasked"):
            check_close("weights", _np("weights", out[1]), weights().numpy(),
                        axes=("N", "head", "query", "key"),
                        known=Mistakes(table, lambda ms: weights(ms).numpy()))
        if part in ("output", "unmasked"):
            check_close("out", _np("out", out[0]),
                        F.scaled_dot_product_attention(q, k, v, attn_mask=use_mask).numpy(),
                        axes=("N", "head", "query", "d_v"),
                        known=Mistakes(table, lambda ms: (weights(ms) @ v).numpy()))
    run_cases(f"scaled_dot_product_attention {part}", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- multi-head attention
def _mha_pair(MultiHeadAttention, d_model, n_heads, gen):
    """A torch nn.MultiheadAttention and the student's module with the same weights."""
    theirs = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True,
                                         dtype=torch.float64)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(d_model))
    mine = call("MultiHeadAttention(d_model, n_heads)", MultiHeadAttention, d_model, n_heads)
    mine = mine.double()
    _load_mha(mine, theirs, d_model)
    return theirs, mine


def _load_mha(mine, theirs, d):
    W, b = theirs.in_proj_weight, theirs.in_proj_bias
    try:
        with torch.no_grad():
            for i, lin in enumerate((mine.W_q, mine.W_k, mine.W_v)):
                lin.weight.copy_(W[i * d:(i + 1) * d])
                lin.bias.copy_(b[i * d:(i + 1) * d])
            mine.W_o.weight.copy_(theirs.out_proj.weight)
            mine.W_o.bias.copy_(theirs.out_proj.bias)
    except (AttributeError, RuntimeError) as exc:
        raise CheckFailure("keep the layers W_q, W_k, W_v, W_o created in __init__ as "
                           f"nn.Linear(d_model, d_model) ({exc}).", ["missing_layers"]) from None


def check_multihead_attention(MultiHeadAttention, part, seed=None, case=None):
    """part: "self" (self-attention), "cross" (other keys/values), "causal" (with a mask)."""
    def body(c):
        rng, kind, gen = c.rng, c.kind, c.torch_generator()
        n_heads = 1 if kind == "single" else int(rng.integers(2, 5))
        d_model = n_heads * int(rng.integers(2, 5))
        N, T = (1, 1) if kind == "single" else (int(rng.integers(1, 4)), int(rng.integers(2, 7)))
        Tk = T if part != "cross" else (1 if kind == "single" else int(rng.integers(2, 7)))
        c.label = f"{kind} case N={N}, T={T}, T_kv={Tk}, d_model={d_model}, heads={n_heads}"
        theirs, mine = _mha_pair(MultiHeadAttention, d_model, n_heads, gen)
        xq = _randn(gen, N, T, d_model, scale=3.0 if kind == "large" else 1.0)
        xkv = xq if part != "cross" else _randn(gen, N, Tk, d_model)
        mask = torch.tril(torch.ones(T, Tk, dtype=torch.bool)) if part == "causal" else None
        with torch.no_grad():
            expected = theirs(xq, xkv, xkv, attn_mask=None if mask is None else ~mask,
                              need_weights=False)[0]
            table = {"split_merge_no_transpose": (
                         "the heads are split and merged with a reshape/view but no transpose "
                         "(tokens and heads get mixed)",
                         ref.mha_wrong_split(theirs, xq, xkv, mask, n_heads).numpy()),
                     "split_no_transpose": (
                         "the heads are split with a reshape/view but no transpose (tokens "
                         "and heads get mixed)",
                         ref.mha_wrong_split(theirs, xq, xkv, mask, n_heads, False).numpy())}
            if mask is not None:
                table["no_mask"] = ("the mask is ignored",
                                    theirs(xq, xkv, xkv, need_weights=False)[0].numpy())
        got = _run("MultiHeadAttention.forward", mine, xq, xkv, mask,
                   arg_names=("x_q", "x_kv", "mask"))
        check_close("output", _np("output", got), expected.numpy(),
                    axes=("N", "query", "d_model"), known=Mistakes.of(table))
    run_cases(f"MultiHeadAttention {part}", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- positional encoding
def check_positional_encoding(positional_encoding, seed=None, case=None):
    def body(c):
        T = 1 if c.kind == "single" else int(c.rng.integers(2, 50))
        d = 2 * int(c.rng.integers(1, 9)) + (1 if c.kind == "large" else 0)  # odd d_model too
        c.label = f"{c.kind} case T={T}, d_model={d}"
        got = _run("positional_encoding", positional_encoding, T, d, arg_names=("T", "d_model"))
        check_close("PE", _np("PE", got), ref.positional_encoding(T, d).numpy(),
                    axes=("pos", "dim"), known=Mistakes({
                        "halves": "sin and cos are concatenated as two halves instead of "
                                  "interleaved on even/odd dimensions",
                        "exponent_i_over_d": "the exponent uses i/d_model instead of "
                                             "2i/d_model"},
                        lambda ms: ref.positional_encoding(T, d, ms).numpy()))
    run_cases("positional_encoding", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- Transformer block
def check_transformer_block(TransformerBlock, causal, seed=None, case=None):
    """Pre-LN block against nn.TransformerEncoderLayer(norm_first=True) with mapped weights."""
    def body(c):
        rng, kind, gen = c.rng, c.kind, c.torch_generator()
        n_heads = 1 if kind == "single" else int(rng.integers(2, 4))
        d_model = n_heads * int(rng.integers(2, 5))
        d_ff = int(rng.integers(4, 17))
        N, T = (1, 1) if kind == "single" else (int(rng.integers(1, 4)), int(rng.integers(2, 7)))
        c.label = f"{kind} case N={N}, T={T}, d_model={d_model}, heads={n_heads}, d_ff={d_ff}"
        kwargs = dict(d_model=d_model, nhead=n_heads, dim_feedforward=d_ff, dropout=0.0,
                      batch_first=True, dtype=torch.float64)
        pre = torch.nn.TransformerEncoderLayer(norm_first=True, **kwargs).eval()
        post = torch.nn.TransformerEncoderLayer(norm_first=False, **kwargs).eval()
        with torch.no_grad():
            for p, q in zip(pre.parameters(), post.parameters()):
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(d_model))
                if p is pre.norm1.weight or p is pre.norm2.weight:
                    p.add_(1.0)
                q.copy_(p)
        x = _randn(gen, N, T, d_model, scale=3.0 if kind == "large" else 1.0)
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool)) if causal else None
        torch_mask = None if mask is None else ~mask
        block = call("TransformerBlock(d_model, n_heads, d_ff)", TransformerBlock,
                     d_model, n_heads, d_ff).double()
        try:
            _load_mha(block.attn, pre.self_attn, d_model)
            with torch.no_grad():
                for mine, theirs in ((block.ln1, pre.norm1), (block.ln2, pre.norm2),
                                     (block.ff1, pre.linear1), (block.ff2, pre.linear2)):
                    mine.weight.copy_(theirs.weight)
                    mine.bias.copy_(theirs.bias)
        except AttributeError as exc:
            raise CheckFailure("keep the submodules attn, ln1, ln2, ff1, ff2 created in "
                               f"__init__ ({exc}).", ["missing_layers"]) from None
        with torch.no_grad():
            expected = pre(x, src_mask=torch_mask)
            table = {"post_ln": ("the layer norms are applied after the residual additions "
                                 "(post-LN) instead of before each sublayer (pre-LN)",
                                 post(x, src_mask=torch_mask).numpy())}
            if mask is not None:
                table["no_mask"] = ("the mask is not passed to the attention", pre(x).numpy())
        got = _run("TransformerBlock.forward", block, x, mask, arg_names=("x", "mask"))
        check_close("output", _np("output", got), expected.numpy(),
                    axes=("N", "T", "d_model"), known=Mistakes.of(table))
    run_cases(f"TransformerBlock{' causal' if causal else ''}", seed, case, body, CASES_HIDDEN)
