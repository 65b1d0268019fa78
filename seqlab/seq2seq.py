"""Plumbing for the chapter *Sequence to sequence and attention*.

- `Encoder`: embedding + (bi)directional GRU over the source; returns the encoder states
  h_enc (one vector per source position: the keys and values of attention) and the fixed
  context ctx, a single vector that summarises the whole source.
- `Seq2Seq`: the encoder-decoder without attention (ctx is the decoder's only view of the
  source: the bottleneck).
- `AttnSeq2Seq`: the same decoder plus attention over h_enc; the score function is a module
  passed in by the page, `score(queries (N, T_y, H_dec), keys (N, T_x, D_k)) -> (N, T_y, T_x)`.
- `train_seq2seq`: a short seeded training run (teacher forcing or free running).
- `greedy_decode`, `evaluate`, `edit_distance`: decoding and the metrics used on the pages.

Both models expose the same step interface (`start`, `step`), so one decoding routine
(greedy, or the beam search written on the page) drives either of them.
The ideas the pages teach (score functions, beam search, REINFORCE) stay on the pages.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import n_params  # noqa: F401  (re-exported: the pages import it from here)
from .translit import EOS_ID, PAD_ID, SOS_ID, Batch, TranslitData


class Encoder(nn.Module):
    """x_1..x_{T_x} -> encoder states h_enc (N, T_x, D_k) and the fixed context ctx (N, H_dec).

    Bidirectional (default): h_enc_s = [h_fwd_s; h_bwd_s], D_k = 2H, and the summary is
    [h_fwd_{T_x}; h_bwd_1]. Unidirectional: h_enc_s = h_s, D_k = H, and the summary is h_{T_x}.
    ctx = tanh(W_b summary + b_b) is the decoder's initial state h_dec_0.
    """

    def __init__(self, vocab_size: int, emb: int = 32, hidden: int = 64, dec_hidden: int = 128,
                 bidirectional: bool = True):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=PAD_ID)
        self.rnn = nn.GRU(emb, hidden, batch_first=True, bidirectional=bidirectional)
        self.out_dim = hidden * (2 if bidirectional else 1)            # D_k
        self.bridge = nn.Linear(self.out_dim, dec_hidden)               # W_b, b_b

    def forward(self, src, src_len):
        x = self.embed(src)                                             # (N, T_x, D)
        packed = nn.utils.rnn.pack_padded_sequence(x, src_len.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, h_n = self.rnn(packed)                                     # h_n: (dirs, N, H)
        h_enc, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                    total_length=src.shape[1])  # (N, T_x, D_k)
        summary = torch.cat(list(h_n), dim=-1)                          # (N, D_k)
        ctx = torch.tanh(self.bridge(summary))                          # (N, H_dec)
        return h_enc, ctx


class Seq2Seq(nn.Module):
    """Encoder-decoder without attention (Cho et al. 2014): the fixed context ctx is the
    decoder's initial state and an input at every step,
    h_dec_t = GRU([emb(y_{t-1}); ctx], h_dec_{t-1}), o_t = W_hy h_dec_t + b_y."""

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int = 32, hidden: int = 64,
                 dec_hidden: int = 128, dropout: float = 0.0, bidirectional: bool = True):
        super().__init__()
        self.encoder = Encoder(src_vocab, emb, hidden, dec_hidden, bidirectional)
        self.embed = nn.Embedding(tgt_vocab, emb, padding_idx=PAD_ID)
        self.decoder = nn.GRU(emb + dec_hidden, dec_hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(dec_hidden, tgt_vocab)                     # W_hy, b_y

    def _inputs(self, y_prev, ctx):
        """[emb(y_{t-1}); ctx] for every step: y_prev (N, T) ids, ctx (N, H_dec) -> (N, T, D + H_dec)."""
        e = self.drop(self.embed(y_prev))                               # (N, T, D)
        return torch.cat([e, ctx.unsqueeze(1).expand(-1, e.shape[1], -1)], dim=-1)

    # -- training: all steps at once, the true previous token as input (teacher forcing) --
    def forward(self, src, src_len, tgt_in, return_attention: bool = False):
        """src (N, T_x), src_len (N,), tgt_in (N, T_y) = <sos> y_1 .. -> logits o (N, T_y, C)."""
        h_enc, ctx = self.encoder(src, src_len)
        h_dec, _ = self.decoder(self._inputs(tgt_in, ctx), ctx.unsqueeze(0))  # (N, T_y, H_dec)
        logits, alpha = self.readout(h_dec, h_enc, src)                 # (N, T_y, C)
        return (logits, alpha) if return_attention else logits

    def readout(self, h_dec, h_enc, src):
        return self.out(self.drop(h_dec)), None                         # (N, T_y, C)

    # -- decoding: one step at a time, fed with its own previous output --
    def start(self, src, src_len):
        """The decoder's initial state (N, H_dec) and the memory that every step reads."""
        h_enc, ctx = self.encoder(src, src_len)
        return ctx, (h_enc, src, ctx)

    def step(self, y_prev, state, memory):
        """y_prev (N,) ids, state (N, H_dec) -> log-probs (N, C), new state, alpha (N, T_x) or None."""
        h_enc, src, ctx = memory
        h_dec = self.decoder(self._inputs(y_prev[:, None], ctx), state.unsqueeze(0))[0]  # (N, 1, H_dec)
        logits, alpha = self.readout(h_dec, h_enc, src)                 # (N, 1, C), (N, 1, T_x)
        return (F.log_softmax(logits[:, 0], dim=-1), h_dec[:, 0],
                None if alpha is None else alpha[:, 0])


class AttnSeq2Seq(Seq2Seq):
    """Seq2Seq plus attention, with the current decoder state as the query (Luong et al. 2015):

    e_ts = score(h_dec_t, h_enc_s) on real source positions, alpha_t = softmax(e_t),
    ctx_t = sum_s alpha_ts h_enc_s, o_t = W_hy tanh(W_c [h_dec_t; ctx_t] + b_c) + b_y.
    Only `score` differs between the variants, a module mapping
    (queries (N, T_y, H_dec), keys (N, T_x, D_k)) -> scores (N, T_y, T_x). The recurrence is the
    same as in `Seq2Seq`, so the only difference from the model without attention is ctx_t.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, score: nn.Module, emb: int = 32,
                 hidden: int = 64, dec_hidden: int = 128, dropout: float = 0.0,
                 bidirectional: bool = True):
        super().__init__(src_vocab, tgt_vocab, emb, hidden, dec_hidden, dropout, bidirectional)
        self.score = score
        self.combine = nn.Linear(dec_hidden + self.encoder.out_dim, dec_hidden)  # W_c, b_c

    def attend(self, h_dec, h_enc, src):
        """h_dec (N, T_y, H_dec), h_enc (N, T_x, D_k) -> ctx (N, T_y, D_k), alpha (N, T_y, T_x)."""
        e = self.score(h_dec, h_enc)                                    # (N, T_y, T_x)
        e = e.masked_fill((src == PAD_ID).unsqueeze(1), float("-inf"))  # never attend to <pad>
        alpha = torch.softmax(e, dim=-1)                                # (N, T_y, T_x)
        return alpha @ h_enc, alpha                                     # (N, T_y, D_k)

    def readout(self, h_dec, h_enc, src):
        ctx, alpha = self.attend(h_dec, h_enc, src)
        h_att = torch.tanh(self.combine(torch.cat([h_dec, ctx], dim=-1)))  # (N, T_y, H_dec)
        return self.out(self.drop(h_att)), alpha                        # (N, T_y, C)


def token_loss(logits, tgt_out):
    """Cross-entropy per target token, averaged over the real (non-<pad>) tokens."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                           ignore_index=PAD_ID)


def free_running_logits(model, batch: Batch):
    """Decoder fed with its own greedy predictions (no teacher forcing): (N, T, C) logits."""
    state, memory = model.start(batch.src, batch.src_len)
    y = batch.tgt_in[:, 0]
    out = []
    for _ in range(batch.tgt_out.shape[1]):
        logp, state, _ = model.step(y, state, memory)
        out.append(logp)
        y = logp.argmax(-1).detach()
    return torch.stack(out, dim=1)


def train_seq2seq(model, data: TranslitData, epochs: float = 3, batch_size: int = 64,
                  lr: float = 5e-3, teacher_forcing: bool = True, clip: float = 1.0,
                  seed: int = 0, log_points: int = 12, track_cer: bool = False):
    """Adam on the token cross-entropy (mean over real tokens); returns a history dict.

    epochs may be fractional (1.5 = one and a half passes over the training pairs).
    history: 'curve' = list of (examples seen, mean train loss since the last point, teacher-
    forced validation loss) at `log_points` evenly spaced moments (with `track_cer`, also
    'val_cer': the greedy-decoding character error rate on the validation split at those
    moments); 'seconds' (wall clock) and
    'cpu_seconds' (process CPU time, less sensitive to other jobs) of the training steps only.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)  # fused: fewer small ops per step
    val = data.tensors(data.val)
    total_examples = int(epochs * len(data.train))
    marks = set(np.linspace(0, total_examples, log_points + 1)[1:].astype(int).tolist())
    marks = sorted(marks)
    hist = {"curve": [], "val_cer": [], "seconds": 0.0, "cpu_seconds": 0.0}
    seen, run_loss, run_n = 0, 0.0, 0
    while seen < total_examples:
        for batch in data.batches("train", batch_size, rng):
            model.train()
            wall, cpu = time.perf_counter(), time.process_time()
            if teacher_forcing:
                logits = model(batch.src, batch.src_len, batch.tgt_in)
            else:
                logits = free_running_logits(model, batch)
            loss = token_loss(logits, batch.tgt_out)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            hist["seconds"] += time.perf_counter() - wall
            hist["cpu_seconds"] += time.process_time() - cpu
            seen += len(batch)
            run_loss, run_n = run_loss + loss.item() * len(batch), run_n + len(batch)
            if marks and seen >= marks[0]:
                while marks and seen >= marks[0]:
                    marks.pop(0)
                model.eval()
                with torch.no_grad():
                    vl = token_loss(model(val.src, val.src_len, val.tgt_in), val.tgt_out)
                hist["curve"].append((seen, run_loss / run_n, vl.item()))
                if track_cer:
                    hist["val_cer"].append(evaluate(model, data, "val")["cer"])
                run_loss, run_n = 0.0, 0
            if seen >= total_examples:
                break
    model.eval()
    return hist


@torch.no_grad()
def greedy_decode(model, src, src_len, max_len: int = 30, return_attention: bool = False):
    """Batched greedy decoding. Returns ids (N, <=max_len), log-prob of each output (N,),
    and (optionally) the attention weights (N, T_out, S)."""
    model.eval()
    state, memory = model.start(src, src_len)
    N = src.shape[0]
    y = torch.full((N,), SOS_ID, dtype=torch.int64)
    done = torch.zeros(N, dtype=torch.bool)
    score = torch.zeros(N)
    ids, alphas = [], []
    for _ in range(max_len):
        logp, state, alpha = model.step(y, state, memory)
        y = logp.argmax(-1)                                             # (N,)
        score += torch.where(done, 0.0, logp.gather(1, y[:, None])[:, 0])
        ids.append(torch.where(done, PAD_ID, y))
        if alpha is not None:
            alphas.append(alpha)
        done |= y == EOS_ID
        if done.all():
            break
    out = torch.stack(ids, dim=1)
    if return_attention:
        return out, score, (torch.stack(alphas, dim=1) if alphas else None)
    return out, score


@torch.no_grad()
def sequence_logprob(model, batch: Batch) -> torch.Tensor:
    """log p(y | x) of the batch's true targets (<eos> included), one number per pair: (N,)."""
    model.eval()
    logp = F.log_softmax(model(batch.src, batch.src_len, batch.tgt_in), dim=-1)  # (N, T, C)
    tok = logp.gather(2, batch.tgt_out.unsqueeze(-1)).squeeze(-1)                 # (N, T)
    return (tok * (batch.tgt_out != PAD_ID)).sum(1)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def evaluate(model, data: TranslitData, split: str = "test", decode=None):
    """Greedy (or `decode(model, batch) -> list[str]`) outputs on a split, with metrics.

    Returns {'acc': exact-match rate, 'cer': total edits / total target characters,
    'pred': predictions, 'pairs': the split's pairs, 'correct': bool array, 'cer_each': array}.
    """
    pairs = data.split(split)
    batch = data.tensors(pairs)
    if decode is None:
        ids, _ = greedy_decode(model, batch.src, batch.src_len)
        pred = [data.tgt_vocab.decode(row) for row in ids]
    else:
        pred = decode(model, batch)
    edits = np.array([edit_distance(p, q.tgt) for p, q in zip(pred, pairs)])
    lens = np.array([len(q.tgt) for q in pairs])
    correct = np.array([p == q.tgt for p, q in zip(pred, pairs)])
    return {"acc": float(correct.mean()), "cer": float(edits.sum() / lens.sum()),
            "pred": pred, "pairs": pairs, "correct": correct, "cer_each": edits / lens}


LENGTH_BINS = ((1, 6), (7, 8), (9, 10), (11, 13), (14, 99))


def length_table(result, bins=LENGTH_BINS):
    """Exact match and mean per-name CER of an `evaluate` result, grouped by source length.

    Returns a pandas DataFrame indexed by the length group, with columns 'names',
    'exact match (%)' and 'CER (%)'.
    """
    import pandas as pd

    lens = np.array([len(p.src) for p in result["pairs"]])
    rows = []
    for lo, hi in bins:
        m = (lens >= lo) & (lens <= hi)
        rows.append({"source length": f"{lo}-{hi}" if hi < 99 else f"{lo}+",
                     "names": int(m.sum()),
                     "exact match (%)": 100 * float(result["correct"][m].mean()),
                     "CER (%)": 100 * float(result["cer_each"][m].mean())})
    return pd.DataFrame(rows).set_index("source length")
