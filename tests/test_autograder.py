"""Unit tests of the autograder package: strict checks, gradient oracles, and that
known-wrong solutions of a01 are caught and the cause is named."""
import numpy as np
import pytest
import torch

from autograder import a01, harness
from autograder.checks import CheckFailure, check_close, check_type, rel_error
from autograder.gradcheck import numeric_grad, numeric_vjp, torch_vjp
from course import load_master_functions

A01 = "a01-rnn"


# ----------------------------------------------------------------- strict checks
def test_broadcastable_shape_is_rejected():
    with pytest.raises(CheckFailure, match=r"shape \(3, 1\), expected \(3,\)"):
        check_close("v", np.ones((3, 1)), np.ones(3))


def test_transposed_shape_is_named():
    with pytest.raises(CheckFailure, match="transposed shape"):
        check_close("dW", np.ones((2, 3)), np.ones((3, 2)))


@pytest.mark.parametrize("value, message", [
    (np.ones(3, dtype=np.float32), "dtype float32"),
    ([1.0, 1.0, 1.0], "must be a numpy array"),
    (torch.ones(3, dtype=torch.float64), "torch tensor"),
    (np.array([1.0, np.nan, 1.0]), "NaN or inf"),
    (None, "is None"),
])
def test_bad_types_get_clear_messages(value, message):
    with pytest.raises(CheckFailure, match=message):
        check_type("v", value, shape=(3,))


def test_worst_time_step_is_reported_one_based():
    expected = np.zeros((2, 4, 3))
    got = expected.copy()
    got[1, 2, 0] = 0.5
    with pytest.raises(CheckFailure, match=r"\[N=1, t=3 \(index 2\), H=0\]"):
        check_close("dh", got, expected, axes=("N", "T", "H"))


def test_equal_arrays_pass_and_rel_error_is_symmetric():
    a = np.random.default_rng(0).standard_normal((4, 5))
    check_close("a", a.copy(), a)
    assert np.allclose(rel_error(a, 2 * a), rel_error(2 * a, a))


# ----------------------------------------------------------------- oracles
def test_numeric_vjp_is_precise_in_float64():
    rng = np.random.default_rng(0)
    x, up = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    num = numeric_vjp(lambda: np.tanh(x), x, up)
    exact = up * (1 - np.tanh(x) ** 2)
    assert np.max(rel_error(num, exact)) < 1e-8


def test_numeric_vjp_refuses_float32():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        numeric_vjp(lambda: x * 2, x, np.ones(3))


def test_torch_vjp_matches_numeric_gradient():
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((2, 3, 4)), "h0": rng.standard_normal((2, 5)),
              "W_xh": rng.standard_normal((5, 4)), "W_hh": rng.standard_normal((5, 5)) * 0.5,
              "b_h": rng.standard_normal(5)}
    from autograder import reference as ref
    up = rng.standard_normal((2, 3, 5))
    grads, _ = torch_vjp(ref.rnn_forward, inputs, up)

    def forward():
        t = {k: torch.tensor(v) for k, v in inputs.items()}
        return ref.rnn_forward(**t).numpy()

    for name in inputs:
        num = numeric_vjp(forward, inputs[name], up)
        assert np.max(rel_error(grads[name], num)) < 1e-7, name
    assert numeric_grad(lambda: float(np.sum(inputs["b_h"] ** 2)), inputs["b_h"]).shape == (5,)


# ----------------------------------------------------------------- the reference solution passes
@pytest.fixture(scope="module")
def solution():
    return load_master_functions(A01)


def test_reference_solution_passes_every_hidden_check(solution):
    s = solution
    a01.check_rnn_step_forward(s["rnn_step_forward"])
    a01.check_rnn_forward(s["rnn_forward"])
    for g in a01.STEP_GRADS:
        a01.check_rnn_step_backward(s["rnn_step_forward"], s["rnn_step_backward"], g)
    for g in a01.SEQ_GRADS:
        a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], g)
    a01.check_temporal_softmax_loss(s["temporal_softmax_loss"], "loss")
    a01.check_temporal_softmax_loss(s["temporal_softmax_loss"], "dlogits")
    a01.check_clip_grad_norm(s["clip_grad_norm"])


# ----------------------------------------------------------------- known mistakes are caught and named
def test_missing_tanh_derivative_is_named():
    s = load_master_functions(A01, {"rnn_step_backward": ("(1.0 - h_next ** 2)", "1.0")})
    with pytest.raises(CheckFailure, match=r"tanh derivative .* is left out"):
        a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], "dW_hh")
    with pytest.raises(CheckFailure, match=r"tanh derivative"):
        a01.check_rnn_step_backward(s["rnn_step_forward"], s["rnn_step_backward"], "dx")


def test_gradient_not_carried_across_time_is_named():
    s = load_master_functions(A01, {"rnn_backward": ("dh[:, t] + dh_carry", "dh[:, t]")})
    with pytest.raises(CheckFailure, match=r"not carried back"):
        a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], "dW_hh")
    with pytest.raises(CheckFailure, match=r"right at the last time step|not carried back"):
        a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], "dx")


def test_transposed_weight_gradient_is_named():
    s = load_master_functions(A01, {"rnn_backward": ("dW_hh += dWh", "dW_hh += dWh.T")})
    with pytest.raises(CheckFailure, match=r"transpose"):
        a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], "dW_hh")
    # and only that gradient is affected
    a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], "dW_xh")


def test_unstable_softmax_is_caught_on_large_logits():
    naive = ("shifted = logits - logits.max(axis=-1, keepdims=True)", "shifted = logits")
    s = load_master_functions(A01, {"temporal_softmax_loss": naive})
    a01.check_temporal_softmax_loss(s["temporal_softmax_loss"], "loss", seed=0)  # small logits: fine
    with pytest.raises(CheckFailure, match="NaN or inf"):
        for _ in range(5):  # the hidden cases always include logits in the hundreds
            a01.check_temporal_softmax_loss(s["temporal_softmax_loss"], "loss")


def test_ignored_mask_is_named():
    s = load_master_functions(A01, {"temporal_softmax_loss": ("dlogits *= mask[..., None] / N",
                                                              "dlogits /= N")})
    with pytest.raises(CheckFailure, match="mask is ignored"):
        a01.check_temporal_softmax_loss(s["temporal_softmax_loss"], "dlogits")


def test_clip_by_value_is_named():
    s = load_master_functions(A01, {"clip_grad_norm": (
        "clipped = {k: g * scale for k, g in grads.items()}",
        "clipped = {k: np.clip(g, -max_norm, max_norm) for k, g in grads.items()}")})
    with pytest.raises(CheckFailure, match="clip by value"):
        a01.check_clip_grad_norm(s["clip_grad_norm"])


# ----------------------------------------------------------------- bad submissions
def test_unfinished_function_is_reported():
    def rnn_forward(*args):
        raise NotImplementedError()
    with pytest.raises(CheckFailure, match="not implemented yet"):
        a01.check_rnn_forward(rnn_forward, seed=0)


def test_crashing_function_is_reported_with_its_line():
    def rnn_step_forward(x, h_prev, W_xh, W_hh, b_h):
        return np.tanh(x @ W_xh + h_prev @ W_hh.T + b_h), None  # wrong: W_xh not transposed
    with pytest.raises(CheckFailure, match=r"raised ValueError: .*line \d+"):
        a01.check_rnn_step_forward(rnn_step_forward, seed=0)


def test_in_place_modification_is_reported(solution):
    def rnn_forward(x, h0, W_xh, W_hh, b_h):
        x *= 1.0 + 1e-3
        return solution["rnn_forward"](x, h0, W_xh, W_hh, b_h)
    with pytest.raises(CheckFailure, match="modified its input `x` in place"):
        a01.check_rnn_forward(rnn_forward, seed=0)


def test_wrong_return_arity_is_reported():
    with pytest.raises(CheckFailure, match="must return a tuple of 2"):
        a01.check_rnn_forward(lambda *a: np.zeros(3), seed=0)


def test_infinite_loop_times_out(monkeypatch):
    monkeypatch.setattr(harness, "TIME_LIMIT_S", 1)

    def rnn_forward(*args):
        while True:
            pass
    with pytest.raises(CheckFailure, match="did not finish within 1 s"):
        a01.check_rnn_forward(rnn_forward, seed=0)


def test_hidden_cases_include_edge_cases():
    assert "single" in a01.CASES_HIDDEN and "saturated" in a01.CASES_HIDDEN
    rng = np.random.default_rng(0)
    p, dims = a01._rnn_params(rng, "single")
    assert dims[:2] == (1, 1)
    p, dims = a01._rnn_params(rng, "saturated")
    a = np.abs(p["x"][:, 0] @ p["W_xh"].T)
    assert a.max() > 2.0  # tanh saturates


# ----------------------------------------------------------------- a02: known mistakes
A02 = "a02-bptt"


def test_a02_reference_passes_hidden_checks():
    from autograder import a02
    s = load_master_functions(A02)
    a02.check_jordan_forward(s["jordan_forward"])
    for g in a02.JORDAN_GRADS:
        a02.check_jordan_backward(s["jordan_forward"], s["jordan_backward"], g)
    for part in ("loss", "h_last") + a02.LM_PARAMS:
        a02.check_tbptt(s["tbptt_gradients"], part)
    a02.check_clip_by_value(s["clip_by_value"])
    a02.check_grad_norm_by_lag(s["grad_norm_by_lag"])


@pytest.mark.parametrize("mutation, grad, message", [
    (("g_y = dy[:, t] + dy_carry", "g_y = dy[:, t]"), "dW_yh", "not carried back"),
    (("* (1.0 - h[:, t] ** 2)", ""), "dW_xh", "tanh derivative"),
    (("dW_yh += da.T @ y_prev", "dW_yh += da.T @ y[:, t]"), "dW_yh", "relative error"),
])
def test_a02_jordan_mistakes_are_caught(mutation, grad, message):
    from autograder import a02
    s = load_master_functions(A02, {"jordan_backward": mutation})
    with pytest.raises(CheckFailure, match=message):
        a02.check_jordan_backward(s["jordan_forward"], s["jordan_backward"], grad)


def test_a02_tbptt_mistakes_are_named():
    from autograder import a02
    s = load_master_functions(A02, {"tbptt_gradients": ("h = states[start].detach()",
                                                        "h = torch.tensor(h0)")})
    with pytest.raises(CheckFailure, match="reset to h0"):
        a02.check_tbptt(s["tbptt_gradients"], "W_hh")
    s = load_master_functions(A02, {"tbptt_gradients": ("start = max(0, block_end - k2)",
                                                        "start = block_start")})
    with pytest.raises(CheckFailure, match="k2 is ignored"):
        a02.check_tbptt(s["tbptt_gradients"], "W_hh", seed=0)


def test_a02_reversed_lag_order_is_named():
    from autograder import a02
    s = load_master_functions(A02, {"grad_norm_by_lag": ("norms = np.array(norms)",
                                                         "norms = np.array(norms)[::-1]")})
    with pytest.raises(CheckFailure, match="reversed"):
        a02.check_grad_norm_by_lag(s["grad_norm_by_lag"])


# ----------------------------------------------------------------- a05: gradients by hand
A05 = "a05-transformer"


def _a05_all_checks(a05, s, seed=None):
    a05.check_layernorm_forward(s["layernorm_forward"], seed=seed)
    for g in ("dx", "dgamma", "dbeta"):
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
    """The oracles of a05 are torch autograd on torch_mha / torch_block: check those
    forwards against nn.MultiheadAttention and nn.TransformerEncoderLayer(norm_first=True)."""
    from autograder import a05
    torch.manual_seed(0)
    N, T_q, T_kv, d, h, d_ff = 2, 3, 5, 9, 3, 7
    mha = torch.nn.MultiheadAttention(d, h, batch_first=True, dtype=torch.float64)
    W, b = mha.in_proj_weight.detach(), mha.in_proj_bias.detach()
    with torch.no_grad():
        b.normal_()
    P = {f"W_{n}": W[i * d:(i + 1) * d] for i, n in enumerate("qkv")}
    P.update({f"b_{n}": b[i * d:(i + 1) * d] for i, n in enumerate("qkv")})
    P.update({"W_o": mha.out_proj.weight.detach(), "b_o": mha.out_proj.bias.detach()})
    x_q, x_kv = torch.randn(N, T_q, d, dtype=torch.float64), torch.randn(N, T_kv, d, dtype=torch.float64)
    mask = torch.rand(T_q, T_kv) < 0.6
    mask[:, 0] = True                                   # nn.MultiheadAttention gives NaN otherwise
    with torch.no_grad():
        expected = mha(x_q, x_kv, x_kv, attn_mask=~mask, need_weights=False)[0]
        torch.testing.assert_close(a05.torch_mha(x_q, x_kv, P, h, mask), expected, rtol=1e-12, atol=1e-12)
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
        torch.testing.assert_close(a05.torch_block(x, B, h, causal), layer(x, src_mask=~causal),
                                   rtol=1e-12, atol=1e-12)
        # a fully masked row: zero weights, no NaN
        w = a05.torch_masked_softmax(torch.randn(2, 3, 4, dtype=torch.float64),
                                     torch.tensor([[False] * 4, [True, False, True, True], [True] * 4]))
        assert torch.isfinite(w).all() and (w[:, 0] == 0).all()
        torch.testing.assert_close(w.sum(-1)[:, 1:], torch.ones(2, 2, dtype=torch.float64))


def test_a05_visible_cases_have_an_odd_width_and_distinct_lengths():
    from autograder import a05
    x_q, x_kv, P, h, mask, _ = a05._mha_case(np.random.default_rng(0), "regular")
    assert x_q.shape[-1] % 2 == 1 and x_q.shape[1] != x_kv.shape[1]
    assert len({x_q.shape[0], x_q.shape[1], x_kv.shape[1], x_q.shape[-1] // h}) == 4
    assert not mask[0].any()                            # the visible case has a fully masked query
    x, P, h, mask, _ = a05._block_case(np.random.default_rng(0), "regular")
    assert x.shape[-1] % 2 == 1 and len(set(x.shape)) == 3


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
    ("masked_softmax_forward", ("w = e / np.where(total > 0, total, 1.0)", "w = e / total"),
     lambda a, s: a.check_masked_softmax_forward(s["masked_softmax_forward"], seed=0), "NaN"),
    ("masked_softmax_forward", ("m = np.where(np.isfinite(m), m, 0.0)", "m = 0.0"),
     lambda a, s: a.check_masked_softmax_forward(s["masked_softmax_forward"], seed=123, case="large"), "NaN or inf"),
    ("masked_softmax_backward", ("ds = w * (dw - (w * dw).sum(axis=-1, keepdims=True))", "ds = w * dw"),
     lambda a, s: a.check_masked_softmax_backward(s["masked_softmax_forward"], s["masked_softmax_backward"], seed=0), "coupling term"),
    ("mha_forward", ("allowed = np.ones((T_q, T_kv), dtype=bool) if mask is None else mask",
                     "allowed = np.ones((T_q, T_kv), dtype=bool)"),
     lambda a, s: a.check_mha_forward(s["mha_forward"], "masked", seed=0), "mask is ignored"),
    ("mha_backward", ("ds = masked_softmax_backward(dw, softmax_cache) / np.sqrt(d_head)",
                      "ds = masked_softmax_backward(dw, softmax_cache)"),
     lambda a, s: a.check_mha_backward(s["mha_forward"], s["mha_backward"], "dx_q", seed=0), "sqrt"),
    ("mha_backward", (' + merge(dv, T_kv) @ params["W_v"]', ""),
     lambda a, s: a.check_mha_backward(s["mha_forward"], s["mha_backward"], "dx_kv", seed=0),
     "values' path"),
    ('mha_backward', ('"W_o": dout.reshape(-1, d).T @ o.reshape(-1, d)', '"W_o": o.reshape(-1, d).T @ dout.reshape(-1, d)'),
     lambda a, s: a.check_mha_backward(s["mha_forward"], s["mha_backward"], "dW_o", seed=0), "transpose"),
    ("mha_backward", ('grads[f"b_{name}"] = g.sum(axis=(0, 1))', 'grads[f"b_{name}"] = g.sum(axis=(0, 1)) + (name == "k")'),
     lambda a, s: a.check_mha_backward(s["mha_forward"], s["mha_backward"], "db", seed=0), "zero up to rounding"),
    ("block_backward", ("dx = dx1 + dx_attn", "dx = dx_attn"),
     lambda a, s: a.check_block_backward(s["block_forward"], s["block_backward"], "dx", seed=0),
     "residual path"),
    ("block_backward", ("layernorm_backward(dh1_q + dh1_kv, ln1_cache)", "layernorm_backward(dh1_q, ln1_cache)"),
     lambda a, s: a.check_block_backward(s["block_forward"], s["block_backward"], "dx", seed=0),
     "only the query path"),
    ("block_forward", ("mha_forward(h1, h1, params, n_heads, mask)", "mha_forward(h1, h1, params, n_heads)"),
     lambda a, s: a.check_block_forward(s["block_forward"], seed=0), "causal mask is not passed"),
])
def test_a05_mistakes_are_caught_and_named(cell, mutation, check, message):
    from autograder import a05
    s = load_master_functions(A05, {cell: mutation})
    with pytest.raises(CheckFailure, match=message):
        check(a05, s)


# ----------------------------------------------------------------- a04: known mistakes
A04 = "a04-attention"


def _a04(mutations=None):
    """The master's numpy and torch answers, without running its training cell."""
    return load_master_functions(A04, mutations)


def test_a04_reference_passes_hidden_checks():
    from autograder import a04
    s = _a04()
    for part in ("context", "weights"):
        a04.check_additive_attention(s["additive_attention"], part)
    for part in ("out", "weights", "unmasked"):
        a04.check_sdpa_forward(s["sdpa_forward"], part)
    for g in a04.SDPA_GRADS:
        a04.check_sdpa_backward(s["sdpa_forward"], s["sdpa_backward"], g)
    for part in ("logits", "state", "weights"):
        a04.check_decoder_step(s["AttentionDecoderStep"], part)


@pytest.mark.parametrize("cell, mutation, check, message", [
    ("additive_attention", ("e = np.where(key_mask[:, None, :], e, -np.inf)", "pass"),
     lambda a, s: a.check_additive_attention(s["additive_attention"], "weights"), "mask is ignored"),
    ("sdpa_backward", ("ds = w * (dw - (w * dw).sum(axis=-1, keepdims=True))", "ds = dw"),
     lambda a, s: a.check_sdpa_backward(s["sdpa_forward"], s["sdpa_backward"], "dq"), "softmax Jacobian"),
    ("sdpa_backward", ("dq = (ds @ k) * scale", "dq = ds @ k"),
     lambda a, s: a.check_sdpa_backward(s["sdpa_forward"], s["sdpa_backward"], "dq"), "sqrt"),
    ("sdpa_forward", ("s = np.where(mask, s, -np.inf)", "pass"),
     lambda a, s: a.check_sdpa_forward(s["sdpa_forward"], "weights"), "mask is ignored"),
    ("AttentionDecoderStep", ('e = e.masked_fill(~src_mask, float("-inf"))', "pass"),
     lambda a, s: a.check_decoder_step(s["AttentionDecoderStep"], "weights"), "mask is ignored"),
])
def test_a04_mistakes_are_caught_and_named(cell, mutation, check, message):
    from autograder import a04
    s = _a04({cell: mutation})
    with pytest.raises(CheckFailure, match=message):
        check(a04, s)


def test_a_hidden_failure_can_be_replayed_exactly():
    """The seed and case kind printed by a hidden test reproduce that very failure."""
    import re
    s = load_master_functions(A01, {"rnn_backward": ("dW_hh += dWh", "dW_hh += dWh.T")})
    with pytest.raises(CheckFailure) as hidden:
        a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], "dW_hh")
    seed, kind = re.search(r"replay with seed=(\d+), case='(\w+)'", str(hidden.value)).groups()
    with pytest.raises(CheckFailure) as replay:
        a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], "dW_hh",
                               seed=int(seed), case=kind)
    assert str(replay.value) == str(hidden.value)


# ----------------------------------------------------------------- distinct sizes
def test_regular_cases_draw_distinct_sizes():
    """A swapped axis or a transposed matrix cannot pass by accident: in every regular case
    (the visible one included) the sizes differ from one another."""
    from autograder import a01, a02, a03, a04
    from autograder.harness import distinct_sizes
    for seed in range(20):
        rng = lambda: np.random.default_rng(seed)  # noqa: E731
        assert len(set(a01._rnn_params(rng(), "regular")[1])) == 4
        logits = a01._loss_case(rng(), "regular")[0]
        assert len(set(logits.shape)) == 3
        p, _ = a02._jordan_params(rng(), "regular")
        assert len({*p["x"].shape, *p["W_yh"].shape}) == 5          # N, T, D, H, C
        ids, h0, params, (k1, k2), _ = a02._lm_case(rng(), "regular")
        assert len({ids.shape[0], ids.shape[1] - 1, *params["W_xh"].shape}) == 4 and k1 < k2
        assert len(set(a03._dims(rng(), "regular"))) == 4
        args, _, _ = a04._sdpa_case(rng(), "regular")
        assert len({*args["q"].shape, args["k"].shape[1], args["v"].shape[2]}) == 5
    assert sorted(distinct_sizes(np.random.default_rng(0), (1, 3), (1, 3))) == [1, 2]
