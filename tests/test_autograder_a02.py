"""Checks of a02 (Jordan network, truncated BPTT, clipping by value, gradient norm by lag)."""
import pytest

from autograder.checks import CheckFailure
from course import load_master_functions

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
    with pytest.raises(CheckFailure, match="reset to h0") as info:
        a02.check_tbptt(s["tbptt_gradients"], "W_hh")
    assert "reset" in info.value.causes
    s = load_master_functions(A02, {"tbptt_gradients": ("start = max(0, block_end - k2)",
                                                        "start = block_start")})
    with pytest.raises(CheckFailure, match="k2 is ignored") as info:
        a02.check_tbptt(s["tbptt_gradients"], "W_hh", seed=0)
    assert info.value.causes == ["chunks"]


def test_a02_reversed_lag_order_is_named():
    from autograder import a02
    s = load_master_functions(A02, {"grad_norm_by_lag": ("norms = np.array(norms)",
                                                         "norms = np.array(norms)[::-1]")})
    with pytest.raises(CheckFailure, match="reversed"):
        a02.check_grad_norm_by_lag(s["grad_norm_by_lag"])
