"""Checks of a01 (RNN, BPTT, loss, clipping): the master passes, known mistakes are caught
and named (one or two at once), failures replay exactly."""
import numpy as np
import pytest

from autograder import a01
from autograder.checks import CheckFailure
from autograder.harness import Case
from course import load_master_functions

A01 = "a01-rnn"


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


def test_hidden_cases_include_edge_cases():
    assert "single" in a01.CASES_HIDDEN and "saturated" in a01.CASES_HIDDEN
    rng = np.random.default_rng(0)
    p, dims = a01._draw(Case("single", 0, rng))
    assert dims[:2] == (1, 1)
    p, dims = a01._draw(Case("saturated", 0, rng))
    a = np.abs(p["x"][:, 0] @ p["W_xh"].T)
    assert a.max() > 2.0  # tanh saturates


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
