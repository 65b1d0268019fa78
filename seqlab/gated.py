"""Gated recurrent layers and the training loop of the gated-RNN chapter.

- ``LoopLSTM``: an LSTM layer written as a plain Python loop over time in torch, with
  switches for the variants the chapter compares (no forget gate, no output tanh,
  peephole connections, coupled input and forget gates). It follows the book's notation:
  gates stacked in torch's order i, f, g, o, weights stored (out, in).
- ``SequenceModel``: a recurrent core (``torch.nn.RNN/GRU/LSTM`` or ``LoopLSTM``) with a
  linear read-out, many-to-one (last step) or many-to-many (every step).
- ``set_forget_bias``: start the forget gates of a ``torch.nn.LSTM`` at a given bias.
- ``train``: Adam with global-norm clipping on freshly drawn batches, evaluated on a
  fixed test set, optionally stopping as soon as the task counts as solved.
- ``VARIANTS``: the LSTM variants the chapter compares, as ``LoopLSTM`` switches.

The equations themselves are derived and checked on the chapter's pages; this module only
saves the pages from repeating the plumbing.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from . import n_params  # noqa: F401  (re-exported: the pages call gated.n_params)

GATE_ORDER = ("i", "f", "g", "o")


class LoopLSTM(nn.Module):
    """One LSTM layer as a Python loop over time, with the classic variants as switches.

    Parameters (book notation, torch's gate order, only the gates the variant has):
    ``W_xh`` of shape ``(G*H, D)``, ``W_hh`` of shape ``(G*H, H)``, ``b`` of shape ``(G*H,)``
    and, with peepholes, one weight vector ``p_i``, ``p_f``, ``p_o`` of shape ``(H,)`` per
    gate (a diagonal peephole matrix, as in Gers & Schmidhuber 2000 and Greff et al. 2017).

    Variants:
      - ``forget_gate=False``: ``f_t = 1`` (the 1997 LSTM); no ``f`` rows.
      - ``output_tanh=False``: ``h_t = o_t * c_t`` instead of ``o_t * tanh(c_t)``.
      - ``peephole=True``: ``i`` and ``f`` see ``c_{t-1}``, ``o`` sees ``c_t``.
      - ``coupled=True`` (CIFG): ``i_t = 1 - f_t``; no ``i`` rows.

    Initialisation as in ``torch.nn.LSTM`` (uniform in +-1/sqrt(H)), except the forget
    bias, which starts at ``forget_bias``; peephole weights start at 0.
    """

    def __init__(self, input_size: int, hidden_size: int, *, forget_gate: bool = True,
                 output_tanh: bool = True, peephole: bool = False, coupled: bool = False,
                 forget_bias: float = 1.0):
        super().__init__()
        if coupled and not forget_gate:
            raise ValueError("a coupled gate needs a forget gate (i = 1 - f)")
        D, H = input_size, hidden_size
        self.input_size, self.hidden_size = D, H
        self.forget_gate, self.output_tanh = forget_gate, output_tanh
        self.peephole, self.coupled = peephole, coupled
        self.gates = tuple(name for name in GATE_ORDER
                           if not (name == "f" and not forget_gate)
                           and not (name == "i" and coupled))
        G = len(self.gates)
        k = 1.0 / math.sqrt(H)
        self.W_xh = nn.Parameter(torch.empty(G * H, D).uniform_(-k, k))   # (G*H, D)
        self.W_hh = nn.Parameter(torch.empty(G * H, H).uniform_(-k, k))   # (G*H, H)
        b = torch.empty(G * H).uniform_(-k, k)
        if forget_gate:
            j = self.gates.index("f")
            b[j * H:(j + 1) * H] = forget_bias
        self.b = nn.Parameter(b)                                          # (G*H,)
        if peephole:
            for name in ("i", "f", "o"):
                if name in self.gates:
                    setattr(self, f"p_{name}", nn.Parameter(torch.zeros(H)))

    def forward(self, x: torch.Tensor, state=None, return_gates: bool = False):
        """x: (N, T, D) -> out (N, T, H), (h_T, c_T) each (N, H) [, gates: name -> (N, T, H)]."""
        N, T, _ = x.shape
        H = self.hidden_size
        ax = x @ self.W_xh.T + self.b                  # (N, T, G*H): all input terms at once
        W_hhT = self.W_hh.T                            # (H, G*H)
        if state is None:
            h = x.new_zeros(N, H)
            c = x.new_zeros(N, H)
        else:
            h, c = state
        sl = {name: slice(j * H, (j + 1) * H) for j, name in enumerate(self.gates)}
        outs, record = [], {name: [] for name in ("i", "f", "g", "o", "c")}
        for ax_t in ax.unbind(dim=1):                  # T slices (N, G*H); unbind backprops in one op
            a = torch.addmm(ax_t, h, W_hhT)            # (N, G*H)
            if self.peephole:
                a_i = a[:, sl["i"]] + self.p_i * c if "i" in sl else None
                a_f = a[:, sl["f"]] + self.p_f * c if "f" in sl else None
                f = torch.sigmoid(a_f) if a_f is not None else None
                i = torch.sigmoid(a_i) if a_i is not None else 1.0 - f
            else:
                s = torch.sigmoid(a)                   # one call for every gate (g unused)
                f = s[:, sl["f"]] if "f" in sl else None
                i = s[:, sl["i"]] if "i" in sl else 1.0 - f
            g = torch.tanh(a[:, sl["g"]])              # (N, H)
            c = (f * c if f is not None else c) + i * g
            a_o = a[:, sl["o"]]
            o = torch.sigmoid(a_o + self.p_o * c) if self.peephole else s[:, sl["o"]]
            h = o * torch.tanh(c) if self.output_tanh else o * c
            outs.append(h)
            if return_gates:
                record["i"].append(i)
                record["f"].append(f if f is not None else torch.ones_like(c))
                record["g"].append(g)
                record["o"].append(o)
                record["c"].append(c)
        out = torch.stack(outs, dim=1)                 # (N, T, H)
        if return_gates:
            gates = {name: torch.stack(v, dim=1) for name, v in record.items()}  # (N, T, H)
            return out, (h, c), gates
        return out, (h, c)


def set_forget_bias(lstm: nn.LSTM, value: float) -> nn.LSTM:
    """Set the forget-gate bias of every layer/direction of a torch LSTM to ``value``.

    torch adds two biases; the forget rows are ``[H:2H]``. ``bias_ih`` gets ``value`` and
    ``bias_hh`` gets 0, so that their sum, the bias $b_f$ of the book, equals ``value``.
    """
    H = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[H:2 * H] = value
            elif name.startswith("bias_hh"):
                p[H:2 * H] = 0.0
    return lstm


class SequenceModel(nn.Module):
    """A recurrent core plus a linear read-out.

    ``cell``: ``"rnn"`` (tanh), ``"gru"``, ``"lstm"`` (the fast ``torch.nn`` layers) or
    ``"loop"`` (``LoopLSTM``, variant switches passed as keyword arguments).
    ``many_to_many=False`` reads the last step: output ``(N, out_dim)``; otherwise every
    step: ``(N, T, out_dim)``. A regression head (``out_dim=1``) is squeezed.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, out_dim: int, *,
                 many_to_many: bool = False, forget_bias: float = 1.0, **variant):
        super().__init__()
        self.cell, self.many_to_many, self.out_dim = cell, many_to_many, out_dim
        if cell == "loop":
            self.core = LoopLSTM(input_size, hidden_size, forget_bias=forget_bias, **variant)
        else:
            layer = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
            self.core = layer(input_size, hidden_size, batch_first=True)
            if cell == "lstm":
                set_forget_bias(self.core, forget_bias)
        self.head = nn.Linear(hidden_size, out_dim)

    def forward(self, x):
        out, _ = self.core(x)                          # (N, T, H)
        y = self.head(out if self.many_to_many else out[:, -1])  # (N, [T,] out_dim)
        return y.squeeze(-1) if self.out_dim == 1 else y


def mse_loss(pred, y):
    return torch.mean((pred - y) ** 2)


def ce_loss(logits, y):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def accuracy(logits, y):
    return (logits.argmax(-1) == y).float().mean()


def train(model: nn.Module, make_batch, test_set, *, loss_fn, metric_fn=None, steps: int,
          lr: float = 1e-2, clip: float = 1.0, eval_every: int = 25, solved=None,
          stop_when_solved: bool = True):
    """Train ``model`` with Adam on batches from ``make_batch()`` (numpy ``x, y``).

    Every ``eval_every`` steps the loss (and ``metric_fn``, if given) on the fixed
    ``test_set = (x, y)`` is recorded. ``solved(loss, metric) -> bool`` marks the task as
    solved; the first evaluation where it holds is ``solved_at`` (in steps), and training
    stops there when ``stop_when_solved``. Returns a dict of numpy arrays and numbers:
    ``step, train_loss, test_loss, test_metric, solved_at, seconds, steps_run``.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x_test, y_test = (torch.from_numpy(a) for a in test_set)
    hist = {"step": [], "train_loss": [], "test_loss": [], "test_metric": []}
    solved_at, running, n_running = None, 0.0, 0
    start = time.perf_counter()
    step = 0
    for step in range(1, steps + 1):
        x, y = (torch.from_numpy(a) for a in make_batch())
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        running += loss.item()
        n_running += 1
        if step % eval_every == 0 or step == steps:
            with torch.no_grad():
                pred = model(x_test)
                test_loss = loss_fn(pred, y_test).item()
                metric = metric_fn(pred, y_test).item() if metric_fn else float("nan")
            hist["step"].append(step)
            hist["train_loss"].append(running / n_running)
            hist["test_loss"].append(test_loss)
            hist["test_metric"].append(metric)
            running, n_running = 0.0, 0
            if solved is not None and solved_at is None and solved(test_loss, metric):
                solved_at = step
                if stop_when_solved:
                    break
    seconds = time.perf_counter() - start
    out = {k: np.asarray(v) for k, v in hist.items()}
    out.update(solved_at=solved_at, seconds=seconds, steps_run=step)
    return out


VARIANTS = {
    "vanilla": {},
    "no forget gate": {"forget_gate": False},
    "no output tanh": {"output_tanh": False},
    "peephole": {"peephole": True},
    "CIFG": {"coupled": True},
}
"""The LSTM variants of the chapter, as ``LoopLSTM`` keyword arguments."""
