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


def test_worst_index_is_reported_zero_based_with_its_numpy_expression():
    expected = np.zeros((2, 4, 3))
    got = expected.copy()
    got[1, 2, 0] = 0.5
    with pytest.raises(CheckFailure, match=r"\[N=1, T=2, H=0\] \(0-based: dh\[1, 2, 0\]\)"):
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


def test_in_place_modification_is_reported_with_a_wrong_answer(solution):
    def rnn_forward(x, h0, W_xh, W_hh, b_h):
        x *= 1.0 + 1e-3
        return solution["rnn_forward"](x, h0, W_xh, W_hh, b_h)
    with pytest.raises(CheckFailure, match="modified its input `x` in place") as info:
        a01.check_rnn_forward(rnn_forward, seed=0)
    assert "modified_input" in info.value.causes


def test_in_place_modification_with_a_right_answer_passes(solution):
    def rnn_backward(dh, cache):
        out = solution["rnn_backward"](dh, cache)
        dh *= 0.0  # scribbles on its (copied) input after computing the right answer
        return out
    a01.check_rnn_backward(solution["rnn_forward"], rnn_backward, "dW_hh")


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
    s = load_master_functions(A02, {"tbptt_gradients": ("h = h.detach()", "h = torch.tensor(h0)")})
    with pytest.raises(CheckFailure, match="reset to h0"):
        a02.check_tbptt(s["tbptt_gradients"], "W_hh")
    s = load_master_functions(A02, {"tbptt_gradients": ("h = h.detach()", "pass")})
    with pytest.raises(CheckFailure, match="raised RuntimeError"):  # backward through a freed graph
        a02.check_tbptt(s["tbptt_gradients"], "W_hh")


def test_a02_reversed_lag_order_is_named():
    from autograder import a02
    s = load_master_functions(A02, {"grad_norm_by_lag": ("norms = np.array(norms)",
                                                         "norms = np.array(norms)[::-1]")})
    with pytest.raises(CheckFailure, match="reversed"):
        a02.check_grad_norm_by_lag(s["grad_norm_by_lag"])


# ----------------------------------------------------------------- a05: known mistakes
A05 = "a05-transformer"


def test_a05_reference_passes_hidden_checks():
    from autograder import a05
    s = load_master_functions(A05)
    a05.check_stable_softmax(s["stable_softmax"])
    a05.check_causal_mask(s["causal_mask"])
    for part in ("weights", "output", "unmasked"):
        a05.check_attention(s["scaled_dot_product_attention"], part)
    for part in ("self", "cross", "causal"):
        a05.check_multihead_attention(s["MultiHeadAttention"], part)
    a05.check_positional_encoding(s["positional_encoding"])
    a05.check_transformer_block(s["TransformerBlock"], causal=False)
    a05.check_transformer_block(s["TransformerBlock"], causal=True)


@pytest.mark.parametrize("cell, mutation, check, message", [
    ("stable_softmax", ("e = torch.exp(x - m)", "e = torch.exp(x)"),
     lambda a, s: a.check_stable_softmax(s["stable_softmax"]), "NaN or inf|not subtracted"),
    ("causal_mask", ("torch.tril(torch.ones(T, T, dtype=torch.bool))",
                     "torch.tril(torch.ones(T, T, dtype=torch.bool), -1)"),
     lambda a, s: a.check_causal_mask(s["causal_mask"], seed=0), "diagonal is missing"),
    ("causal_mask", ("torch.tril(torch.ones(T, T, dtype=torch.bool))",
                     "~torch.tril(torch.ones(T, T, dtype=torch.bool))"),
     lambda a, s: a.check_causal_mask(s["causal_mask"], seed=0), "inverted"),
    ("scaled_dot_product_attention", (" / math.sqrt(q.shape[-1])", ""),
     lambda a, s: a.check_attention(s["scaled_dot_product_attention"], "weights"), "sqrt"),
    ("scaled_dot_product_attention", ("masked_fill(~mask", "masked_fill(mask"),
     lambda a, s: a.check_attention(s["scaled_dot_product_attention"], "output"), "inverted|NaN"),
    ("MultiHeadAttention", (".view(N, T, self.n_heads, self.d_head).transpose(1, 2)",
                            ".reshape(N, self.n_heads, T, self.d_head)"),
     lambda a, s: a.check_multihead_attention(s["MultiHeadAttention"], "self", seed=0), "no transpose"),
    ("MultiHeadAttention", ("scaled_dot_product_attention(q, k, v, mask)",
                            "scaled_dot_product_attention(q, k, v, None)"),
     lambda a, s: a.check_multihead_attention(s["MultiHeadAttention"], "causal", seed=0), "mask is ignored"),
    ("positional_encoding", ("pe[:, 0::2] = torch.sin(angle)\n    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])",
                             "pe = torch.cat([torch.sin(angle), torch.cos(angle[:, : d_model // 2])], 1)"),
     lambda a, s: a.check_positional_encoding(s["positional_encoding"], seed=0), "concatenated"),
    ("TransformerBlock", ("h = self.ln1(x)\n        x = x + self.attn(h, h, mask)\n        x = x + self.ff2(torch.relu(self.ff1(self.ln2(x))))",
                          "x = self.ln1(x + self.attn(x, x, mask))\n        x = self.ln2(x + self.ff2(torch.relu(self.ff1(x))))"),
     lambda a, s: a.check_transformer_block(s["TransformerBlock"], False, seed=0), "post-LN"),
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


# ----------------------------------------------------------------- diagnosis
def test_two_mistakes_at_once_are_both_named():
    s = load_master_functions(A01, {"rnn_step_backward": ("(1.0 - h_next ** 2)", "1.0"),
                                    "rnn_backward": ("dh[:, t] + dh_carry", "dh[:, t]")})
    with pytest.raises(CheckFailure, match="two mistakes at once") as info:
        a01.check_rnn_backward(s["rnn_forward"], s["rnn_backward"], "dW_hh")
    assert sorted(info.value.causes) == ["no_carry", "no_tanh_derivative"]


def test_a_wrong_forward_is_named_first_with_the_same_index_format():
    s = load_master_functions(A01, {"rnn_step_forward": ("h_next = np.tanh(a)",
                                                         "h_next = np.tanh(1.01 * a)")})
    with pytest.raises(CheckFailure, match=r"^Fix rnn_step_forward first .*: h_next is wrong "
                                           r"at \[N=\d, H=\d\] \(0-based: h_next\[") as info:
        a01.check_rnn_step_backward(s["rnn_step_forward"], s["rnn_step_backward"], "dx", seed=0)
    assert info.value.causes[0] == "fix_first:rnn_step_forward"


def test_a_factor_of_one_is_no_diagnosis():
    expected = np.random.default_rng(0).standard_normal((3, 4))
    with pytest.raises(CheckFailure) as info:
        check_close("g", expected * (1 + 1e-7), expected)
    assert "times" not in str(info.value) and info.value.causes == []


def test_softmax_backward_without_the_sum_term_is_named():
    from autograder import a04
    s = _a04({"sdpa_backward": ("ds = w * (dw - (w * dw).sum(axis=-1, keepdims=True))",
                                "ds = w * dw")})
    with pytest.raises(CheckFailure, match="lacks the sum term") as info:
        a04.check_sdpa_backward(s["sdpa_forward"], s["sdpa_backward"], "dk")
    assert info.value.causes == ["no_softmax_sum_term"]


def test_mask_applied_after_the_softmax_is_named():
    from autograder import a04
    right = _a04()["sdpa_forward"]

    def sdpa_forward(q, k, v, mask=None):
        out, w, cache = right(q, k, v, None)
        if mask is not None:
            w = w * mask
        return w @ v, w, cache
    with pytest.raises(CheckFailure, match="after the softmax") as info:
        a04.check_sdpa_forward(sdpa_forward, "weights")
    assert info.value.causes == ["mask_after_softmax"]


def test_an_all_masked_row_is_named_as_such():
    from autograder import a05
    s = load_master_functions(A05, {"stable_softmax": (
        "m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))", "pass")})
    with pytest.raises(CheckFailure, match="all masked") as info:
        a05.check_stable_softmax(s["stable_softmax"], seed=0)
    assert info.value.causes == ["all_masked_row_nan"]


# ----------------------------------------------------------------- self-check cells
def _self_check_cells(name):
    import nbformat
    from course import master_path
    return [c.source for c in nbformat.read(master_path(name), as_version=4).cells
            if c.cell_type == "code" and c.source.startswith("# Your own check")]


@pytest.mark.parametrize("name", ["a01-rnn", "a02-bptt", "a03-lstm-gru", "a04-attention"])
def test_self_check_cells_check_every_gradient_and_pass_the_master(name, capsys):
    cells = [c for c in _self_check_cells(name) if "check_grads(" in c]
    assert cells, "a self-check cell that compares every gradient"
    for source in cells:
        exec(source, load_master_functions(name))
    out = capsys.readouterr().out
    assert "WRONG" not in out and out.count(" ok") >= 3


def test_the_a03_self_check_flags_every_wrong_gradient(capsys):
    """The issue's case: a missing sigmoid derivative leaves dc_prev right, 5 others wrong."""
    ns = load_master_functions("a03-lstm-gru", {"lstm_step_backward": ("di * i * (1.0 - i)", "di")})
    exec([c for c in _self_check_cells("a03-lstm-gru") if "check_grads(" in c][0], ns)
    assert capsys.readouterr().out.count("WRONG") == 5


def test_check_grads_does_not_cry_wolf_on_saturated_units(solution, capsys):
    from autograder.gradcheck import check_grads
    rng = np.random.default_rng(1)
    x, h_prev = rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    W_xh, W_hh = 8 * rng.standard_normal((5, 4)), 8 * rng.standard_normal((5, 5))
    b_h, dh = rng.standard_normal(5), rng.standard_normal((3, 5))
    h, cache = solution["rnn_step_forward"](x, h_prev, W_xh, W_hh, b_h)
    assert np.min(1 - h ** 2) < 1e-12  # some units deeply saturated
    errors = check_grads(lambda: solution["rnn_step_forward"](x, h_prev, W_xh, W_hh, b_h)[0],
                         {"x": x, "h_prev": h_prev, "W_xh": W_xh, "W_hh": W_hh, "b_h": b_h},
                         dh, solution["rnn_step_backward"](dh, cache))
    assert max(errors.values()) < 1e-6 and "WRONG" not in capsys.readouterr().out
