"""The models of the Labs part (book/labs/): each checked against a reference computed another
way (torch, in float64, where one exists), plus the data splits the lab pages rely on."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqlab import hopfield as hop


# ---------------------------------------------------------------- Hopfield
def test_hebbian_weights_and_stability():
    rng = np.random.default_rng(0)
    X = hop.sign(rng.standard_normal((3, 120)))
    W = hop.hebbian(X)
    expected = sum(np.outer(x, x) for x in X) / 120
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(W, expected, atol=1e-15)
    assert np.allclose(W, W.T)
    for x in X:   # three random patterns in 120 neurons are fixed points
        np.testing.assert_array_equal(hop.sign(W @ x), x)


def test_recall_lowers_energy_and_restores():
    rng = np.random.default_rng(1)
    X = hop.sign(rng.standard_normal((4, 100)))
    W = hop.hebbian(X)
    s, energies = hop.recall(W, hop.corrupt(X[0], 0.1, rng), rng)
    assert np.all(np.diff(energies) <= 1e-12)
    np.testing.assert_array_equal(s, X[0])


def test_pseudo_inverse_stores_correlated_patterns():
    rng = np.random.default_rng(2)
    base = hop.sign(rng.standard_normal(64))
    X = np.stack([np.where(rng.random(64) < 0.15, -base, base) for _ in range(6)])  # correlated
    W = hop.pseudo_inverse(X)
    for x in X:
        np.testing.assert_array_equal(hop.sign(W @ x), x)


def test_capacity_drops_past_the_rule():
    rng = np.random.default_rng(3)
    assert hop.recall_rate(200, 10, rng) == 1.0
    assert hop.recall_rate(200, 60, rng) < 0.5


def test_modern_hopfield_is_attention():
    rng = np.random.default_rng(4)
    X, xi = rng.standard_normal((7, 16)), rng.standard_normal((5, 16))
    ours = hop.modern_update(X, xi, beta=0.7)
    ref = F.scaled_dot_product_attention(torch.tensor(xi)[None], torch.tensor(X)[None],
                                         torch.tensor(X)[None], scale=0.7)[0].numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-13)
