"""Torch forward passes in the book's notation: the oracles for manual backward passes.

Each function mirrors a numpy function the students write, on float64 tensors, so
that torch autograd gives the exact gradient their backward pass must return.
Weights are stored (out, in) like torch.nn: a = x @ W_xh.T + h @ W_hh.T + b_h.

`mistake=` variants reproduce well-known wrong backward passes (the forward values are
unchanged); the checks use them to name the cause of a wrong gradient.
"""
from __future__ import annotations

import torch


class _TanhNoDerivative(torch.autograd.Function):
    """tanh whose backward forgets the (1 - tanh^2) factor."""

    @staticmethod
    def forward(ctx, a):
        return torch.tanh(a)

    @staticmethod
    def backward(ctx, grad):
        return grad


def _tanh(a, mistake):
    return _TanhNoDerivative.apply(a) if mistake == "no_tanh_derivative" else torch.tanh(a)


def rnn_step(x, h_prev, W_xh, W_hh, b_h, mistake=None):
    """h_next = tanh(x @ W_xh.T + h_prev @ W_hh.T + b_h); x (N, D), h_prev (N, H)."""
    a = x @ W_xh.T + h_prev @ W_hh.T + b_h  # (N, H)
    return _tanh(a, mistake)


def rnn_forward(x, h0, W_xh, W_hh, b_h, mistake=None):
    """All hidden states (N, T, H) of an Elman RNN over x (N, T, D) from h0 (N, H).

    mistake="no_carry": the gradient reaching h_t from step t+1 is dropped (the value
    of h_t still feeds step t+1, so every forward value is unchanged).
    """
    h, states = h0, []
    for t in range(x.shape[1]):
        h_in = h.detach() if (mistake == "no_carry" and t > 0) else h
        h = rnn_step(x[:, t], h_in, W_xh, W_hh, b_h, mistake)  # (N, H)
        states.append(h)
    return torch.stack(states, dim=1)  # (N, T, H)


def temporal_softmax_loss(logits, y, mask):
    """Masked cross-entropy summed over time and averaged over the batch.

    logits (N, T, C), y (N, T) integer classes, mask (N, T) bool/0-1.
    """
    N = logits.shape[0]
    logp = torch.log_softmax(logits, dim=-1)  # (N, T, C)
    picked = logp.gather(-1, y.long().unsqueeze(-1)).squeeze(-1)  # (N, T)
    return -(picked * mask.to(logits.dtype)).sum() / N


def jordan_forward(x, y0, W_xh, W_yh, b_h, W_hy, b_y, mistake=None):
    """Jordan network: h_t = tanh(W_xh x_t + W_yh y_{t-1} + b_h), y_t = W_hy h_t + b_y.

    The recurrence goes through the previous OUTPUT y_{t-1} (N, C), not h_{t-1}.
    Returns (h (N, T, H), y (N, T, C)).
    """
    y, hs, ys = y0, [], []
    for t in range(x.shape[1]):
        y_in = y.detach() if (mistake == "no_carry" and t > 0) else y
        h = _tanh(x[:, t] @ W_xh.T + y_in @ W_yh.T + b_h, mistake)  # (N, H)
        y = h @ W_hy.T + b_y  # (N, C)
        hs.append(h)
        ys.append(y)
    return torch.stack(hs, dim=1), torch.stack(ys, dim=1)
