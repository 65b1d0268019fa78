"""Hopfield networks: the classical binary one and the modern continuous one.

Classical (Hopfield 1982): neurons s in {-1, +1}^N, Hebbian weights W = (1/N) sum_mu xi_mu xi_mu^T
with a zero diagonal, asynchronous updates s_i <- sign(sum_j W_ij s_j), which never increase
the energy E(s) = -1/2 s^T W s. Modern continuous (Ramsauer et al. 2021): memories X (P, N),
state xi in R^N, update xi <- X^T softmax(beta X xi), one step of attention with query xi and
keys = values = the memories.

The page that uses them (book/labs/task3-hopfield.md) shows the storage, the recall of
corrupted digits, the capacity against the 0.138 N rule and the equality with attention.
"""
from __future__ import annotations

import numpy as np


def to_bipolar(images, threshold: float = 0.5) -> np.ndarray:
    """Images (P, ...) in [0, 1] -> patterns (P, N) in {-1, +1}."""
    flat = np.asarray(images).reshape(len(images), -1)
    return np.where(flat > threshold, 1.0, -1.0)


def hebbian(patterns) -> np.ndarray:
    """Patterns (P, N) in {-1, +1} -> W (N, N) = (1/N) sum_mu xi xi^T, diagonal set to zero."""
    X = np.asarray(patterns, dtype=np.float64)
    W = X.T @ X / X.shape[1]                                   # (N, N)
    np.fill_diagonal(W, 0.0)
    return W


def pseudo_inverse(patterns) -> np.ndarray:
    """Projection rule (Personnaz et al. 1985): W = X^T (X X^T)^-1 X, diagonal zeroed.
    Stores correlated patterns (such as digits) that the Hebbian rule confuses."""
    X = np.asarray(patterns, dtype=np.float64)
    W = X.T @ np.linalg.pinv(X @ X.T) @ X                      # (N, N)
    np.fill_diagonal(W, 0.0)
    return W


def energy(W, s) -> float:
    return float(-0.5 * s @ W @ s)


def sign(v):
    return np.where(v >= 0, 1.0, -1.0)


def recall(W, s, rng, sweeps: int = 10):
    """Asynchronous updates in random order until a sweep changes nothing (or `sweeps` sweeps).
    Returns the final state and the energy after each sweep (starting with the initial one)."""
    s = np.array(s, dtype=np.float64)
    energies = [energy(W, s)]
    for _ in range(sweeps):
        changed = False
        for i in rng.permutation(len(s)):
            new = 1.0 if W[i] @ s >= 0 else -1.0
            if new != s[i]:
                s[i], changed = new, True
        energies.append(energy(W, s))
        if not changed:
            break
    return s, energies


def corrupt(pattern, fraction: float, rng):
    """Flip a random `fraction` of the signs of a (N,) pattern."""
    s = np.array(pattern, dtype=np.float64)
    idx = rng.choice(len(s), int(round(fraction * len(s))), replace=False)
    s[idx] *= -1
    return s


def stable_fraction(N: int, P: int, rng, trials: int = 3) -> float:
    """Fraction of the bits of stored random patterns that one update leaves unchanged
    (the quantity behind the 0.138 N capacity: errors grow quickly past it)."""
    ok = 0.0
    for _ in range(trials):
        X = sign(rng.standard_normal((P, N)))
        W = hebbian(X)
        ok += (sign(X @ W.T) == X).mean()                      # synchronous one-step check
    return ok / trials


def recall_rate(N: int, P: int, rng, noise: float = 0.1, trials: int = 2,
                max_bit_errors: float = 0.02) -> float:
    """Fraction of stored random patterns recalled (at most `max_bit_errors` of the bits wrong)
    from a copy with `noise` of its bits flipped, by asynchronous updates."""
    hits, total = 0, 0
    for _ in range(trials):
        X = sign(rng.standard_normal((P, N)))
        W = hebbian(X)
        for mu in range(P):
            s, _ = recall(W, corrupt(X[mu], noise, rng), rng)
            hits += (s != X[mu]).mean() <= max_bit_errors
            total += 1
    return hits / total


def softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def modern_update(X, xi, beta: float):
    """Modern continuous Hopfield update: memories X (P, N), states xi (M, N) -> (M, N),
    xi_new = softmax(beta xi X^T) X (row form of X^T softmax(beta X xi))."""
    return softmax(beta * np.asarray(xi) @ X.T, axis=-1) @ X   # (M, P) @ (P, N)
