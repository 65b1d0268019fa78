"""Checks for assignment a02 (truncated BPTT, clipping, gradient norm against lag, and
the Jordan network).

Same conventions as a01: batch-first, weights stored (out, in), float64; a fixed seed
gives the visible case, seed=None draws hidden cases at grading time.
"""
from __future__ import annotations

import numpy as np
import torch

from . import reference as ref
from .checks import CheckFailure, check_close
from .gradcheck import torch_vjp
from .harness import call, case_seeds, distinct_sizes, unpack, with_seed

JORDAN_GRADS = ("dx", "dy0", "dW_xh", "dW_yh", "db_h", "dW_hy", "db_y")
_JORDAN_INPUT = {"dx": "x", "dy0": "y0", "dW_xh": "W_xh", "dW_yh": "W_yh", "db_h": "b_h",
                 "dW_hy": "W_hy", "db_y": "b_y"}
_JORDAN_AXES = {"x": ("N", "T", "D"), "y0": ("N", "C"), "W_xh": ("H", "D"),
                "W_yh": ("H", "C"), "b_h": ("H",), "W_hy": ("C", "H"), "b_y": ("C",)}
LM_PARAMS = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")
CASES_VISIBLE = ("regular",)
CASES_HIDDEN = ("regular", "regular", "single", "saturated")


def _ok(what, n):
    print(f"{what}: OK ({n} case{'s' if n > 1 else ''})")


# ---------------------------------------------------------------- Jordan network
def _jordan_params(rng, kind):
    if kind == "single":
        N, T = 1, 1
        D, H, C = distinct_sizes(rng, (2, 5), (3, 7), (2, 5))
    else:
        N, T, D, H, C = distinct_sizes(rng, (2, 5), (2, 8), (2, 8), (3, 9), (2, 9))
    scale = 3.0 if kind == "saturated" else 0.7
    p = {"x": rng.standard_normal((N, T, D)), "y0": 0.5 * rng.standard_normal((N, C)),
         "W_xh": scale * rng.standard_normal((H, D)) / np.sqrt(D),
         "W_yh": scale * rng.standard_normal((H, C)) / np.sqrt(C),
         "b_h": 0.1 * rng.standard_normal(H),
         "W_hy": rng.standard_normal((C, H)) / np.sqrt(H),
         "b_y": 0.1 * rng.standard_normal(C)}
    return p, f"{kind} case N={N}, T={T}, D={D}, H={H}, C={C}"


def _student_jordan(fn, p):
    out = call("jordan_forward", fn, *p.values(), arg_names=tuple(p))
    return unpack("jordan_forward", out, 3)


def check_jordan_forward(jordan_forward, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        p, label = _jordan_params(rng, kind)
        _, (h_ref, y_ref) = torch_vjp(ref.jordan_forward, p, (None, None), wrt=[])
        try:
            h, y, _ = _student_jordan(jordan_forward, p)
            check_close("h", h, h_ref, axes=("N", "T", "H"))
            check_close("y", y, y_ref, axes=("N", "T", "C"))
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok("jordan_forward", len(cases))


def check_jordan_backward(jordan_forward, jordan_backward, grad, seed=None, case=None):
    """Check one gradient (one of JORDAN_GRADS) of jordan_backward."""
    if grad not in JORDAN_GRADS:
        raise ValueError(f"grad must be one of {JORDAN_GRADS}")
    name = _JORDAN_INPUT[grad]
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        p, label = _jordan_params(rng, kind)
        N, T, _ = p["x"].shape
        C = p["W_hy"].shape[0]
        dy = rng.standard_normal((N, T, C))
        grads, (h_ref, y_ref) = torch_vjp(ref.jordan_forward, p, (None, dy))
        known = {}
        for cause, mistake in (("the tanh derivative (1 - h**2) is left out",
                                "no_tanh_derivative"),
                               ("the gradient reaching y_t from step t+1 (through W_yh) is "
                                "not carried back", "no_carry")):
            g, _ = torch_vjp(lambda **k: ref.jordan_forward(**k, mistake=mistake), p,
                             (None, dy))
            known[cause] = g[name]
        try:
            h, y, cache = _student_jordan(jordan_forward, p)
            check_close("y (from jordan_forward, needed first)", y, y_ref)
            out = call("jordan_backward", jordan_backward, dy, cache, arg_names=("dy", "cache"))
            got = unpack("jordan_backward", out, 7)[JORDAN_GRADS.index(grad)]
            check_close(grad, got, grads[name], axes=_JORDAN_AXES[name], known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"jordan_backward {grad}", len(cases))


# ---------------------------------------------------------------- truncated BPTT
def lm_loss_tbptt(ids, h0, params, k1, k2, mistake=None):
    """Reference: a one-hot character RNN LM trained with truncated BPTT(k1, k2).

    ids (N, T+1) ints: inputs ids[:, :-1], targets ids[:, 1:]. The steps are processed in
    blocks of k1 (the last may be shorter). At the end e of each block, the losses of the
    block's steps are backpropagated through the last k2 steps only: the forward pass is run
    again from the state h_{e-k2} (computed earlier, DETACHED) up to h_e, and the block's
    losses are summed (each step's loss is counted once). k1 = k2 = k is the chunked scheme
    of the book; k1 = 1 is Williams and Peng's band of width k2.
    Loss = sum over steps of cross-entropy / N. Returns (the sum of the blocks' loss tensors
    -- its backward gives the accumulated gradients --, final hidden state).
    mistake: "no_detach" (full BPTT), "reset" (each block restarts from h0), "chunks" (k2
    ignored: every block is backpropagated through itself only).
    """
    W_xh, W_hh, b_h, W_hy, b_y = (params[k_] for k_ in LM_PARAMS)
    C = W_xh.shape[1]
    N, T = ids.shape[0], ids.shape[1] - 1
    x = torch.nn.functional.one_hot(ids[:, :-1], C).to(W_xh.dtype)  # (N, T, C)
    y = ids[:, 1:]                                                  # (N, T)
    k2 = k1 if mistake == "chunks" else k2
    states, total, h = [h0], 0.0, h0                # states[t] = h_t, detached
    for block_start in range(0, T, k1):
        block_end = min(block_start + k1, T)
        start = max(0, block_end - k2)
        if mistake == "no_detach":
            start, h = 0, h0
        else:
            h = h0 if mistake == "reset" else states[start].detach()
        for t in range(start, block_end):
            h = torch.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)    # (N, H)
            if t + 1 == len(states):
                states.append(h.detach())
            if t >= block_start:
                o = h @ W_hy.T + b_y                                # (N, C)
                total = total + torch.nn.functional.cross_entropy(o, y[:, t], reduction="sum") / N
    return total, h


def _lm_case(rng, kind):
    if kind == "single":
        N, T, k1, k2 = 1, 1, 1, 1
        C, H = distinct_sizes(rng, (4, 9), (3, 8))
    else:
        N, T, C, H = distinct_sizes(rng, (2, 5), (6, 13), (4, 9), (3, 8))
        k1 = int(rng.integers(2, T // 2))    # several blocks
        k2 = int(rng.integers(k1 + 1, T))    # reaches further back than its block
    scale = 3.0 if kind == "saturated" else 0.8
    params = {"W_xh": scale * rng.standard_normal((H, C)),
              "W_hh": scale * rng.standard_normal((H, H)) / np.sqrt(H),
              "b_h": 0.1 * rng.standard_normal(H),
              "W_hy": rng.standard_normal((C, H)) / np.sqrt(H),
              "b_y": 0.1 * rng.standard_normal(C)}
    ids = rng.integers(0, C, size=(N, T + 1))
    h0 = 0.5 * rng.standard_normal((N, H))
    return ids, h0, params, (k1, k2), f"{kind} case N={N}, T={T}, k1={k1}, k2={k2}, C={C}, H={H}"


def _lm_reference(ids, h0, params, ks, mistake=None):
    tp = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    loss, h = lm_loss_tbptt(torch.tensor(ids), torch.tensor(h0), tp, *ks, mistake)
    loss.backward()
    return float(loss), {n: tp[n].grad.numpy().copy() for n in LM_PARAMS}, \
        h.detach().numpy().copy()


def check_tbptt(tbptt_gradients, part, seed=None, case=None):
    """part: "loss", "h_last", or a parameter name "W_hh", "W_xh", "b_h", "W_hy", "b_y"."""
    if part not in ("loss", "h_last") + LM_PARAMS:
        raise ValueError("unknown part")
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        ids, h0, params, ks, label = _lm_case(rng, kind)
        loss_ref, grads_ref, h_ref = _lm_reference(ids, h0, params, ks)
        full = _lm_reference(ids, h0, params, ks, "no_detach")
        reset = _lm_reference(ids, h0, params, ks, "reset")
        chunks = _lm_reference(ids, h0, params, ks, "chunks")
        T = ids.shape[1] - 1
        try:
            out = call("tbptt_gradients", tbptt_gradients, ids, h0, params, *ks,
                       arg_names=("ids", "h0", "params", "k1", "k2"))
            loss, grads, h_last = unpack("tbptt_gradients", out, 3)
            if part == "loss":
                check_close("loss", loss, np.asarray(loss_ref),
                            known={"the loss is averaged over time steps":
                                   np.asarray(loss_ref / T),
                                   "the hidden state is reset to h0 at every block":
                                   np.asarray(reset[0])})
            elif part == "h_last":
                check_close("h_last", h_last, h_ref, axes=("N", "H"))
            else:
                if not isinstance(grads, dict) or part not in grads:
                    raise CheckFailure(f"grads must be a dict with the key '{part}'.")
                check_close(f"grads['{part}']", grads[part], grads_ref[part],
                            known={"the state is never detached (that is full BPTT, not "
                                   "truncated)": full[1][part],
                                   "the hidden state is reset to h0 at every block "
                                   "(independent blocks, not a carried state)": reset[1][part],
                                   "each block's losses are backpropagated through the block "
                                   "only (k2 is ignored: that is the chunked scheme k1 = k2)":
                                   chunks[1][part]})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"tbptt_gradients {part}", len(cases))


# ---------------------------------------------------------------- clipping by value
def check_clip_by_value(clip_by_value, seed=None, case=None):
    """clip_by_value(grads: dict, c) -> dict of arrays clipped to [-c, c]."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        grads = {"W": rng.standard_normal((int(rng.integers(1, 5)), 3)) * 3,
                 "b": rng.standard_normal(int(rng.integers(1, 6))) * 3}
        c = float(rng.uniform(0.5, 2.0))
        try:
            out = call("clip_by_value", clip_by_value, grads, c, arg_names=("grads", "c"))
            if not isinstance(out, dict) or set(out) != set(grads):
                raise CheckFailure("clip_by_value must return a dict with the input's keys.")
            total = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
            for k_, g in grads.items():
                check_close(f"clipped['{k_}']", out[k_], np.clip(g, -c, c),
                            known={"the global norm is clipped instead (that is clip by "
                                   "norm)": g * min(1.0, c / total)})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, f"{kind} case c={c:.3g}", kind)) from None
    _ok("clip_by_value", len(cases))


# ---------------------------------------------------------------- gradient norm against lag
def _lag_reference(x, h0, W_xh, W_hh, b_h, u):
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


def check_grad_norm_by_lag(grad_norm_by_lag, seed=None, case=None):
    """grad_norm_by_lag(x, h0, W_xh, W_hh, b_h, u) -> (T+1,) norms, index = lag."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        if kind == "single":
            N, T, (D, H) = 1, 1, distinct_sizes(rng, (2, 5), (3, 8))
        else:
            N, T, D, H = distinct_sizes(rng, (2, 5), (3, 15), (2, 5), (3, 8))
        scale = 3.0 if kind == "saturated" else 1.0
        args = dict(x=rng.standard_normal((N, T, D)), h0=0.5 * rng.standard_normal((N, H)),
                    W_xh=scale * rng.standard_normal((H, D)) / np.sqrt(D),
                    W_hh=scale * rng.standard_normal((H, H)) / np.sqrt(H),
                    b_h=0.1 * rng.standard_normal(H), u=rng.standard_normal((N, H)))
        expected = _lag_reference(**args)
        label = f"{kind} case N={N}, T={T}, D={D}, H={H}"
        try:
            got = call("grad_norm_by_lag", grad_norm_by_lag, *args.values(),
                       arg_names=tuple(args))
            check_close("norms", got, expected, axes=("lag",),
                        known={"the array runs from lag T down to lag 0 (reversed)":
                               expected[::-1]})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok("grad_norm_by_lag", len(cases))
