"""Checks of a04 (attention in numpy and torch): the master passes, mistakes are named."""
import pytest

from autograder.checks import CheckFailure
from course import load_master_functions

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
