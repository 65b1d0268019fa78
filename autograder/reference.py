"""Every torch oracle of the course, in the book's notation, in one place.

Each function mirrors what the students write, on float64 tensors, so that torch
autograd gives the exact gradient a manual backward pass must return. Weights are
stored (out, in) like torch.nn: a = x @ W_xh.T + h @ W_hh.T + b_h.

Known mistakes are expressed one way: `mistakes=` takes a set of names (or one name),
and the function then computes what a solution making all of those mistakes returns.
Backward mistakes keep every forward value and change only the gradient; they are built
from `_fake_grad` (value of one expression, gradient of another). The checks call these
only after a student's answer has failed, to name the cause (see checks.Mistakes).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def has(mistakes, *names) -> bool:
    """True if the mistake set (None, one name, or a set of names) contains any of names."""
    if not mistakes:
        return False
    if isinstance(mistakes, str):
        return mistakes in names
    return any(n in mistakes for n in names)


def _fake_grad(value, through, factor=1.0):
    """`value` in the forward pass; in the backward pass, the gradient reaching it flows
    to `through` (same shape) multiplied by `factor`, and `value` itself passes none."""
    return value.detach() + (through - through.detach()) * factor


def _tanh(a, forget_derivative=False):
    return _fake_grad(torch.tanh(a), a) if forget_derivative else torch.tanh(a)


def _sigmoid(a, forget_derivative=False):
    return _fake_grad(torch.sigmoid(a), a) if forget_derivative else torch.sigmoid(a)


def _product_ignoring(v, u):
    """v * u in value; v gets its true gradient, u gets it as if v were the constant 1."""
    return v * u.detach() + (u - u.detach())


def _blocks_reordered(a, order):
    """Identity in value; the gradient's column blocks (N, kH) are re-stacked in `order`
    (a backward pass that stacks gate gradients in another order than the forward)."""
    H = a.shape[1] // len(order)
    perm = torch.cat([torch.arange(k * H, (k + 1) * H) for k in order])
    inv = torch.argsort(perm)
    return _fake_grad(a, a[:, inv])


# ==================================================================== a01: Elman RNN, loss
def rnn_step(x, h_prev, W_xh, W_hh, b_h, mistakes=None):
    """h_next = tanh(x @ W_xh.T + h_prev @ W_hh.T + b_h); x (N, D), h_prev (N, H)."""
    a = x @ W_xh.T + h_prev @ W_hh.T + b_h  # (N, H)
    return _tanh(a, has(mistakes, "no_tanh_derivative"))


def rnn_forward(x, h0, W_xh, W_hh, b_h, mistakes=None):
    """All hidden states (N, T, H) of an Elman RNN over x (N, T, D) from h0 (N, H).

    "no_carry": the gradient reaching h_t from step t+1 is dropped (the value of h_t still
    feeds step t+1, so every forward value is unchanged).
    """
    h, states = h0, []
    for t in range(x.shape[1]):
        h_in = h.detach() if (has(mistakes, "no_carry") and t > 0) else h
        h = rnn_step(x[:, t], h_in, W_xh, W_hh, b_h, mistakes)  # (N, H)
        states.append(h)
    return torch.stack(states, dim=1)  # (N, T, H)


def temporal_softmax_loss(logits, y, mask, mistakes=None):
    """Masked cross-entropy summed over time and averaged over the batch.

    logits (N, T, C), y (N, T) integer classes, mask (N, T) bool/0-1.
    mistakes: "no_mask", "no_batch_mean" (not divided by N), "mean_over_NT".
    """
    N, T = logits.shape[:2]
    logp = torch.log_softmax(logits, dim=-1)  # (N, T, C)
    picked = logp.gather(-1, torch.as_tensor(y).long().unsqueeze(-1)).squeeze(-1)  # (N, T)
    m = torch.ones(N, T, dtype=logits.dtype) if has(mistakes, "no_mask") else \
        torch.as_tensor(mask).to(logits.dtype)
    loss = -(picked * m).sum()
    if has(mistakes, "mean_over_NT"):
        return loss / (N * T)
    return loss if has(mistakes, "no_batch_mean") else loss / N


# ==================================================================== a02: Jordan, TBPTT, lags
def jordan_forward(x, y0, W_xh, W_yh, b_h, W_hy, b_y, mistakes=None):
    """Jordan network: h_t = tanh(W_xh x_t + W_yh y_{t-1} + b_h), y_t = W_hy h_t + b_y.

    The recurrence goes through the previous OUTPUT y_{t-1} (N, C). Returns (h, y).
    """
    y, hs, ys = y0, [], []
    for t in range(x.shape[1]):
        y_in = y.detach() if (has(mistakes, "no_carry") and t > 0) else y
        h = _tanh(x[:, t] @ W_xh.T + y_in @ W_yh.T + b_h, has(mistakes, "no_tanh_derivative"))
        y = h @ W_hy.T + b_y  # (N, C)
        hs.append(h)
        ys.append(y)
    return torch.stack(hs, dim=1), torch.stack(ys, dim=1)


LM_PARAMS = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")


def lm_loss_tbptt(ids, h0, params, k1, k2, mistakes=None):
    """A one-hot character RNN LM trained with truncated BPTT(k1, k2) (Williams and Peng).

    ids (N, T+1) ints: inputs ids[:, :-1], targets ids[:, 1:]. The steps are processed in
    blocks of k1 (the last may be shorter). At the end e of each block, the losses of the
    block's steps are backpropagated through the last k2 steps only: the forward pass is run
    again from the state h_{e-k2} (computed earlier, DETACHED) up to h_e, and the block's
    losses are summed (each step's loss is counted once). k1 = k2 = k is the chunked scheme
    of the book; k1 = 1 is Williams and Peng's band of width k2.
    Loss = sum over steps of cross-entropy / N. Returns (the sum of the blocks' loss tensors
    -- its backward gives the accumulated gradients --, final hidden state).
    mistakes: "no_detach" (full BPTT), "reset" (each block restarts from h0), "chunks" (k2
    ignored: every block is backpropagated through itself only), "mean_over_T" (the loss
    averaged over time steps).
    """
    W_xh, W_hh, b_h, W_hy, b_y = (params[k_] for k_ in LM_PARAMS)
    C = W_xh.shape[1]
    N, T = ids.shape[0], ids.shape[1] - 1
    x = F.one_hot(ids[:, :-1], C).to(W_xh.dtype)  # (N, T, C)
    y = ids[:, 1:]                                # (N, T)
    k2 = k1 if has(mistakes, "chunks") else k2
    states, total, h = [h0], 0.0, h0              # states[t] = h_t, detached
    for block_start in range(0, T, k1):
        block_end = min(block_start + k1, T)
        start = max(0, block_end - k2)
        if has(mistakes, "no_detach"):
            start, h = 0, h0
        else:
            h = h0 if has(mistakes, "reset") else states[start].detach()
        for t in range(start, block_end):
            h = torch.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)  # (N, H)
            if t + 1 == len(states):
                states.append(h.detach())
            if t >= block_start:
                o = h @ W_hy.T + b_y                              # (N, C)
                total = total + F.cross_entropy(o, y[:, t], reduction="sum") / N
    return (total / T if has(mistakes, "mean_over_T") else total), h


def lm_reference(ids, h0, params, k1, k2, mistakes=None):
    """(loss, {name: gradient}, final state) of lm_loss_tbptt, as numpy."""
    tp = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    loss, h = lm_loss_tbptt(torch.tensor(ids), torch.tensor(h0), tp, k1, k2, mistakes)
    loss.backward()
    return float(loss), {n: tp[n].grad.numpy().copy() for n in LM_PARAMS}, \
        h.detach().numpy().copy()


def grad_norm_by_lag(x, h0, W_xh, W_hh, b_h, u):
    """norms[lag] = || d(sum(u * h_T)) / d h_{T-lag} ||_F for lag = 0..T (h_0 at lag T)."""
    t = {n: torch.tensor(v) for n, v in dict(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h).items()}
    h = t["h0"].clone().requires_grad_(True)
    states = [h]
    for s in range(x.shape[1]):
        h = torch.tanh(t["x"][:, s] @ t["W_xh"].T + h @ t["W_hh"].T + t["b_h"])
        h.retain_grad()
        states.append(h)
    (states[-1] * torch.tensor(u)).sum().backward()
    T = x.shape[1]
    return np.array([states[T - lag].grad.norm().item() for lag in range(T + 1)])


# ==================================================================== a03: LSTM, GRU
def lstm_step(x, h_prev, c_prev, W_x, W_h, b, mistakes=None, p_i=None, p_f=None, p_o=None):
    """One LSTM step, torch gate order i, f, g, o. Returns (h_next, c_next), each (N, H).

    With p_i, p_f, p_o (H,) it is the peephole LSTM of Gers & Schmidhuber (2000).
    mistakes: "gate_order_ifog" / "gate_order_figo" (rows read in another order),
    "no_sigmoid_derivative[_i|_f|_o]", "no_tanh_c_derivative", "no_tanh_g_derivative",
    "no_f_in_dc" (dc_prev = dc instead of f * dc), "stacked_ifog" (the pre-activation
    gradient stacked i, f, o, g), "no_dc_next" (the incoming dc_next ignored), and for
    peepholes only "no_peepholes", "o_sees_c_prev", "peepholes_i_f_swapped".
    """
    H = h_prev.shape[1]
    a = x @ W_x.T + h_prev @ W_h.T + b  # (N, 4H)
    if has(mistakes, "stacked_ifog"):
        a = _blocks_reordered(a, (0, 1, 3, 2))
    a_i, a_f, a_g, a_o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    if has(mistakes, "gate_order_ifog"):
        a_g, a_o = a_o, a_g
    if has(mistakes, "gate_order_figo"):
        a_i, a_f = a_f, a_i
    peep = p_i is not None and not has(mistakes, "no_peepholes")
    if peep:
        q_i, q_f = (p_f, p_i) if has(mistakes, "peepholes_i_f_swapped") else (p_i, p_f)
        a_i = a_i + q_i * c_prev
        a_f = a_f + q_f * c_prev
    i = _sigmoid(a_i, has(mistakes, "no_sigmoid_derivative", "no_sigmoid_derivative_i"))
    f = _sigmoid(a_f, has(mistakes, "no_sigmoid_derivative", "no_sigmoid_derivative_f"))
    g = _tanh(a_g, has(mistakes, "no_tanh_g_derivative"))
    fc = _product_ignoring(f, c_prev) if has(mistakes, "no_f_in_dc") else f * c_prev
    c_next = fc + i * g  # (N, H)
    if peep:
        a_o = a_o + p_o * (c_prev if has(mistakes, "o_sees_c_prev") else c_next)
    o = _sigmoid(a_o, has(mistakes, "no_sigmoid_derivative", "no_sigmoid_derivative_o"))
    h_next = o * _tanh(c_next, has(mistakes, "no_tanh_c_derivative"))
    if has(mistakes, "no_dc_next"):  # c_next's own upstream gradient is dropped
        c_next = c_next.detach()
    return h_next, c_next


def lstm_forward(x, h0, W_x, W_h, b, mistakes=None, p_i=None, p_f=None, p_o=None,
                 return_c=False):
    """LSTM over x (N, T, D) from h0 (N, H) and c0 = 0. Returns h (N, T, H) [and c].

    Extra mistakes: "no_carry" (the gradient reaching h_t from step t+1 is dropped),
    "no_cell_carry" (the gradient reaching c_t from step t+1 is dropped).
    """
    h, c = h0, torch.zeros_like(h0)
    hs, cs = [], []
    for t in range(x.shape[1]):
        h_in = h.detach() if (has(mistakes, "no_carry") and t > 0) else h
        c_in = c.detach() if (has(mistakes, "no_cell_carry") and t > 0) else c
        h, c = lstm_step(x[:, t], h_in, c_in, W_x, W_h, b, mistakes, p_i, p_f, p_o)
        hs.append(h)
        cs.append(c)
    h_all, c_all = torch.stack(hs, dim=1), torch.stack(cs, dim=1)  # (N, T, H)
    return (h_all, c_all) if return_c else h_all


def peephole_lstm_forward(x, h0, W_x, W_h, b, p_i, p_f, p_o, mistakes=None):
    """Peephole LSTM over a sequence (c0 = 0). Returns (h, c), each (N, T, H)."""
    return lstm_forward(x, h0, W_x, W_h, b, mistakes, p_i, p_f, p_o, return_c=True)


def gru_step(x, h_prev, W_x, W_h, b_x, b_h, mistakes=None):
    """One GRU step, torch gate order r, z, n and torch's reset placement. (N, H).

    mistakes: "gate_order_zrn", "cho_reset" (n = tanh(u_n + W_hn (r * h_prev) + b_hn)),
    "bhn_outside" (n = tanh(u_n + r * (W_hn h_prev) + b_hn)), "z_flipped",
    "no_sigmoid_derivative[_r|_z]", "no_tanh_derivative", "no_direct_path",
    "no_r_in_dvn" (the gradient of W_hn h_prev + b_hn not multiplied by r), "r_in_dun"
    (the gradient of the input side u_n multiplied by r too), "stacked_zrn".
    """
    H = h_prev.shape[1]
    u = x @ W_x.T + b_x       # (N, 3H)
    v = h_prev @ W_h.T + b_h  # (N, 3H)
    if has(mistakes, "stacked_zrn"):
        u, v = _blocks_reordered(u, (1, 0, 2)), _blocks_reordered(v, (1, 0, 2))
    s_r, s_z = slice(0, H), slice(H, 2 * H)
    if has(mistakes, "gate_order_zrn"):
        s_r, s_z = s_z, s_r
    r = _sigmoid(u[:, s_r] + v[:, s_r], has(mistakes, "no_sigmoid_derivative",
                                           "no_sigmoid_derivative_r"))
    z = _sigmoid(u[:, s_z] + v[:, s_z], has(mistakes, "no_sigmoid_derivative",
                                           "no_sigmoid_derivative_z"))
    u_n, v_n = u[:, 2 * H:], v[:, 2 * H:]
    if has(mistakes, "r_in_dun"):
        u_n = _fake_grad(u_n, u_n, r.detach())
    if has(mistakes, "cho_reset"):
        inner = (r * h_prev) @ W_h[2 * H:].T + b_h[2 * H:]
    elif has(mistakes, "bhn_outside"):
        inner = r * (h_prev @ W_h[2 * H:].T) + b_h[2 * H:]
    elif has(mistakes, "no_r_in_dvn"):
        inner = _product_ignoring(r, v_n)
    else:
        inner = r * v_n
    n = _tanh(u_n + inner, has(mistakes, "no_tanh_derivative"))
    h_direct = h_prev.detach() if has(mistakes, "no_direct_path") else h_prev
    if has(mistakes, "z_flipped"):
        return z * n + (1 - z) * h_direct
    return (1 - z) * n + z * h_direct


def gru_forward(x, h0, W_x, W_h, b_x, b_h, mistakes=None):
    """GRU over x (N, T, D) from h0 (N, H). Returns h (N, T, H). Extra mistake: "no_carry"."""
    h, hs = h0, []
    for t in range(x.shape[1]):
        h_in = h.detach() if (has(mistakes, "no_carry") and t > 0) else h
        h = gru_step(x[:, t], h_in, W_x, W_h, b_x, b_h, mistakes)
        hs.append(h)
    return torch.stack(hs, dim=1)  # (N, T, H)


def torch_nn_rnn(kind, x, h0, W_x, W_h, b_x, b_h):
    """h (N, T, H) from torch.nn.LSTM or torch.nn.GRU (batch_first, float64) with the
    student's weights mapped in (the LSTM gets c0 = 0)."""
    N, _, D = x.shape
    H = h0.shape[1]
    net = getattr(torch.nn, kind)(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", W_x), ("weight_hh_l0", W_h),
                            ("bias_ih_l0", b_x), ("bias_hh_l0", b_h)):
            getattr(net, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        h0_t = torch.from_numpy(h0)[None]  # (1, N, H)
        state = (h0_t, torch.zeros_like(h0_t)) if kind == "LSTM" else h0_t
        out, _ = net(torch.from_numpy(x), state)
    return out.numpy().copy()


# ==================================================================== a04: attention
def masked_softmax(s, mask, mistakes=None):
    """Row-wise softmax over the allowed entries (mask True = allowed, broadcastable to s;
    None allows everything); a row with no allowed entry gives zeros and passes no gradient.
    Masked scores receive no gradient. mistakes: "no_mask", "mask_after_softmax" (softmax
    of every score, then the masked weights set to 0 without renormalising),
    "no_softmax_jacobian" (ds = dw), "no_softmax_sum_term" (ds = w * dw), "grad_to_masked"
    (masked scores receive gradient too)."""
    if mask is None or has(mistakes, "no_mask"):
        mask = torch.ones_like(s, dtype=torch.bool)
    mask = torch.as_tensor(mask).expand_as(s)
    allowed = mask.any(dim=-1, keepdim=True)                  # (..., T_q, 1)
    if has(mistakes, "mask_after_softmax"):
        w = torch.softmax(s, dim=-1).masked_fill(~mask, 0.0)
    else:
        z = s.masked_fill(~mask, float("-inf")).masked_fill(~allowed, 0.0)
        w = torch.softmax(z, dim=-1) * allowed
    through = s if has(mistakes, "grad_to_masked") else s.masked_fill(~mask, 0.0)
    if has(mistakes, "no_softmax_jacobian"):
        return _fake_grad(w, through)
    if has(mistakes, "no_softmax_sum_term"):
        return _fake_grad(w, through, w.detach())
    return w


def additive_attention(q, k, v, W_q, W_k, w_v, key_mask, mistakes=None):
    """Bahdanau scores e_ij = w_v . tanh(W_q q_i + W_k k_j); padded keys get weight 0."""
    e = torch.tanh((q @ W_q.T)[:, :, None, :] + (k @ W_k.T)[:, None, :, :]) @ w_v  # (N, Tq, Tk)
    w = masked_softmax(e, key_mask[:, None, :].expand_as(e), mistakes)
    return w @ v, w


def sdpa(q, k, v, mask, mistakes=None):
    """softmax(q k^T / sqrt(d_k)) v with masked scores at -inf. q (N, Tq, d_k).
    Extra mistakes: "no_scale" (not divided by sqrt(d_k)), "no_scale_backward" (the
    1/sqrt(d_k) factor left out of the backward pass only). Returns (out, weights)."""
    c = 1.0 / math.sqrt(q.shape[-1])
    raw = q @ k.transpose(-2, -1)                             # (N, Tq, Tk)
    s = raw if has(mistakes, "no_scale") else raw * c
    if has(mistakes, "no_scale_backward"):
        s = _fake_grad(s, raw)
    w = masked_softmax(s, mask, mistakes)
    return w @ v, w


def decoder_step(m, y_prev, s_prev, enc, src_mask, mistakes=None):
    """Bahdanau decoder step with the parameters of the student's module `m`."""
    e = m.w_v(torch.tanh(m.W_q(s_prev)[:, None, :] + m.W_k(enc)))[..., 0]  # (N, S)
    w = masked_softmax(e, src_mask, mistakes)                            # (N, S)
    c = (w[:, :, None] * enc).sum(1)                                      # (N, enc_dim)
    s = m.cell(torch.cat([m.embed(y_prev), c], dim=-1), s_prev)           # (N, H)
    return m.out(torch.cat([s, c], dim=-1)), s, w                         # (N, V) logits


# ==================================================================== a05: the Transformer's gradients
LN_EPS = 1e-5


def layer_norm(x, gamma, beta, eps=LN_EPS, mistakes=None):
    """Layer norm over the last axis (torch.nn.functional.layer_norm when no mistake).
    mistakes: forward "unbiased_var" (divided by d - 1), "eps_on_std" (eps added to the
    standard deviation); backward "ln_stats_constant" (mean and variance treated as
    constants), "ln_no_var_path", "ln_no_mean_path"."""
    if not mistakes:
        return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)
    mu = x.mean(-1, keepdim=True)
    if has(mistakes, "unbiased_var"):
        std = torch.sqrt(x.var(-1, keepdim=True, unbiased=True) + eps)
    elif has(mistakes, "eps_on_std"):
        std = x.std(-1, keepdim=True, unbiased=False) + eps
    else:
        std = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
    if has(mistakes, "ln_stats_constant", "ln_no_mean_path"):
        mu = mu.detach()
    if has(mistakes, "ln_stats_constant", "ln_no_var_path"):
        std = std.detach()
    return (x - mu) / std * gamma + beta


def mha(x_q, x_kv, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask=None,
        mistakes=None):
    """Multi-head attention, batch-first: x_q (N, T_q, d), x_kv (N, T_kv, d) -> (N, T_q, d);
    mask None or (T_q, T_kv) bool, True = allowed. Extra mistakes: "no_scale_backward",
    "key_path_only" / "value_path_only" (x_kv gets the gradient of one path only),
    "split_merge_no_transpose" (heads split and merged by a plain reshape)."""
    N, T_q, d = x_q.shape
    T_kv, d_head = x_kv.shape[1], d // n_heads
    x_k = x_kv.detach() if has(mistakes, "value_path_only") else x_kv
    x_v = x_kv.detach() if has(mistakes, "key_path_only") else x_kv
    plain = has(mistakes, "split_merge_no_transpose")

    def split(x, T):                                          # (N, T, d) -> (N, heads, T, d_head)
        return x.reshape(N, n_heads, T, d_head) if plain else \
            x.reshape(N, T, n_heads, d_head).transpose(1, 2)

    q = split(x_q @ W_q.T + b_q, T_q)
    k = split(x_k @ W_k.T + b_k, T_kv)
    v = split(x_v @ W_v.T + b_v, T_kv)
    raw = q @ k.transpose(-2, -1)                             # (N, heads, T_q, T_kv)
    s = raw / math.sqrt(d_head)
    if has(mistakes, "no_scale_backward"):
        s = _fake_grad(s, raw)
    w = masked_softmax(s, mask, mistakes)
    o = w @ v
    o = o.reshape(N, T_q, d) if plain else o.transpose(1, 2).reshape(N, T_q, d)
    return o @ W_o.T + b_o


MHA_PARAMS = ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o")


def block(x, n_heads, mask=None, mistakes=None, **P):
    """Pre-LN Transformer block: x + MHA(LN1(x)), then + W_2 relu(W_1 LN2(.) + b_1) + b_2.
    Extra mistakes: "post_ln" (LN after each residual addition), "no_mask" (the mask is not
    passed to the attention), "no_residual_gradient",
    "query_path_only" (LN1's output gets the gradient of the queries only)."""
    attn = {k: P[k] for k in MHA_PARAMS}
    mask = None if has(mistakes, "no_mask") else mask
    sub = {m for m in ("no_softmax_sum_term",) if has(mistakes, m)} or None
    if has(mistakes, "post_ln"):
        y = layer_norm(x + mha(x, x, **attn, n_heads=n_heads, mask=mask), P["ln1_g"], P["ln1_b"])
        y = y + torch.relu(y @ P["W_1"].T + P["b_1"]) @ P["W_2"].T + P["b_2"]
        return layer_norm(y, P["ln2_g"], P["ln2_b"])
    h = layer_norm(x, P["ln1_g"], P["ln1_b"])
    x_res = x.detach() if has(mistakes, "no_residual_gradient") else x
    h_kv = h.detach() if has(mistakes, "query_path_only") else h
    x = x_res + mha(h, h_kv, **attn, n_heads=n_heads, mask=mask, mistakes=sub)
    h2 = layer_norm(x, P["ln2_g"], P["ln2_b"])
    return x + torch.relu(h2 @ P["W_1"].T + P["b_1"]) @ P["W_2"].T + P["b_2"]
