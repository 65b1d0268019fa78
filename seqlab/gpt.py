"""A minimal GPT (decoder-only Transformer) and the character-LM plumbing around it.

Used by the chapter *Self-attention and Transformers* (page `char-gpt`) and meant to be
reusable by assignments:

- `GPTConfig`: every size of the model in one dataclass.
- `GPT`: token embedding + learned positional embedding, `n_layer` pre-LN blocks of causal
  multi-head self-attention and a position-wise MLP, a final LayerNorm and a linear read-out
  (optionally tied to the token embedding). `GPT(cfg)(idx)` maps ids (N, T) to logits (N, T, C).
  `GPT.attention_maps(idx)` returns every attention matrix: (n_layer, N, n_head, T, T).
- `evaluate_bpc`, `train_lm` (random windows from `seqlab.charlm.random_windows`): validation
  cross-entropy in bits per character (thin wrappers of `seqlab.charlm`, the book's shared
  char-LM plumbing, which also has the sampler) and a seeded training loop. They work for ANY
  model that maps ids (N, T) to logits (N, T, C), or to (logits, state) like a recurrent
  model, so a recurrent language model is trained and evaluated with exactly the same code.

Bits per character: the mean next-character cross-entropy in nats divided by ln 2. Validation
uses the single split of the book (`seqlab.data.char_splits()`): the last 10% of the corpus cut
into consecutive windows of `block_size + 1` characters that overlap by one; every character of
a window except the first is predicted from the characters before it in that window, so every
model sees the same (at most `block_size`) context.

Example::

    from seqlab.data import char_splits
    from seqlab.gpt import GPT, GPTConfig, train_lm, evaluate_bpc
    data = char_splits()
    model = GPT(GPTConfig(vocab_size=data.vocab_size, block_size=32, init_std=0.1))
    hist = train_lm(model, data.train, data.val, steps=300, block_size=32)
    print(evaluate_bpc(model, data.val, block_size=32))

References: Vaswani et al. 2017 (the Transformer), Radford et al. 2018/2019 (GPT), Xiong et
al. 2020 (pre-LN). The layout follows the spirit of Karpathy's minGPT/nanoGPT, written anew.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import charlm
from .charlm import LN2, eval_mode

__all__ = ["GPTConfig", "CausalSelfAttention", "MLP", "Block", "GPT", "lm_loss",
           "evaluate_bpc", "train_lm", "LN2"]



@dataclass
class GPTConfig:
    """Sizes of a GPT. Symbols as in the book: C = vocab_size, T_max = block_size."""
    vocab_size: int              # C, number of tokens (characters)
    block_size: int = 64         # T_max, longest context the model can see
    n_layer: int = 2             # number of Transformer blocks
    n_head: int = 4              # h, heads per attention layer
    d_model: int = 64            # width of the residual stream
    d_ff: Optional[int] = None   # hidden width of the MLP; 4 * d_model when None
    dropout: float = 0.0         # on attention weights and residual branches
    bias: bool = True            # biases in the linear layers and LayerNorms
    tie_weights: bool = True     # read-out matrix W_hy = token embedding matrix
    init_std: float = 0.02       # std of the normal initialisation of weights and embeddings

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model

    @property
    def d_k(self) -> int:
        """Size of one head's queries, keys and values: d_model / n_head."""
        return self.d_model // self.n_head


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: position t attends to positions 1..t only."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.d_k = cfg.n_head, cfg.d_k
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)  # W_q, W_k, W_v stacked
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)    # W_o
        self.attn_drop = nn.Dropout(cfg.dropout)
        self.resid_drop = nn.Dropout(cfg.dropout)
        mask = torch.tril(torch.ones(cfg.block_size, cfg.block_size, dtype=torch.bool))
        self.register_buffer("causal", mask, persistent=False)  # (T_max, T_max), True = allowed

    def forward(self, x, return_attn: bool = False):
        N, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)                                # 3 x (N, T, D)
        # split heads: (N, T, D) -> (N, T, h, d_k) -> (N, h, T, d_k)
        q, k, v = (z.view(N, T, self.n_head, self.d_k).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)               # (N, h, T, T)
        scores = scores.masked_fill(~self.causal[:T, :T], float("-inf"))
        attn = torch.softmax(scores, dim=-1)                                 # (N, h, T, T)
        y = self.attn_drop(attn) @ v                                         # (N, h, T, d_k)
        y = y.transpose(1, 2).reshape(N, T, D)                               # merge heads: (N, T, D)
        y = self.resid_drop(self.proj(y))                                    # (N, T, D)
        return (y, attn) if return_attn else y


class MLP(nn.Module):
    """Position-wise feed-forward network: W_2 GELU(W_1 x + b_1) + b_2 at every position."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x))))  # (N, T, d_ff) -> (N, T, D)


class Block(nn.Module):
    """Pre-LN Transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, return_attn: bool = False):
        a, attn = self.attn(self.ln1(x), return_attn=True)
        x = x + a                                  # (N, T, D)
        x = x + self.mlp(self.ln2(x))              # (N, T, D)
        return (x, attn) if return_attn else x


class GPT(nn.Module):
    """Decoder-only Transformer language model: ids (N, T) -> next-token logits (N, T, C)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)   # (C, D)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model)   # (T_max, D), learned
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)       # pre-LN needs a final norm
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.head.weight = self.tok_emb.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=cfg.init_std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        # GPT-2: the residual-branch output projections get std / sqrt(2 n_layer), so that the
        # residual stream does not grow with depth at initialisation
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def forward(self, idx, return_attn: bool = False):
        N, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of length {T} > block_size {self.cfg.block_size}")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))      # (N, T, D)
        maps = []
        for block in self.blocks:
            x, attn = block(x, return_attn=True)                  # (N, T, D), (N, h, T, T)
            maps.append(attn)
        logits = self.head(self.ln_f(x))                          # (N, T, C)
        return (logits, torch.stack(maps)) if return_attn else logits

    @torch.no_grad()
    def attention_maps(self, idx):
        """All attention matrices for ids (N, T): (n_layer, N, n_head, T, T)."""
        with eval_mode(self):
            _, maps = self(idx, return_attn=True)
        return maps


# ---------------------------------------------------------------- char-LM plumbing
# Batching, bits per character and sampling live in seqlab.charlm (shared by every language
# model of the book); the thin wrappers below keep the GPT-style names and add a training loop.
def _logits(out):
    """Logits from a stateless model (a tensor) or a recurrent one ((logits, state))."""
    return out[0] if isinstance(out, tuple) else out


def lm_loss(logits, targets):
    """Mean next-token cross-entropy in nats over all N*T positions. logits (N, T, C)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def evaluate_bpc(model: nn.Module, ids: np.ndarray, block_size: int, batch_size: int = 128,
                 max_chars: Optional[int] = None) -> float:
    """Validation cross-entropy in bits per character, every model seeing the same context.

    The text is cut into consecutive windows of block_size + 1 characters (the last character
    of one window is the first of the next); each window is read from scratch (a recurrent
    model from h_0 = 0) and gives block_size predictions, each from the characters before it in
    the window. Same number as `seqlab.charlm.evaluate_bpc(..., context="window")`.
    """
    return charlm.evaluate_bpc(model, ids, context="window", window=block_size,
                               batch_size=batch_size, max_chars=max_chars)


def train_lm(model: nn.Module, train_ids: np.ndarray, val_ids: np.ndarray, *, steps: int,
             block_size: int, batch_size: int = 32, lr: float = 1e-2, clip: float = 1.0,
             eval_every: int = 50, eval_chars: Optional[int] = 8192, seed: int = 0,
             warmup: int = 20) -> dict:
    """AdamW with linear warm-up then cosine decay to lr/10, global-norm clipping, seeded batches.

    Works for any model mapping ids (N, T) to logits (N, T, C) or to (logits, state); every
    window is read from a fresh state. Returns a history dict: `step`, `seconds` (training
    time so far) and `val_bpc` (on the first `eval_chars` validation characters), every
    `eval_every` steps and at the end; `train_bpc` (per step) and `train_seconds` (total wall
    time of the optimisation steps, evaluation excluded).
    """
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.0)

    def lr_at(s):
        if s < warmup:
            return lr * (s + 1) / warmup
        frac = (s - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    hist = {"step": [], "val_bpc": [], "seconds": [], "train_bpc": [], "train_seconds": 0.0}
    model.train()
    for s in range(steps + 1):
        if s % eval_every == 0 or s == steps:
            hist["step"].append(s)
            hist["seconds"].append(hist["train_seconds"])
            hist["val_bpc"].append(evaluate_bpc(model, val_ids, block_size, max_chars=eval_chars))
            model.train()
        if s == steps:
            break
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        x, y = charlm.random_windows(train_ids, batch_size, block_size, rng)    # (N, T), (N, T)
        loss = lm_loss(_logits(model(x)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        hist["train_seconds"] += time.perf_counter() - t0
        hist["train_bpc"].append(loss.item() / LN2)
    model.eval()
    return hist
