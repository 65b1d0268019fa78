"""Checks of a05 (the Transformer's gradients in numpy): the master passes, the torch
oracles equal torch.nn, mistakes are named, fully masked rows are named as such."""
import numpy as np
import pytest
import torch

from autograder import reference as ref
from autograder.checks import CheckFailure
from autograder.harness import Case
from course import load_master_functions

A05 = "a05-transformer"


def _a05_all_checks(a05, s, seed=None):
    a05.check_layernorm_forward(s["layernorm_forward"], seed=seed)
    for g in a05.LN_GRADS:
        a05.check_layernorm_backward(s["layernorm_forward"], s["layernorm_backward"], g, seed=seed)
    a05.check_masked_softmax_forward(s["masked_softmax_forward"], seed=seed)
    a05.check_masked_softmax_backward(s["masked_softmax_forward"], s["masked_softmax_backward"],
                                      seed=seed)
    for part in ("unmasked", "masked"):
        a05.check_mha_forward(s["mha_forward"], part, seed=seed)
    for g in a05.MHA_GRADS:
        a05.check_mha_backward(s["mha_forward"], s["mha_backward"], g, seed=seed)
    a05.check_block_forward(s["block_forward"], seed=seed)
    for part in ("dx", "attention", "layernorm", "ffn"):
        a05.check_block_backward(s["block_forward"], s["block_backward"], part, seed=seed)


def test_a05_reference_passes_visible_and_hidden_checks():
    from autograder import a05
    s = load_master_functions(A05)
    _a05_all_checks(a05, s, seed=0)
    _a05_all_checks(a05, s, seed=None)


def test_a05_torch_references_match_torch_nn():
    """The oracles of a05 are torch autograd on reference.mha / reference.block: check those
    forwards against nn.MultiheadAttention and nn.TransformerEncoderLayer(norm_first=True)."""
    torch.manual_seed(0)
    N, T_q, T_kv, d, h, d_ff = 2, 3, 5, 9, 3, 7
    mha = torch.nn.MultiheadAttention(d, h, batch_first=True, dtype=torch.float64)
    W, b = mha.in_proj_weight.detach(), mha.in_proj_bias.detach()
    with torch.no_grad():
        b.normal_()
    P = {f"W_{n}": W[i * d:(i + 1) * d] for i, n in enumerate("qkv")}
    P.update({f"b_{n}": b[i * d:(i + 1) * d] for i, n in enumerate("qkv")})
    P.update({"W_o": mha.out_proj.weight.detach(), "b_o": mha.out_proj.bias.detach()})
    x_q = torch.randn(N, T_q, d, dtype=torch.float64)
    x_kv = torch.randn(N, T_kv, d, dtype=torch.float64)
    mask = torch.rand(T_q, T_kv) < 0.6
    mask[:, 0] = True                                   # nn.MultiheadAttention gives NaN otherwise
    with torch.no_grad():
        expected = mha(x_q, x_kv, x_kv, attn_mask=~mask, need_weights=False)[0]
        torch.testing.assert_close(ref.mha(x_q, x_kv, **P, n_heads=h, mask=mask), expected,
                                   rtol=1e-12, atol=1e-12)
        layer = torch.nn.TransformerEncoderLayer(d, h, d_ff, dropout=0.0, batch_first=True,
                                                 norm_first=True, dtype=torch.float64).eval()
        for p in layer.parameters():
            p.normal_()
        a = layer.self_attn
        Wl, bl = a.in_proj_weight, a.in_proj_bias
        B = {f"W_{n}": Wl[i * d:(i + 1) * d] for i, n in enumerate("qkv")}
        B.update({f"b_{n}": bl[i * d:(i + 1) * d] for i, n in enumerate("qkv")})
        B.update({"W_o": a.out_proj.weight, "b_o": a.out_proj.bias,
                  "ln1_g": layer.norm1.weight, "ln1_b": layer.norm1.bias,
                  "ln2_g": layer.norm2.weight, "ln2_b": layer.norm2.bias,
                  "W_1": layer.linear1.weight, "b_1": layer.linear1.bias,
                  "W_2": layer.linear2.weight, "b_2": layer.linear2.bias})
        x = torch.randn(N, T_kv, d, dtype=torch.float64)
        causal = torch.tril(torch.ones(T_kv, T_kv, dtype=torch.bool))
        torch.testing.assert_close(ref.block(x, h, causal, **B), layer(x, src_mask=~causal),
                                   rtol=1e-12, atol=1e-12)
        # a fully masked row: zero weights, no NaN
        w = ref.masked_softmax(torch.randn(2, 3, 4, dtype=torch.float64),
                               torch.tensor([[False] * 4, [True, False, True, True], [True] * 4]))
        assert torch.isfinite(w).all() and (w[:, 0] == 0).all()
        torch.testing.assert_close(w.sum(-1)[:, 1:], torch.ones(2, 2, dtype=torch.float64))


def test_a05_visible_cases_have_an_odd_width_and_distinct_lengths():
    from autograder import a05
    inp, h, mask = a05._mha_case(Case("regular", 0, np.random.default_rng(0)))
    x_q, x_kv = inp["x_q"], inp["x_kv"]
    assert x_q.shape[-1] % 2 == 1 and x_q.shape[1] != x_kv.shape[1]
    assert len({x_q.shape[0], x_q.shape[1], x_kv.shape[1], x_q.shape[-1] // h}) == 4
    assert not mask[0].any()                            # the visible case has a fully masked query
    inp, h, mask = a05._block_case(Case("regular", 0, np.random.default_rng(0)))
    assert inp["x"].shape[-1] % 2 == 1 and len(set(inp["x"].shape)) == 3


@pytest.mark.parametrize("cell, mutation, check, message", [
    ("layernorm_forward", ("var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)",
                           "var = x.var(axis=-1, ddof=1, keepdims=True)"),
     lambda a, s: a.check_layernorm_forward(s["layernorm_forward"], seed=0), "unbiased"),
    ("layernorm_backward", ("\n                    - xhat * (g * xhat).mean(axis=-1, keepdims=True))", ")"),
     lambda a, s: a.check_layernorm_backward(s["layernorm_forward"], s["layernorm_backward"], "dx",
                                             seed=0), "variance is missing"),
    ("layernorm_backward", ("dx = inv_std * (g - g.mean(axis=-1, keepdims=True)",
                            "dx = inv_std * (g"),
     lambda a, s: a.check_layernorm_backward(s["layernorm_forward"], s["layernorm_backward"], "dx",
                                             seed=0), "mean is missing"),
    ("masked_softmax_forward", ("m = np.where(np.isfinite(m), m, 0.0)", "m = 0.0"),
     lambda a, s: a.check_masked_softmax_forward(s["masked_softmax_forward"], seed=123,
                                                 case="large"), "NaN or inf"),
    ("masked_softmax_backward", ("ds = w * (dw - (w * dw).sum(axis=-1, keepdims=True))", "ds = w * dw"),
     lambda a, s: a.check_masked_softmax_backward(s["masked_softmax_forward"],
                                                  s["masked_softmax_backward"], seed=0),
     "lacks the sum term"),
    ("mha_forward", ("allowed = np.ones((T_q, T_kv), dtype=bool) if mask is None else mask",
                     "allowed = np.ones((T_q, T_kv), dtype=bool)"),
     lambda a, s: a.check_mha_forward(s["mha_forward"], "masked", seed=0), "mask is ignored"),
    ("mha_backward", ("ds = masked_softmax_backward(dw, softmax_cache) / np.sqrt(d_head)",
                      "ds = masked_softmax_backward(dw, softmax_cache)"),
     lambda a, s: a.check_mha_backward(s["mha_forward"], s["mha_backward"], "dx_q", seed=0), "sqrt"),
    ("mha_backward", (' + merge(dv, T_kv) @ params["W_v"]', ""),
     lambda a, s: a.check_mha_backward(s["mha_forward"], s["mha_backward"], "dx_kv", seed=0),
     "values' path"),
    ('mha_backward', ('"W_o": dout.reshape(-1, d).T @ o.reshape(-1, d)',
                      '"W_o": o.reshape(-1, d).T @ dout.reshape(-1, d)'),
     lambda a, s: a.check_mha_backward(s["mha_forward"], s["mha_backward"], "dW_o", seed=0),
     "transpose"),
    ("mha_backward", ('grads[f"b_{name}"] = g.sum(axis=(0, 1))',
                      'grads[f"b_{name}"] = g.sum(axis=(0, 1)) + (name == "k")'),
     lambda a, s: a.check_mha_backward(s["mha_forward"], s["mha_backward"], "db", seed=0),
     "b_k"),
    ("block_backward", ("dx = dx1 + dx_attn", "dx = dx_attn"),
     lambda a, s: a.check_block_backward(s["block_forward"], s["block_backward"], "dx", seed=0),
     "residual path"),
    ("block_backward", ("layernorm_backward(dh1_q + dh1_kv, ln1_cache)",
                        "layernorm_backward(dh1_q, ln1_cache)"),
     lambda a, s: a.check_block_backward(s["block_forward"], s["block_backward"], "dx", seed=0),
     "only the query path"),
    ("block_forward", ("mha_forward(h1, h1, params, n_heads, mask)",
                       "mha_forward(h1, h1, params, n_heads)"),
     lambda a, s: a.check_block_forward(s["block_forward"], seed=0), "causal mask is not passed"),
])
def test_a05_mistakes_are_caught_and_named(cell, mutation, check, message):
    from autograder import a05
    s = load_master_functions(A05, {cell: mutation})
    with pytest.raises(CheckFailure, match=message):
        check(a05, s)


def test_an_all_masked_row_is_named_as_such():
    from autograder import a05
    s = load_master_functions(A05, {"masked_softmax_forward": (
        "w = e / np.where(total > 0, total, 1.0)", "w = e / total")})
    with pytest.raises(CheckFailure, match="all masked") as info:
        a05.check_masked_softmax_forward(s["masked_softmax_forward"], seed=0)
    assert info.value.causes == ["all_masked_row_nan"]


def test_a_wrong_forward_is_named_first_in_the_backward_test():
    from autograder import a05
    s = load_master_functions(A05, {"mha_forward": (
        'out = o @ params["W_o"].T + params["b_o"]', 'out = o @ params["W_o"].T')})
    with pytest.raises(CheckFailure, match="Fix mha_forward first") as info:
        a05.check_mha_backward(s["mha_forward"], s["mha_backward"], "dW_q", seed=0)
    assert info.value.causes[0] == "fix_first:mha_forward"


def test_mask_applied_after_the_softmax_is_named():
    from autograder import a05

    def masked_softmax_forward(s, mask):  # softmax of every score, then the masked ones zeroed
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        w = e / e.sum(axis=-1, keepdims=True) * mask
        return w, w
    with pytest.raises(CheckFailure, match="mask is applied after the softmax") as info:
        a05.check_masked_softmax_forward(masked_softmax_forward, seed=0)
    assert info.value.causes == ["mask_after_softmax"]
