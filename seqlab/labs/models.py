"""Models built from torch parts for Task 3 of the lab (and the gated-networks slides).

- `ElmanClassifier`: an Elman layer written from its equation (parameters and a loop), reading
  an image one row per step; the last state goes to a linear classifier. Its layer has the
  parameter names of `torch.nn.RNN` so the two can be compared weight for weight.
- `SeqAutoencoder`: the LSTM sequence autoencoder of the slides (Keras: `LSTM(latent)` ->
  `RepeatVector(T)` -> `LSTM(..., return_sequences=True)` -> `TimeDistributed(Dense(D))`).
- `TransformerSeq2Seq`: an encoder-decoder Transformer from `torch.nn.Transformer` with
  embeddings, sinusoidal positions and padding masks, exposing the `forward` / `start` / `step`
  interface of `seqlab.seq2seq`, so the same training loop, greedy decoding and metrics serve
  both it and the attention RNN.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..translit import PAD_ID


class ElmanLayer(nn.Module):
    """h_t = tanh(W_xh x_t + b_ih + W_hh h_{t-1} + b_hh), h_0 = 0; x (N, T, D) -> h (N, T, H)."""
    def __init__(self, D: int, H: int):
        super().__init__()
        s = 1 / math.sqrt(H)
        self.weight_ih_l0 = nn.Parameter(torch.empty(H, D).uniform_(-s, s))   # W_xh
        self.weight_hh_l0 = nn.Parameter(torch.empty(H, H).uniform_(-s, s))   # W_hh
        self.bias_ih_l0 = nn.Parameter(torch.empty(H).uniform_(-s, s))
        self.bias_hh_l0 = nn.Parameter(torch.empty(H).uniform_(-s, s))

    def forward(self, x):
        N, T, _ = x.shape
        h = x.new_zeros(N, self.weight_hh_l0.shape[0])
        xw = x @ self.weight_ih_l0.T + self.bias_ih_l0                # (N, T, H): all inputs at once
        out = []
        for t in range(T):
            h = torch.tanh(xw[:, t] + h @ self.weight_hh_l0.T + self.bias_hh_l0)  # (N, H)
            out.append(h)
        return torch.stack(out, dim=1)                                # (N, T, H)


class ElmanClassifier(nn.Module):
    """Image (N, rows, cols) read row by row -> class scores (N, C) from the last state."""
    def __init__(self, cols: int = 8, hidden: int = 64, classes: int = 10):
        super().__init__()
        self.rnn = ElmanLayer(cols, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, images):
        return self.out(self.rnn(images)[:, -1])


class SeqAutoencoder(nn.Module):
    """x (N, T, D) -> LSTM encoder -> z (N, latent) -> repeated T times -> LSTM decoder ->
    per-step linear read-out -> reconstruction (N, T, D)."""
    def __init__(self, D: int, latent: int = 16, hidden: int = 64):
        super().__init__()
        self.encoder = nn.LSTM(D, latent, batch_first=True)           # keras LSTM(latent)
        self.decoder = nn.LSTM(latent, hidden, batch_first=True)      # keras LSTM(..., return_sequences=True)
        self.readout = nn.Linear(hidden, D)                           # keras TimeDistributed(Dense(D))

    def encode(self, x):
        _, (h_n, _) = self.encoder(x)
        return h_n[-1]                                                # (N, latent)

    def forward(self, x):
        z = self.encode(x)
        repeated = z.unsqueeze(1).expand(-1, x.shape[1], -1)          # keras RepeatVector(T): (N, T, latent)
        out, _ = self.decoder(repeated)                               # (N, T, hidden)
        return self.readout(out)                                      # (N, T, D)


def sinusoidal_positions(T: int, d: int) -> torch.Tensor:
    pos = torch.arange(T, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(T, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe                                                         # (T, d)


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder Transformer (Vaswani et al. 2017) from `nn.TransformerEncoder/Decoder`
    (pre-LN layers, the same stacks `nn.Transformer` builds).

    Masks: `src_key_padding_mask` (encoder self-attention and decoder cross-attention never look
    at source <pad>), `tgt_key_padding_mask` (decoder self-attention ignores target <pad>), and
    the causal mask (position t sees only positions <= t)."""
    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 64, nhead: int = 4,
                 layers: int = 2, ff: int = 128, dropout: float = 0.1, max_len: int = 64):
        super().__init__()
        self.d_model = d_model
        self.src_embed = nn.Embedding(src_vocab, d_model, padding_idx=PAD_ID)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model, padding_idx=PAD_ID)
        for table in (self.src_embed, self.tgt_embed):   # std d^-1/2, so that sqrt(d) * embedding
            nn.init.normal_(table.weight, std=d_model ** -0.5)   # has entries of size ~1, like
            with torch.no_grad():                                  # the positions (otherwise
                table.weight[PAD_ID].zero_()                       # they drown them)
        self.register_buffer("pe", sinusoidal_positions(max_len, d_model), persistent=False)
        enc = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout, batch_first=True,
                                         norm_first=True)
        dec = nn.TransformerDecoderLayer(d_model, nhead, ff, dropout, batch_first=True,
                                         norm_first=True)
        # the two stacks of nn.Transformer, built here to switch off the nested-tensor fast path
        self.encoder = nn.TransformerEncoder(enc, layers, nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, layers, nn.LayerNorm(d_model))
        self.out = nn.Linear(d_model, tgt_vocab)

    def _embed(self, table, ids):
        return table(ids) * math.sqrt(self.d_model) + self.pe[:ids.shape[1]]   # (N, T, d)

    def encode(self, src):
        return self.encoder(self._embed(self.src_embed, src),
                                 src_key_padding_mask=src == PAD_ID)           # (N, S, d)

    def decode(self, tgt_in, memory, src):
        T = tgt_in.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=src.device).triu(1)  # True = hidden
        h = self.decoder(self._embed(self.tgt_embed, tgt_in), memory, tgt_mask=causal,
                              tgt_is_causal=True, tgt_key_padding_mask=tgt_in == PAD_ID,
                              memory_key_padding_mask=src == PAD_ID)           # (N, T, d)
        return self.out(h)                                                     # (N, T, C)

    def forward(self, src, src_len, tgt_in):
        return self.decode(tgt_in, self.encode(src), src)

    # the step interface of seqlab.seq2seq: the "state" is the prefix generated so far
    def start(self, src, src_len):
        return src.new_zeros(src.shape[0], 0), (self.encode(src), src)

    def step(self, y_prev, prefix, memory):
        enc, src = memory
        prefix = torch.cat([prefix, y_prev[:, None]], dim=1)                   # (N, t)
        logits = self.decode(prefix, enc, src)[:, -1]                          # (N, C)
        return F.log_softmax(logits, dim=-1), prefix, None
