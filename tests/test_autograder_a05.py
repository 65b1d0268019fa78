"""Checks of a05 (Transformer parts in torch): the master passes, mistakes are named."""
import pytest

from autograder.checks import CheckFailure
from course import load_master_functions

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


def test_an_all_masked_row_is_named_as_such():
    from autograder import a05
    s = load_master_functions(A05, {"stable_softmax": (
        "m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))", "pass")})
    with pytest.raises(CheckFailure, match="all masked") as info:
        a05.check_stable_softmax(s["stable_softmax"], seed=0)
    assert info.value.causes == ["all_masked_row_nan"]
