"""Correct solutions written differently from the masters, for the fairness tests.

Each computes the same mathematics in another operation order or with another formula:
einsum instead of @, a logsumexp softmax, fused gate blocks, sigmoid written through tanh,
tanh' as 1/cosh^2 instead of 1 - tanh^2, loops against vectorised sums, and backward
passes that update their upstream gradients in place (`dc_next += ...`), as many published
student solutions do. A fair check passes every one of them, on every draw.
"""
import math

import numpy as np
import torch
import torch.nn as nn


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # = 1 / (1 + exp(-a)), another formula


# ====================================================================== a01
def rnn_step_forward(x, h_prev, W_xh, W_hh, b_h):
    a = np.einsum("nd,hd->nh", x, W_xh) + np.einsum("nk,hk->nh", h_prev, W_hh) + b_h
    return np.tanh(a), (x, h_prev, W_xh, W_hh, a)


def rnn_step_backward(dh_next, cache):
    x, h_prev, W_xh, W_hh, a = cache
    da = dh_next / np.cosh(a) ** 2                # tanh' = sech^2, not 1 - tanh^2
    return (np.einsum("nh,hd->nd", da, W_xh), np.einsum("nh,hk->nk", da, W_hh),
            np.einsum("nh,nd->hd", da, x), np.einsum("nh,nk->hk", da, h_prev), da.sum(0))


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    N, T, _ = x.shape
    hs, h = [], h0
    for t in range(T):
        h = np.tanh(x[:, t] @ W_xh.T + b_h + h @ W_hh.T)
        hs.append(h)
    h_all = np.stack(hs, axis=1)
    return h_all, (x, h0, W_xh, W_hh, h_all)


def rnn_backward(dh, cache):
    """BPTT that keeps every step's da and sums the weight gradients at the end."""
    x, h0, W_xh, W_hh, h = cache
    N, T, H = dh.shape
    da = np.zeros((N, T, H))
    carry = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        g = dh[:, t].copy()
        g += carry                                  # in place, on its own copy
        da[:, t] = g * (1.0 - h[:, t] * h[:, t])
        carry = da[:, t] @ W_hh
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)  # (N, T, H)
    return (np.einsum("nth,hd->ntd", da, W_xh), carry, np.einsum("nth,ntd->hd", da, x),
            np.einsum("nth,ntk->hk", da, h_prev), da.sum(axis=(0, 1)))


def temporal_softmax_loss(logits, y, mask):
    """logsumexp formulation; dlogits = exp(logits - lse) - onehot."""
    N = logits.shape[0]
    m = logits.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))     # (N, T, 1)
    picked = np.take_along_axis(logits, y[..., None], axis=-1)            # (N, T, 1)
    loss = float(((lse - picked)[..., 0] * mask).sum() / N)
    onehot = np.eye(logits.shape[-1])[y]
    dlogits = (np.exp(logits - lse) - onehot) * (mask[..., None] / N)
    return loss, dlogits


def clip_grad_norm(grads, max_norm):
    total = float(np.linalg.norm(np.concatenate([g.ravel() for g in grads.values()])))
    if total <= max_norm:
        return {k: g.copy() for k, g in grads.items()}, total
    return {k: g * (max_norm / total) for k, g in grads.items()}, total


# ====================================================================== a02
def jordan_forward(x, y0, W_xh, W_yh, b_h, W_hy, b_y):
    hs, ys, y = [], [], y0
    for t in range(x.shape[1]):
        h = np.tanh(np.einsum("nd,hd->nh", x[:, t], W_xh) + np.einsum("nc,hc->nh", y, W_yh) + b_h)
        y = np.einsum("nh,ch->nc", h, W_hy) + b_y
        hs.append(h)
        ys.append(y)
    h, y = np.stack(hs, 1), np.stack(ys, 1)
    return h, y, (x, y0, W_xh, W_yh, W_hy, h, y)


def jordan_backward(dy, cache):
    x, y0, W_xh, W_yh, W_hy, h, y = cache
    N, T, _ = x.shape
    g_y = np.zeros_like(dy)
    da = np.zeros(h.shape)
    carry = np.zeros_like(y0)
    for t in reversed(range(T)):
        g_y[:, t] = dy[:, t] + carry
        da[:, t] = (g_y[:, t] @ W_hy) * (1.0 - h[:, t] ** 2)
        carry = da[:, t] @ W_yh
    y_prev = np.concatenate([y0[:, None], y[:, :-1]], axis=1)
    return (np.einsum("nth,hd->ntd", da, W_xh), carry, np.einsum("nth,ntd->hd", da, x),
            np.einsum("nth,ntc->hc", da, y_prev), da.sum((0, 1)),
            np.einsum("ntc,nth->ch", g_y, h), g_y.sum((0, 1)))


def clip_by_value(grads, c):
    return {k: np.minimum(np.maximum(g, -c), c) for k, g in grads.items()}


def grad_norm_by_lag(x, h0, W_xh, W_hh, b_h, u):
    """Per-sample Jacobian products, then the Frobenius norm over the batch."""
    N, T, _ = x.shape
    hs = [h0]
    for t in range(T):
        hs.append(np.tanh(np.einsum("nd,hd->nh", x[:, t], W_xh) + hs[-1] @ W_hh.T + b_h))
    g, norms = u, [math.sqrt(float((u * u).sum()))]
    for t in range(T, 0, -1):
        g = np.einsum("nh,hk->nk", g * (1.0 - hs[t] ** 2), W_hh)
        norms.append(math.sqrt(float((g * g).sum())))
    return np.array(norms)


def tbptt_gradients(ids, h0, params, k1, k2):
    """BPTT(k1, k2) by hand in numpy (the master uses torch autograd): every step's forward
    once, then for each block a manual backward through its last k2 steps, with a
    logsumexp cross-entropy."""
    W_xh, W_hh, b_h, W_hy, b_y = (params[k] for k in ("W_xh", "W_hh", "b_h", "W_hy", "b_y"))
    N, T = ids.shape[0], ids.shape[1] - 1
    hs = [h0]
    for t in range(T):
        hs.append(np.tanh(W_xh[:, ids[:, t]].T + hs[-1] @ W_hh.T + b_h))   # one-hot input
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    total = 0.0
    for bs in range(0, T, k1):
        be = min(bs + k1, T)
        dh = np.zeros_like(h0)
        for t in range(be - 1, max(0, be - k2) - 1, -1):
            if t >= bs:
                o = hs[t + 1] @ W_hy.T + b_y
                m = o.max(1, keepdims=True)
                lse = m[:, 0] + np.log(np.exp(o - m).sum(1))
                total += float((lse - o[np.arange(N), ids[:, t + 1]]).sum()) / N
                do = np.exp(o - lse[:, None])
                do[np.arange(N), ids[:, t + 1]] -= 1.0
                do /= N
                grads["W_hy"] += do.T @ hs[t + 1]
                grads["b_y"] += do.sum(0)
                dh = dh + do @ W_hy
            da = dh * (1.0 - hs[t + 1] ** 2)
            np.add.at(grads["W_xh"].T, ids[:, t], da)
            grads["W_hh"] += da.T @ hs[t]
            grads["b_h"] += da.sum(0)
            dh = da @ W_hh
    return total, grads, hs[T].copy()


# ====================================================================== a03
def lstm_step_forward(x, h_prev, c_prev, W_x, W_h, b):
    H = h_prev.shape[1]
    a = np.einsum("nd,gd->ng", x, W_x) + np.einsum("nk,gk->ng", h_prev, W_h) + b
    ifo = _sigmoid(a[:, np.r_[0:2 * H, 3 * H:4 * H]])       # the three sigmoid gates at once
    i, f, o = ifo[:, :H], ifo[:, H:2 * H], ifo[:, 2 * H:]
    g = np.tanh(a[:, 2 * H:3 * H])
    c_next = i * g + f * c_prev
    h_next = o * np.tanh(c_next)
    return h_next, c_next, (x, h_prev, c_prev, W_x, W_h, i, f, g, o, c_next)


def lstm_step_backward(dh_next, dc_next, cache):
    """Updates its upstream gradients in place, as many published solutions do."""
    x, h_prev, c_prev, W_x, W_h, i, f, g, o, c_next = cache
    t = np.tanh(c_next)
    dc_next += dh_next * o / np.cosh(c_next) ** 2
    dh_next *= t                                             # now the gradient of o
    da = np.concatenate([dc_next * g * i * (1 - i), dc_next * c_prev * f * (1 - f),
                         dc_next * i * (1 - g * g), dh_next * o * (1 - o)], axis=1)
    return (da @ W_x, da @ W_h, f * dc_next, np.einsum("ng,nd->gd", da, x),
            np.einsum("ng,nk->gk", da, h_prev), da.sum(0))


def lstm_forward(x, h0, W_x, W_h, b):
    N, T, _ = x.shape
    h, c, hs, caches = h0, np.zeros_like(h0), [], []
    for t in range(T):
        h, c, cache = lstm_step_forward(x[:, t], h, c, W_x, W_h, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, 1), caches


def lstm_backward(dh, caches):
    N, T, H = dh.shape
    dx, dW_x, dW_h, db = [None] * T, 0.0, 0.0, 0.0
    dh_prev, dc_prev = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        dx[t], dh_prev, dc_prev, a, b_, c = lstm_step_backward(dh[:, t] + dh_prev, dc_prev,
                                                              caches[t])
        dW_x, dW_h, db = dW_x + a, dW_h + b_, db + c
    return np.stack(dx, 1), dh_prev, dW_x, dW_h, db


def gru_step_forward(x, h_prev, W_x, W_h, b_x, b_h):
    H = h_prev.shape[1]
    u = np.einsum("nd,gd->ng", x, W_x) + b_x
    v = np.einsum("nk,gk->ng", h_prev, W_h) + b_h
    rz = _sigmoid(u[:, :2 * H] + v[:, :2 * H])               # both gates at once
    r, z = rz[:, :H], rz[:, H:]
    n = np.tanh(u[:, 2 * H:] + r * v[:, 2 * H:])
    h_next = n + z * (h_prev - n)                            # = (1 - z) n + z h_prev
    return h_next, (x, h_prev, W_x, W_h, r, z, n, v[:, 2 * H:])


def gru_step_backward(dh_next, cache):
    x, h_prev, W_x, W_h, r, z, n, v_n = cache
    dpre_n = dh_next * (1 - z) * (1 - n * n)
    dpre_rz = np.concatenate([dpre_n * v_n * r * (1 - r), dh_next * (h_prev - n) * z * (1 - z)], 1)
    du = np.concatenate([dpre_rz, dpre_n], 1)
    dv = np.concatenate([dpre_rz, dpre_n * r], 1)
    return (np.einsum("ng,gd->nd", du, W_x), z * dh_next + np.einsum("ng,gk->nk", dv, W_h),
            np.einsum("ng,nd->gd", du, x), np.einsum("ng,nk->gk", dv, h_prev),
            du.sum(0), dv.sum(0))


def gru_forward(x, h0, W_x, W_h, b_x, b_h):
    h, hs, caches = h0, [], []
    for t in range(x.shape[1]):
        h, cache = gru_step_forward(x[:, t], h, W_x, W_h, b_x, b_h)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, 1), caches


def gru_backward(dh, caches):
    N, T, H = dh.shape
    out, carry = [], np.zeros((N, H))
    for t in reversed(range(T)):
        dx_t, carry, *rest = gru_step_backward(dh[:, t] + carry, caches[t])
        out.append((dx_t, rest))
    dx = np.stack([o[0] for o in out[::-1]], 1)
    sums = [sum(o[1][j] for o in out) for j in range(4)]
    return (dx, carry, *sums)


def peephole_lstm_forward(x, h0, W_x, W_h, b, p_i, p_f, p_o):
    N, T, _ = x.shape
    H = h0.shape[1]
    h, c, hs, cs = h0, np.zeros((N, H)), [], []
    for t in range(T):
        a = np.einsum("nd,gd->ng", x[:, t], W_x) + np.einsum("nk,gk->ng", h, W_h) + b
        i = _sigmoid(a[:, :H] + c * p_i)
        f = _sigmoid(a[:, H:2 * H] + c * p_f)
        c = f * c + i * np.tanh(a[:, 2 * H:3 * H])
        h = _sigmoid(a[:, 3 * H:] + c * p_o) * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, 1), np.stack(cs, 1)


# ====================================================================== a04
def _lse_softmax(e):
    """softmax as exp(e - logsumexp(e)); -inf entries give exactly 0."""
    m = e.max(axis=-1, keepdims=True)
    return np.exp(e - (m + np.log(np.exp(e - m).sum(axis=-1, keepdims=True))))


def additive_attention(q, k, v, W_q, W_k, w_v, key_mask):
    pq, pk = np.einsum("nqd,ad->nqa", q, W_q), np.einsum("nkd,ad->nka", k, W_k)
    e = np.einsum("nqka,a->nqk", np.tanh(pq[:, :, None] + pk[:, None]), w_v)
    w = _lse_softmax(np.where(key_mask[:, None, :], e, -np.inf))
    return np.einsum("nqk,nkv->nqv", w, v), w


def sdpa_forward(q, k, v, mask=None):
    s = np.einsum("nqd,nkd->nqk", q / math.sqrt(q.shape[-1]), k)  # scale q first
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = _lse_softmax(s)
    return np.einsum("nqk,nkv->nqv", w, v), w, (q, k, v, w)


def sdpa_backward(dout, cache):
    q, k, v, w = cache
    c = 1.0 / math.sqrt(q.shape[-1])
    dw = np.einsum("nqv,nkv->nqk", dout, v)
    ds = w * dw - w * np.einsum("nqk,nqk->nq", w, dw)[..., None]
    return (c * np.einsum("nqk,nkd->nqd", ds, k), c * np.einsum("nqk,nqd->nkd", ds, q),
            np.einsum("nqk,nqv->nkv", w, dout))


class AttentionDecoderStep(nn.Module):
    def __init__(self, vocab_size, emb, enc_dim, hidden, attn_dim):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb)
        self.W_q = nn.Linear(hidden, attn_dim, bias=False)
        self.W_k = nn.Linear(enc_dim, attn_dim, bias=False)
        self.w_v = nn.Linear(attn_dim, 1, bias=False)
        self.cell = nn.GRUCell(emb + enc_dim, hidden)
        self.out = nn.Linear(hidden + enc_dim, vocab_size)

    def forward(self, y_prev, s_prev, enc, src_mask):
        keys = enc @ self.W_k.weight.T                                        # (N, S, A)
        e = torch.tanh(keys + (s_prev @ self.W_q.weight.T)[:, None]) @ self.w_v.weight[0]
        e = torch.where(src_mask, e, torch.full_like(e, -math.inf))
        w = torch.exp(e - torch.logsumexp(e, dim=-1, keepdim=True))           # (N, S)
        context = torch.bmm(w[:, None], enc)[:, 0]                            # (N, enc_dim)
        s = self.cell(torch.cat([self.embed(y_prev), context], -1), s_prev)
        return self.out(torch.cat([s, context], -1)), s, w


# ====================================================================== a05
def layernorm_forward(x, gamma, beta, eps=1e-5):
    d = x.shape[-1]
    xc = x - np.einsum("...d->...", x)[..., None] / d                  # centred
    std = np.sqrt(np.einsum("...d,...d->...", xc, xc)[..., None] / d + eps)
    xhat = xc / std
    return gamma * xhat + beta, (xhat, std, gamma)


def layernorm_backward(dout, cache):
    xhat, std, gamma = cache
    d = xhat.shape[-1]
    flat_dout, flat_xhat = dout.reshape(-1, d), xhat.reshape(-1, d)
    g = dout * gamma
    # the full Jacobian formula, written as d * g - sum(g) - xhat * sum(g * xhat), over d * std
    dx = (d * g - g.sum(-1, keepdims=True) - xhat * (g * xhat).sum(-1, keepdims=True)) / (d * std)
    return dx, np.einsum("nd,nd->d", flat_dout, flat_xhat), flat_dout.sum(0)


def masked_softmax_forward(s, mask):
    allowed = np.broadcast_to(mask, s.shape)
    z = np.where(allowed, s, -np.inf)
    m = np.max(z, axis=-1, keepdims=True)
    safe = np.where(np.isfinite(m), m, 0.0)
    lse = safe + np.log(np.sum(np.where(allowed, np.exp(z - safe), 0.0), -1, keepdims=True))
    with np.errstate(invalid="ignore"):
        w = np.where(allowed & np.isfinite(lse), np.exp(z - lse), 0.0)   # logsumexp form
    return w, w


def masked_softmax_backward(dw, cache):
    w = cache
    return w * dw - w * np.einsum("...k,...k->...", w, dw)[..., None]


def mha_forward(x_q, x_kv, params, n_heads, mask=None):
    """One head at a time with einsum (a loop instead of a 4-d batch)."""
    N, T_q, d = x_q.shape
    T_kv, dh = x_kv.shape[1], d // n_heads
    allowed = np.ones((T_q, T_kv), dtype=bool) if mask is None else mask
    q = np.einsum("ntd,ed->nte", x_q, params["W_q"]) + params["b_q"]
    k = np.einsum("ntd,ed->nte", x_kv, params["W_k"]) + params["b_k"]
    v = np.einsum("ntd,ed->nte", x_kv, params["W_v"]) + params["b_v"]
    o, ws = np.zeros((N, T_q, d)), []
    for j in range(n_heads):
        sl = slice(j * dh, (j + 1) * dh)
        s = np.einsum("nqe,nke->nqk", q[..., sl], k[..., sl]) / math.sqrt(dh)
        w, _ = masked_softmax_forward(s, allowed)
        ws.append(w)
        o[..., sl] = np.einsum("nqk,nke->nqe", w, v[..., sl])
    out = np.einsum("nte,de->ntd", o, params["W_o"]) + params["b_o"]
    return out, (x_q, x_kv, params, n_heads, q, k, v, ws, o)


def mha_backward(dout, cache):
    x_q, x_kv, params, n_heads, q, k, v, ws, o = cache
    d = x_q.shape[-1]
    dh = d // n_heads
    grads = {"W_o": np.einsum("ntd,nte->de", dout, o), "b_o": dout.sum((0, 1))}
    do = np.einsum("ntd,de->nte", dout, params["W_o"])
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    for j, w in enumerate(ws):
        sl = slice(j * dh, (j + 1) * dh)
        dw = np.einsum("nqe,nke->nqk", do[..., sl], v[..., sl])
        dv[..., sl] = np.einsum("nqk,nqe->nke", w, do[..., sl])
        ds = masked_softmax_backward(dw, w) / math.sqrt(dh)
        dq[..., sl] = np.einsum("nqk,nke->nqe", ds, k[..., sl])
        dk[..., sl] = np.einsum("nqk,nqe->nke", ds, q[..., sl])
    for name, g, x in (("q", dq, x_q), ("k", dk, x_kv), ("v", dv, x_kv)):
        grads[f"W_{name}"] = np.einsum("nte,ntd->ed", g, x)
        grads[f"b_{name}"] = g.sum((0, 1))
    dx_q = np.einsum("nte,ed->ntd", dq, params["W_q"])
    dx_kv = np.einsum("nte,ed->ntd", dk, params["W_k"]) + np.einsum("nte,ed->ntd", dv, params["W_v"])
    return dx_q, dx_kv, grads


def block_forward(x, params, n_heads, mask=None):
    h1, c1 = layernorm_forward(x, params["ln1_g"], params["ln1_b"])
    a, ca = mha_forward(h1, h1, params, n_heads, mask)
    x1 = a + x
    h2, c2 = layernorm_forward(x1, params["ln2_g"], params["ln2_b"])
    z = np.einsum("ntd,fd->ntf", h2, params["W_1"]) + params["b_1"]
    r = z * (z > 0)
    return np.einsum("ntf,df->ntd", r, params["W_2"]) + params["b_2"] + x1, (c1, ca, c2, h2, z, r, params)


def block_backward(dout, cache):
    c1, ca, c2, h2, z, r, params = cache
    grads = {"W_2": np.einsum("ntd,ntf->df", dout, r), "b_2": dout.sum((0, 1))}
    dz = np.where(z > 0, np.einsum("ntd,df->ntf", dout, params["W_2"]), 0.0)
    grads["W_1"], grads["b_1"] = np.einsum("ntf,ntd->fd", dz, h2), dz.sum((0, 1))
    dh2 = np.einsum("ntf,fd->ntd", dz, params["W_1"])
    dx1, grads["ln2_g"], grads["ln2_b"] = layernorm_backward(dh2, c2)
    dx1 = dx1 + dout
    dq, dkv, ga = mha_backward(dx1, ca)
    grads.update(ga)
    dx, grads["ln1_g"], grads["ln1_b"] = layernorm_backward(dkv + dq, c1)
    return dx + dx1, grads


ALTERNATIVES = {
    "a01-rnn": ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
                "temporal_softmax_loss", "clip_grad_norm"],
    "a02-bptt": ["jordan_forward", "jordan_backward", "tbptt_gradients", "clip_by_value",
                 "grad_norm_by_lag"],
    "a03-lstm-gru": ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
                     "gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward",
                     "peephole_lstm_forward"],
    "a04-attention": ["additive_attention", "sdpa_forward", "sdpa_backward",
                      "AttentionDecoderStep"],
    "a05-transformer": ["layernorm_forward", "layernorm_backward", "masked_softmax_forward",
                        "masked_softmax_backward", "mha_forward", "mha_backward",
                        "block_forward", "block_backward"],
}


def alternative(name: str, master: dict) -> dict:
    """The master's namespace with this module's alternatives for assignment `name`."""
    return {**master, **{f: globals()[f] for f in ALTERNATIVES[name]}}
