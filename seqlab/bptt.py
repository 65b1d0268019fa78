"""Plumbing for the chapter *Backpropagation through time*.

- `CharRNN`: the book's Elman character model (one-hot x_t, tanh recurrence, linear read-out),
  stored exactly like `torch.nn` (`rnn.weight_hh_l0` is W_hh).
- `sequence_loss`: cross-entropy summed over time, averaged over the batch (the book's L).
  (Random windows of the text: `seqlab.charlm.random_windows`.)
- `train_char_rnn`: a short, seeded training run of a `CharRNN` with full BPTT.
- `SavedTensorMeter`: counts the bytes autograd keeps for the backward pass.
- `orthogonal_`: rho times a random orthogonal matrix, for recurrent weights.
- `train_clipping_grid`: several `CharRNN` runs that differ only in gradient clipping.

The ideas the chapter teaches (the BPTT recursion, truncation, clipping) stay on its pages.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .charlm import random_windows


class CharRNN(nn.Module):
    """h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h), o_t = W_hy h_t + b_y, x_t one-hot of size C.

    torch keeps two recurrent biases (b_ih, b_hh); their sum is the book's b_h.
    """

    def __init__(self, vocab_size: int, hidden_size: int):
        super().__init__()
        self.C, self.H = vocab_size, hidden_size
        self.rnn = nn.RNN(vocab_size, hidden_size, nonlinearity="tanh", batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, h0=None):
        """ids: (N, T) int64. Returns logits o: (N, T, C) and the last state h_T: (N, H)."""
        x = F.one_hot(ids, self.C).to(self.head.weight.dtype)  # (N, T, C)
        h, h_last = self.rnn(x, None if h0 is None else h0.unsqueeze(0))  # (N, T, H), (1, N, H)
        return self.head(h), h_last[0]  # (N, T, C), (N, H)


def sequence_loss(logits, targets):
    """L = sum_t l_t averaged over the batch: cross-entropy summed over time. logits (N, T, C)."""
    N = logits.shape[0]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           reduction="sum") / N


def train_char_rnn(train_ids: np.ndarray, vocab_size: int, hidden_size: int = 64,
                   steps: int = 300, batch: int = 32, length: int = 64, lr: float = 3e-3,
                   clip: float = 1.0, seed: int = 0):
    """Adam on windows of the training text with full BPTT and global-norm clipping.

    Returns the model (float32, eval mode) and the per-character training loss per step.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = CharRNN(vocab_size, hidden_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        x, y = random_windows(train_ids, batch, length, rng)
        logits, _ = model(x)
        loss = sequence_loss(logits, y) / length  # per character, for the optimiser's scale
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        history.append(loss.item())
    return model.eval(), np.array(history)


class SavedTensorMeter:
    """Context manager: the bytes of the distinct tensors autograd saves for backward.

    Parameters are left out (they exist whether or not a graph is kept); a tensor saved by
    several operations is counted once. `nbytes` and `count` accumulate until `reset()`.
    """

    def __init__(self, params=()):
        self._skip = {p.untyped_storage().data_ptr() for p in params}
        self.reset()

    def reset(self):
        self._seen, self.nbytes, self.count = set(), 0, 0

    def _pack(self, t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in self._skip and ptr not in self._seen:
            self._seen.add(ptr)
            self.nbytes += t.untyped_storage().nbytes()
            self.count += 1
        return t

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def orthogonal_(weight: torch.Tensor, rho: float, generator=None) -> torch.Tensor:
    """Overwrite a square matrix with rho * Q, Q a random orthogonal matrix (every singular
    value and every |eigenvalue| of the result equals rho)."""
    H = weight.shape[0]
    q, r = torch.linalg.qr(torch.randn(H, H, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))  # Haar-distributed
    with torch.no_grad():
        weight.copy_(rho * q)
    return weight


def train_clipping_grid(configs, train_ids: np.ndarray, vocab_size: int, hidden_size: int = 64,
                        steps: int = 200, batch: int = 32, length: int = 32, lr: float = 1.0,
                        rho: float = 1.0, seed: int = 0):
    """Train one `CharRNN` per (method, threshold) in `configs` with plain SGD, side by side.

    method is "none", "norm" (torch.nn.utils.clip_grad_norm_) or "value"
    (torch.nn.utils.clip_grad_value_). Every run starts from the same weights (W_hh = rho * Q)
    and sees the same batches, so the runs differ only in how their gradients are clipped.
    The M models are evaluated in one batched forward pass (independent parameters, one
    graph), which is M times cheaper in Python overhead than M separate runs.

    Returns (losses, grad_norms): arrays (M, steps) of the per-character training loss and of
    the global gradient norm before clipping.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    base = CharRNN(vocab_size, hidden_size)
    orthogonal_(base.rnn.weight_hh_l0, rho)
    models = [CharRNN(vocab_size, hidden_size) for _ in configs]
    for m in models:
        m.load_state_dict(base.state_dict())
    opt = torch.optim.SGD([p for m in models for p in m.parameters()], lr=lr)
    M, N, T, C = len(models), batch, length, vocab_size
    losses, norms = np.zeros((M, steps)), np.zeros((M, steps))
    for step in range(steps):
        x, y = random_windows(train_ids, N, T, rng)                               # (N, T) each
        W_xh = torch.stack([m.rnn.weight_ih_l0 for m in models])                # (M, H, C)
        W_hh = torch.stack([m.rnn.weight_hh_l0 for m in models])                # (M, H, H)
        b_h = torch.stack([m.rnn.bias_ih_l0 + m.rnn.bias_hh_l0 for m in models])  # (M, H)
        W_hy = torch.stack([m.head.weight for m in models])                     # (M, C, H)
        b_y = torch.stack([m.head.bias for m in models])                        # (M, C)
        xw = W_xh.transpose(1, 2)[:, x]          # one-hot x_t times W_xh: (M, N, T, H)
        h = torch.zeros(M, N, hidden_size)
        hs = []
        for t in range(T):
            h = torch.tanh(xw[:, :, t] + torch.bmm(h, W_hh.transpose(1, 2)) + b_h[:, None])  # (M, N, H)
            hs.append(h)
        hs = torch.stack(hs, dim=2)                                             # (M, N, T, H)
        logits = torch.einsum("mnth,mch->mntc", hs, W_hy) + b_y[:, None, None]  # (M, N, T, C)
        if step == 0:  # the batched pass is the same model as CharRNN
            with torch.no_grad():
                ref, _ = models[0](x)
            assert torch.allclose(logits[0], ref, atol=1e-5), "batched forward != CharRNN"
        per_char = F.cross_entropy(logits.reshape(M * N * T, C), y.reshape(-1).repeat(M),
                                   reduction="none").view(M, N * T).mean(dim=1)  # (M,)
        opt.zero_grad()
        per_char.sum().backward()  # the models share nothing, so each gets its own gradient
        for i, ((method, threshold), m) in enumerate(zip(configs, models)):
            params = list(m.parameters())
            norms[i, step] = float(nn.utils.clip_grad_norm_(params, float("inf")))  # no-op: the norm
            if method == "norm":
                nn.utils.clip_grad_norm_(params, threshold)
            elif method == "value":
                nn.utils.clip_grad_value_(params, threshold)
            elif method != "none":
                raise ValueError(method)
        opt.step()
        losses[:, step] = per_char.detach().numpy()
    return losses, norms
