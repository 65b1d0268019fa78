"""Checks for assignment a03 (LSTM and GRU in numpy, forward and backward).

Every check takes the student's functions and a `seed`: an integer gives one fixed case (the
visible tests use seed=0; a failure prints the seed that replays exactly the failing case);
`seed=None` (the hidden tests) draws new shapes and values at grading time, including the
edge cases T = 1, N = 1 and saturated gates. Gradients are compared
one at a time against torch autograd (float64) on the torch forwards below, and the
sequence forwards are also compared with `torch.nn.LSTM` / `torch.nn.GRU`
(batch_first=True, float64) with the student's weights mapped in.

Student conventions (see the assignment): batch-first arrays, weights stored (out, in)
exactly like torch.nn, gates stacked in torch's order.

LSTM, W_x (4H, D), W_h (4H, H), b (4H,), rows = gates i, f, g, o; c_0 = 0:
    a = x_t @ W_x.T + h_{t-1} @ W_h.T + b
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)
GRU, W_x (3H, D), W_h (3H, H), b_x (3H,), b_h (3H,), rows = gates r, z, n:
    u = x_t @ W_x.T + b_x;   v = h_{t-1} @ W_h.T + b_h
    r = sigmoid(u_r + v_r);  z = sigmoid(u_z + v_z);  n = tanh(u_n + r * v_n)
    h_t = (1 - z) * n + z * h_{t-1}
Peephole LSTM (Gers & Schmidhuber 2000), p_i, p_f, p_o (H,):
    i = sigmoid(a_i + p_i * c_{t-1}), f = sigmoid(a_f + p_f * c_{t-1}), g = tanh(a_g)
    c_t = f * c_{t-1} + i * g;  o = sigmoid(a_o + p_o * c_t);  h_t = o * tanh(c_t)

The torch forwards take `mistake=`: variants that reproduce well-known wrong forward or
backward passes, used only to name the cause of a wrong answer (they are computed lazily,
when a check has already failed).
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from functools import partial

import numpy as np
import torch

from .checks import CheckFailure, check_close, rel_error
from .gradcheck import torch_vjp
from .harness import call, distinct_sizes, unpack, with_seed
from .reference import _TanhNoDerivative

CASES_HIDDEN = ("regular", "regular", "single", "saturated")  # seed % 4 picks the kind

LSTM_STEP_GRADS = ("dx", "dh_prev", "dc_prev", "dW_x", "dW_h", "db")
LSTM_SEQ_GRADS = ("dx", "dh0", "dW_x", "dW_h", "db")
GRU_STEP_GRADS = ("dx", "dh_prev", "dW_x", "dW_h", "db_x", "db_h")
GRU_SEQ_GRADS = ("dx", "dh0", "dW_x", "dW_h", "db_x", "db_h")


# ==================================================================== torch forwards
class _SigmoidNoDerivative(torch.autograd.Function):
    """sigmoid whose backward forgets the s * (1 - s) factor."""

    @staticmethod
    def forward(ctx, a):
        return torch.sigmoid(a)

    @staticmethod
    def backward(ctx, grad):
        return grad



class _GradientBlocksReordered(torch.autograd.Function):
    """Identity whose backward re-stacks the gradient's column blocks (N, kH) in `order`:
    a backward pass that stacks the gate gradients in another order than the forward
    reads the rows of the weights."""

    @staticmethod
    def forward(ctx, a, order):
        ctx.order = order
        return a.clone()

    @staticmethod
    def backward(ctx, grad):
        H = grad.shape[1] // len(ctx.order)
        return torch.cat([grad[:, k * H:(k + 1) * H] for k in ctx.order], dim=1), None


def _sigmoid(a, gate, mistake):
    if mistake in ("no_sigmoid_derivative", f"no_sigmoid_derivative_{gate}"):
        return _SigmoidNoDerivative.apply(a)
    return torch.sigmoid(a)


def _tanh(a, forget_derivative):
    return _TanhNoDerivative.apply(a) if forget_derivative else torch.tanh(a)


def _product_ignoring(v, u):
    """v * u in value; v gets its true gradient, u gets it as if v were the constant 1."""
    return v * u.detach() + (u - u.detach())


def lstm_step(x, h_prev, c_prev, W_x, W_h, b, mistake=None, p_i=None, p_f=None, p_o=None):
    """One LSTM step, torch gate order i, f, g, o. Returns (h_next, c_next), each (N, H).

    With p_i, p_f, p_o (H,) it is the peephole LSTM of Gers & Schmidhuber (2000).
    mistakes: "gate_order_ifog" / "gate_order_figo" (the rows read in another order),
    "no_sigmoid_derivative[_i|_f|_o]", "no_tanh_c_derivative", "no_tanh_g_derivative",
    "no_f_in_dc" (dc_prev = dc instead of f * dc), "stacked_ifog" (the gradient of the
    pre-activation stacked as i, f, o, g), and, for peepholes only,
    "no_peepholes", "o_sees_c_prev", "peepholes_i_f_swapped".
    """
    H = h_prev.shape[1]
    a = x @ W_x.T + h_prev @ W_h.T + b  # (N, 4H)
    if mistake == "stacked_ifog":
        a = _GradientBlocksReordered.apply(a, (0, 1, 3, 2))
    a_i, a_f, a_g, a_o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    if mistake == "gate_order_ifog":
        a_g, a_o = a_o, a_g
    elif mistake == "gate_order_figo":
        a_i, a_f = a_f, a_i
    peep = p_i is not None and mistake != "no_peepholes"
    if peep:
        q_i, q_f = (p_f, p_i) if mistake == "peepholes_i_f_swapped" else (p_i, p_f)
        a_i = a_i + q_i * c_prev
        a_f = a_f + q_f * c_prev
    i = _sigmoid(a_i, "i", mistake)
    f = _sigmoid(a_f, "f", mistake)
    g = _tanh(a_g, mistake == "no_tanh_g_derivative")
    fc = _product_ignoring(f, c_prev) if mistake == "no_f_in_dc" else f * c_prev
    c_next = fc + i * g  # (N, H)
    if peep:
        a_o = a_o + p_o * (c_prev if mistake == "o_sees_c_prev" else c_next)
    o = _sigmoid(a_o, "o", mistake)
    h_next = o * _tanh(c_next, mistake == "no_tanh_c_derivative")
    return h_next, c_next


def lstm_forward(x, h0, W_x, W_h, b, mistake=None, p_i=None, p_f=None, p_o=None,
                 return_c=False):
    """LSTM over x (N, T, D) from h0 (N, H) and c0 = 0. Returns h (N, T, H) [and c].

    Extra mistakes: "no_carry" (the gradient reaching h_t from step t+1 is dropped),
    "no_cell_carry" (the gradient reaching c_t from step t+1 is dropped); the forward
    values are unchanged by both.
    """
    h, c = h0, torch.zeros_like(h0)
    hs, cs = [], []
    for t in range(x.shape[1]):
        h_in = h.detach() if (mistake == "no_carry" and t > 0) else h
        c_in = c.detach() if (mistake == "no_cell_carry" and t > 0) else c
        h, c = lstm_step(x[:, t], h_in, c_in, W_x, W_h, b, mistake, p_i, p_f, p_o)
        hs.append(h)
        cs.append(c)
    h_all, c_all = torch.stack(hs, dim=1), torch.stack(cs, dim=1)  # (N, T, H)
    return (h_all, c_all) if return_c else h_all


def peephole_lstm_forward(x, h0, W_x, W_h, b, p_i, p_f, p_o, mistake=None):
    """Peephole LSTM over a sequence (c0 = 0). Returns (h, c), each (N, T, H)."""
    return lstm_forward(x, h0, W_x, W_h, b, mistake, p_i, p_f, p_o, return_c=True)


def gru_step(x, h_prev, W_x, W_h, b_x, b_h, mistake=None):
    """One GRU step, torch gate order r, z, n and torch's reset placement. (N, H).

    mistakes: "gate_order_zrn", "cho_reset" (n = tanh(u_n + W_hn (r * h_prev) + b_hn)),
    "bhn_outside" (n = tanh(u_n + r * (W_hn h_prev) + b_hn)), "z_flipped"
    (h = z * n + (1 - z) * h_prev), "no_sigmoid_derivative[_r|_z]", "no_tanh_derivative",
    "no_direct_path" (the term z * h_prev gives no gradient to h_prev),
    "no_r_in_dvn" (the gradient of W_hn h_prev + b_hn is not multiplied by r),
    "stacked_zrn" (the gradients of the pre-activations stacked as z, r, n).
    """
    H = h_prev.shape[1]
    u = x @ W_x.T + b_x       # (N, 3H)
    v = h_prev @ W_h.T + b_h  # (N, 3H)
    if mistake == "stacked_zrn":
        u = _GradientBlocksReordered.apply(u, (1, 0, 2))
        v = _GradientBlocksReordered.apply(v, (1, 0, 2))
    s_r, s_z = slice(0, H), slice(H, 2 * H)
    if mistake == "gate_order_zrn":
        s_r, s_z = s_z, s_r
    r = _sigmoid(u[:, s_r] + v[:, s_r], "r", mistake)
    z = _sigmoid(u[:, s_z] + v[:, s_z], "z", mistake)
    u_n, v_n = u[:, 2 * H:], v[:, 2 * H:]
    if mistake == "cho_reset":
        inner = (r * h_prev) @ W_h[2 * H:].T + b_h[2 * H:]
    elif mistake == "bhn_outside":
        inner = r * (h_prev @ W_h[2 * H:].T) + b_h[2 * H:]
    elif mistake == "no_r_in_dvn":
        inner = _product_ignoring(r, v_n)
    else:
        inner = r * v_n
    n = _tanh(u_n + inner, mistake == "no_tanh_derivative")
    h_direct = h_prev.detach() if mistake == "no_direct_path" else h_prev
    if mistake == "z_flipped":
        return z * n + (1 - z) * h_direct
    return (1 - z) * n + z * h_direct


def gru_forward(x, h0, W_x, W_h, b_x, b_h, mistake=None):
    """GRU over x (N, T, D) from h0 (N, H). Returns h (N, T, H). Extra mistake: "no_carry"."""
    h, hs = h0, []
    for t in range(x.shape[1]):
        h_in = h.detach() if (mistake == "no_carry" and t > 0) else h
        h = gru_step(x[:, t], h_in, W_x, W_h, b_x, b_h, mistake)
        hs.append(h)
    return torch.stack(hs, dim=1)  # (N, T, H)


def torch_nn_lstm(x, h0, W_x, W_h, b):
    """h (N, T, H) from torch.nn.LSTM(batch_first=True, float64) with these weights mapped
    in: weight_ih_l0 = W_x, weight_hh_l0 = W_h, bias_ih_l0 = bias_hh_l0 = b / 2, c0 = 0."""
    N, _, D = x.shape
    H = h0.shape[1]
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", W_x), ("weight_hh_l0", W_h),
                            ("bias_ih_l0", b / 2), ("bias_hh_l0", b / 2)):
            getattr(lstm, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        h0_t = torch.from_numpy(h0)[None]  # (1, N, H)
        out, _ = lstm(torch.from_numpy(x), (h0_t, torch.zeros_like(h0_t)))
    return out.numpy().copy()


def torch_nn_gru(x, h0, W_x, W_h, b_x, b_h):
    """h (N, T, H) from torch.nn.GRU(batch_first=True, float64) with weight_ih_l0 = W_x,
    weight_hh_l0 = W_h, bias_ih_l0 = b_x, bias_hh_l0 = b_h."""
    _, _, D = x.shape
    H = h0.shape[1]
    gru = torch.nn.GRU(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", W_x), ("weight_hh_l0", W_h),
                            ("bias_ih_l0", b_x), ("bias_hh_l0", b_h)):
            getattr(gru, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        out, _ = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    return out.numpy().copy()


# ==================================================================== mistakes, named
LSTM_FORWARD_MISTAKES = {
    "the gates are in the order i, f, o, g instead of torch's i, f, g, o": "gate_order_ifog",
    "the gates are in the order f, i, g, o instead of torch's i, f, g, o": "gate_order_figo",
}
LSTM_BACKWARD_MISTAKES = {
    "the sigmoid derivative s*(1-s) is left out (all three sigmoid gates)":
        "no_sigmoid_derivative",
    "the sigmoid derivative s*(1-s) of the input gate i is left out": "no_sigmoid_derivative_i",
    "the sigmoid derivative s*(1-s) of the forget gate f is left out": "no_sigmoid_derivative_f",
    "the sigmoid derivative s*(1-s) of the output gate o is left out": "no_sigmoid_derivative_o",
    "the tanh derivative (1 - tanh(c_t)**2) is left out in the output path h_t = o*tanh(c_t)":
        "no_tanh_c_derivative",
    "the tanh derivative (1 - g**2) of the candidate g is left out": "no_tanh_g_derivative",
    "the cell-state gradient is not multiplied by the forget gate (dc_prev = f * dc)":
        "no_f_in_dc",
    "the gate gradients are stacked in the order i, f, o, g while the forward reads the "
    "rows as i, f, g, o": "stacked_ifog",
}
LSTM_SEQ_MISTAKES = {
    "the cell-state gradient dc is not carried back across time (the term f_t * dc_t "
    "that reaches c_{t-1} from step t is dropped)": "no_cell_carry",
    "the gradient from step t+1 is not carried back to h_t (dh[:, t] must be added to the "
    "dh_prev of step t+1)": "no_carry",
}
PEEPHOLE_MISTAKES = {
    "the peepholes are left out (a plain LSTM)": "no_peepholes",
    "the output gate looks at c_{t-1} instead of the new c_t": "o_sees_c_prev",
    "p_i and p_f are swapped": "peepholes_i_f_swapped",
    **LSTM_FORWARD_MISTAKES,
}
GRU_FORWARD_MISTAKES = {
    "the reset gate is applied as in Cho et al. (2014), W_hn (r * h_{t-1}) + b_hn, instead "
    "of torch's r * (W_hn h_{t-1} + b_hn)": "cho_reset",
    "b_hn is added outside the reset gate, r * (W_hn h_{t-1}) + b_hn, instead of "
    "r * (W_hn h_{t-1} + b_hn)": "bhn_outside",
    "the role of z is flipped: h_t = z * n + (1 - z) * h_{t-1} instead of torch's "
    "(1 - z) * n + z * h_{t-1}": "z_flipped",
    "the gates are in the order z, r, n instead of torch's r, z, n": "gate_order_zrn",
}
GRU_BACKWARD_MISTAKES = {
    "the sigmoid derivative s*(1-s) is left out (both gates r and z)": "no_sigmoid_derivative",
    "the sigmoid derivative s*(1-s) of the reset gate r is left out": "no_sigmoid_derivative_r",
    "the sigmoid derivative s*(1-s) of the update gate z is left out": "no_sigmoid_derivative_z",
    "the tanh derivative (1 - n**2) of the candidate n is left out": "no_tanh_derivative",
    "the direct path h_t = ... + z * h_{t-1} is left out of dh_prev": "no_direct_path",
    "the gradient of W_hn h_{t-1} + b_hn is not multiplied by r (it sits inside r * (...))":
        "no_r_in_dvn",
    "the gate gradients of r and z are stacked in the wrong order (z, r, n)": "stacked_zrn",
}
GRU_SEQ_MISTAKES = {
    "the gradient from step t+1 is not carried back to h_t (dh[:, t] must be added to the "
    "dh_prev of step t+1)": "no_carry",
}


class _Lazy(Mapping):
    """cause -> array, each computed only if the diagnosis asks for it (after a failure)."""

    def __init__(self, thunks):
        self._thunks, self._values = dict(thunks), {}

    def __getitem__(self, key):
        if key not in self._values:
            self._values[key] = self._thunks[key]()
        return self._values[key]

    def __iter__(self):
        return iter(self._thunks)

    def __len__(self):
        return len(self._thunks)


def _memo(fn):
    cache = {}

    def get(key):
        if key not in cache:
            cache[key] = fn(key)
        return cache[key]
    return get


# ==================================================================== cases
def _dims(rng, kind):
    if kind == "single":
        N, T = 1, 1
        D, H = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    else:
        N, T, D, H = distinct_sizes(rng, (2, 5), (2, 7), (2, 6), (2, 6))
    return N, T, D, H


def _params(rng, kind, gates, peephole=False):
    """Inputs for a gated cell with `gates` stacked blocks (4 for the LSTM, 3 for the GRU),
    and a cell state c_prev for the LSTM step. "saturated": the largest pre-activation of a
    case is typically 5 to 13 (sigmoid' below 1e-2), rarely above 15, so that a correct
    float64 answer still agrees with torch to far better than the tolerance."""
    N, T, D, H = dims = _dims(rng, kind)
    scale = 2.0 if kind == "saturated" else 0.8
    p = {
        "x": rng.standard_normal((N, T, D)),
        "h0": 0.5 * rng.standard_normal((N, H)),
        "W_x": scale * rng.standard_normal((gates * H, D)) / np.sqrt(D),
        "W_h": scale * rng.standard_normal((gates * H, H)) / np.sqrt(H),
    }
    bias_scale = 1.0 if kind == "saturated" else 0.3
    if gates == 4:
        p["b"] = bias_scale * rng.standard_normal(4 * H)
    else:
        p["b_x"] = bias_scale * rng.standard_normal(3 * H)
        p["b_h"] = bias_scale * rng.standard_normal(3 * H)
    if peephole:
        for k in ("p_i", "p_f", "p_o"):
            p[k] = scale * rng.standard_normal(H)
    c_prev = (2.0 if kind == "saturated" else 0.7) * rng.standard_normal((N, H))
    return p, c_prev, dims


def _run(what, seed, case):
    """For every case: `case(rng, kind)` draws the inputs and returns (dims, checks), where
    checks() calls the student's code and raises CheckFailure.

    seed=None (hidden tests): one case of each kind in CASES_HIDDEN, case k with the seed
    4 * base + k for a fresh random base. An integer seed (visible tests, or a replay): the
    single case with that seed, of kind CASES_HIDDEN[seed % 4], so seed=0 is a regular case
    and the seed printed with a failure reproduces exactly the case that failed.
    """
    n = len(CASES_HIDDEN)
    seeds = [seed] if seed is not None else \
        [n * secrets.randbits(28) + k for k in range(n)]
    for case_seed in seeds:
        kind = CASES_HIDDEN[case_seed % n]
        (N, T, D, H), checks = case(np.random.default_rng(case_seed), kind)
        try:
            checks()
        except CheckFailure as e:
            label = f"{kind} case N={N}, T={T}, D={D}, H={H}"
            raise CheckFailure(with_seed(str(e), case_seed, label)) from None
    print(f"{what}: OK ({len(seeds)} case{'s' if len(seeds) > 1 else ''})")


def _forward_values(forward, inp):
    """mistake -> the forward output of that mistake variant, computed on demand."""
    return _memo(lambda m: torch_vjp(partial(forward, mistake=m), inp, None, wrt=[])[1])


def _vjps(forward, inp, upstream, name):
    """mistake -> the gradient `name` of that mistake variant, computed on demand."""
    return _memo(lambda m: torch_vjp(partial(forward, mistake=m), inp, upstream)[0][name])


def _known(mistakes, values, pick=lambda v: v):
    return {cause: (lambda m=m: pick(values(m))) for cause, m in mistakes.items()}


_GATES = {4: "ifgo", 3: "rzn"}


def _check_grad(grad, got, expected, H, known, gates):
    """check_close for one gradient; for a stacked weight or bias gradient the message also
    says which gate and unit the worst row belongs to."""
    if grad in ("dx", "dh_prev", "dc_prev", "dh0"):
        axes = {2: ("N", "H") if grad != "dx" else ("N", "D"), 3: ("N", "T", "D")}[expected.ndim]
        check_close(grad, got, expected, axes=axes, known=_Lazy(known))
        return
    axes = {"dW_x": ("row", "D"), "dW_h": ("row", "H")}.get(grad, ("row",))
    try:
        check_close(grad, got, expected, axes=axes, known=_Lazy(known))
    except CheckFailure as e:
        if not str(e).startswith(f"{grad} is wrong at"):  # a type, shape or NaN message
            raise
        err = rel_error(got, expected)
        row = int(np.unravel_index(int(np.argmax(err)), err.shape)[0])
        gate = _GATES[gates][row // H]
        raise CheckFailure(f"{e} (Row {row} of {grad} belongs to gate {gate}, unit "
                           f"{row % H}.)") from None


# ==================================================================== LSTM
def _lstm_step_inputs(p, c_prev):
    return {"x": p["x"][:, 0], "h_prev": p["h0"], "c_prev": c_prev, "W_x": p["W_x"],
            "W_h": p["W_h"], "b": p["b"]}


def _lstm_seq_inputs(p):
    return {k: p[k] for k in ("x", "h0", "W_x", "W_h", "b")}


def _student(what, fn, inp, n):
    out = call(what, fn, *inp.values(), arg_names=tuple(inp))
    return unpack(what, out, n)


def check_lstm_step_forward(lstm_step_forward, seed=None):
    def case(rng, kind):
        p, c_prev, dims = _params(rng, kind, 4)
        inp = _lstm_step_inputs(p, c_prev)
        _, (h_ref, c_ref) = torch_vjp(lstm_step, inp, None, wrt=[])
        wrong = _forward_values(lstm_step, inp)

        def checks():
            h_next, c_next, _ = _student("lstm_step_forward", lstm_step_forward, inp, 3)
            check_close("c_next", c_next, c_ref, axes=("N", "H"),
                        known=_Lazy(_known(LSTM_FORWARD_MISTAKES, wrong, lambda v: v[1])))
            check_close("h_next", h_next, h_ref, axes=("N", "H"),
                        known=_Lazy(_known(LSTM_FORWARD_MISTAKES, wrong, lambda v: v[0])))
        return dims, checks
    _run("lstm_step_forward", seed, case)


def check_lstm_step_backward(lstm_step_forward, lstm_step_backward, grad, seed=None):
    """Check one gradient (one of LSTM_STEP_GRADS) of lstm_step_backward."""
    if grad not in LSTM_STEP_GRADS:
        raise ValueError(f"grad must be one of {LSTM_STEP_GRADS}")
    name = grad[1:]  # "dW_x" -> "W_x"

    def case(rng, kind):
        p, c_prev, dims = _params(rng, kind, 4)
        N, _, _, H = dims
        inp = _lstm_step_inputs(p, c_prev)
        up = (rng.standard_normal((N, H)), rng.standard_normal((N, H)))
        grads, (h_ref, c_ref) = torch_vjp(lstm_step, inp, up)
        wrong = _forward_values(lstm_step, inp)
        known = _known(LSTM_BACKWARD_MISTAKES, _vjps(lstm_step, inp, up, name))
        known["dc_next is not added to the cell-state gradient (dc = dc_next + "
              "dh_next * o * (1 - tanh(c_next)**2))"] = \
            lambda: torch_vjp(lstm_step, inp, (up[0], np.zeros_like(up[1])))[0][name]

        def checks():
            h_next, c_next, cache = _student("lstm_step_forward", lstm_step_forward, inp, 3)
            check_close("c_next (from lstm_step_forward, needed first)", c_next, c_ref,
                        known=_Lazy(_known(LSTM_FORWARD_MISTAKES, wrong, lambda v: v[1])))
            check_close("h_next (from lstm_step_forward, needed first)", h_next, h_ref,
                        known=_Lazy(_known(LSTM_FORWARD_MISTAKES, wrong, lambda v: v[0])))
            out = call("lstm_step_backward", lstm_step_backward, up[0], up[1], cache,
                       arg_names=("dh_next", "dc_next", "cache"))
            got = unpack("lstm_step_backward", out, 6)[LSTM_STEP_GRADS.index(grad)]
            _check_grad(grad, got, grads[name], H, known, 4)
        return dims, checks
    _run(f"lstm_step_backward {grad}", seed, case)


NN_LSTM = ("h differs from torch.nn.LSTM(batch_first=True, dtype=torch.float64) with your "
           "weights mapped in (weight_ih_l0 = W_x, weight_hh_l0 = W_h, bias_ih_l0 = "
           "bias_hh_l0 = b / 2, c0 = 0)")


def check_lstm_forward(lstm_forward, seed=None):
    """The student's h against the torch forward above AND against torch.nn.LSTM."""
    ref_forward = globals()["lstm_forward"]

    def case(rng, kind):
        p, _, dims = _params(rng, kind, 4)
        inp = _lstm_seq_inputs(p)
        _, h_ref = torch_vjp(ref_forward, inp, None, wrt=[])
        h_nn = torch_nn_lstm(**inp)
        known = _known(LSTM_FORWARD_MISTAKES, _forward_values(ref_forward, inp))

        def checks():
            h, _ = _student("lstm_forward", lstm_forward, inp, 2)
            try:
                check_close("h", h, h_nn, axes=("N", "T", "H"), known=_Lazy(known))
            except CheckFailure as e:
                raise CheckFailure(f"{NN_LSTM}: {e}") from None
            check_close("h", h, h_ref, axes=("N", "T", "H"), known=_Lazy(known))
        return dims, checks
    _run("lstm_forward (also against torch.nn.LSTM)", seed, case)


def check_lstm_backward(lstm_forward, lstm_backward, grad, seed=None):
    """Check one gradient (one of LSTM_SEQ_GRADS) of lstm_backward."""
    if grad not in LSTM_SEQ_GRADS:
        raise ValueError(f"grad must be one of {LSTM_SEQ_GRADS}")
    name = grad[1:]
    ref_forward = globals()["lstm_forward"]

    def case(rng, kind):
        p, _, dims = _params(rng, kind, 4)
        N, T, _, H = dims
        inp = _lstm_seq_inputs(p)
        dh = rng.standard_normal((N, T, H))
        grads, h_ref = torch_vjp(ref_forward, inp, dh)
        known = _known({**LSTM_SEQ_MISTAKES, **LSTM_BACKWARD_MISTAKES},
                       _vjps(ref_forward, inp, dh, name))
        fknown = _known(LSTM_FORWARD_MISTAKES, _forward_values(ref_forward, inp))

        def checks():
            h, cache = _student("lstm_forward", lstm_forward, inp, 2)
            check_close("h (from lstm_forward, needed first)", h, h_ref, axes=("N", "T", "H"),
                        known=_Lazy(fknown))
            out = call("lstm_backward", lstm_backward, dh, cache, arg_names=("dh", "cache"))
            got = unpack("lstm_backward", out, 5)[LSTM_SEQ_GRADS.index(grad)]
            _check_grad(grad, got, grads[name], H, known, 4)
        return dims, checks
    _run(f"lstm_backward {grad}", seed, case)


def check_peephole_lstm_forward(peephole_lstm_forward, seed=None):
    """The student's (h, c) of the peephole LSTM against the torch forward above."""
    ref_forward = globals()["peephole_lstm_forward"]

    def case(rng, kind):
        p, _, dims = _params(rng, kind, 4, peephole=True)
        inp = {k: p[k] for k in ("x", "h0", "W_x", "W_h", "b", "p_i", "p_f", "p_o")}
        _, (h_ref, c_ref) = torch_vjp(ref_forward, inp, None, wrt=[])
        wrong = _forward_values(ref_forward, inp)

        def checks():
            h, c = _student("peephole_lstm_forward", peephole_lstm_forward, inp, 2)
            check_close("c", c, c_ref, axes=("N", "T", "H"),
                        known=_Lazy(_known(PEEPHOLE_MISTAKES, wrong, lambda v: v[1])))
            check_close("h", h, h_ref, axes=("N", "T", "H"),
                        known=_Lazy(_known(PEEPHOLE_MISTAKES, wrong, lambda v: v[0])))
        return dims, checks
    _run("peephole_lstm_forward", seed, case)


# ==================================================================== GRU
def _gru_step_inputs(p):
    return {"x": p["x"][:, 0], "h_prev": p["h0"], "W_x": p["W_x"], "W_h": p["W_h"],
            "b_x": p["b_x"], "b_h": p["b_h"]}


def _gru_seq_inputs(p):
    return {k: p[k] for k in ("x", "h0", "W_x", "W_h", "b_x", "b_h")}


def check_gru_step_forward(gru_step_forward, seed=None):
    def case(rng, kind):
        p, _, dims = _params(rng, kind, 3)
        inp = _gru_step_inputs(p)
        _, h_ref = torch_vjp(gru_step, inp, None, wrt=[])
        known = _known(GRU_FORWARD_MISTAKES, _forward_values(gru_step, inp))

        def checks():
            h_next, _ = _student("gru_step_forward", gru_step_forward, inp, 2)
            check_close("h_next", h_next, h_ref, axes=("N", "H"), known=_Lazy(known))
        return dims, checks
    _run("gru_step_forward", seed, case)


def check_gru_step_backward(gru_step_forward, gru_step_backward, grad, seed=None):
    """Check one gradient (one of GRU_STEP_GRADS) of gru_step_backward."""
    if grad not in GRU_STEP_GRADS:
        raise ValueError(f"grad must be one of {GRU_STEP_GRADS}")
    name = grad[1:]

    def case(rng, kind):
        p, _, dims = _params(rng, kind, 3)
        N, _, _, H = dims
        inp = _gru_step_inputs(p)
        dh_next = rng.standard_normal((N, H))
        grads, h_ref = torch_vjp(gru_step, inp, dh_next)
        known = _known(GRU_BACKWARD_MISTAKES, _vjps(gru_step, inp, dh_next, name))
        fknown = _known(GRU_FORWARD_MISTAKES, _forward_values(gru_step, inp))

        def checks():
            h_next, cache = _student("gru_step_forward", gru_step_forward, inp, 2)
            check_close("h_next (from gru_step_forward, needed first)", h_next, h_ref,
                        known=_Lazy(fknown))
            out = call("gru_step_backward", gru_step_backward, dh_next, cache,
                       arg_names=("dh_next", "cache"))
            got = unpack("gru_step_backward", out, 6)[GRU_STEP_GRADS.index(grad)]
            _check_grad(grad, got, grads[name], H, known, 3)
        return dims, checks
    _run(f"gru_step_backward {grad}", seed, case)


NN_GRU = ("h differs from torch.nn.GRU(batch_first=True, dtype=torch.float64) with your "
          "weights mapped in (weight_ih_l0 = W_x, weight_hh_l0 = W_h, bias_ih_l0 = b_x, "
          "bias_hh_l0 = b_h)")


def check_gru_forward(gru_forward, seed=None):
    """The student's h against the torch forward above AND against torch.nn.GRU."""
    ref_forward = globals()["gru_forward"]

    def case(rng, kind):
        p, _, dims = _params(rng, kind, 3)
        inp = _gru_seq_inputs(p)
        _, h_ref = torch_vjp(ref_forward, inp, None, wrt=[])
        h_nn = torch_nn_gru(**inp)
        known = _known(GRU_FORWARD_MISTAKES, _forward_values(ref_forward, inp))

        def checks():
            h, _ = _student("gru_forward", gru_forward, inp, 2)
            try:
                check_close("h", h, h_nn, axes=("N", "T", "H"), known=_Lazy(known))
            except CheckFailure as e:
                raise CheckFailure(f"{NN_GRU}: {e}") from None
            check_close("h", h, h_ref, axes=("N", "T", "H"), known=_Lazy(known))
        return dims, checks
    _run("gru_forward (also against torch.nn.GRU)", seed, case)


def check_gru_backward(gru_forward, gru_backward, grad, seed=None):
    """Check one gradient (one of GRU_SEQ_GRADS) of gru_backward."""
    if grad not in GRU_SEQ_GRADS:
        raise ValueError(f"grad must be one of {GRU_SEQ_GRADS}")
    name = grad[1:]
    ref_forward = globals()["gru_forward"]

    def case(rng, kind):
        p, _, dims = _params(rng, kind, 3)
        N, T, _, H = dims
        inp = _gru_seq_inputs(p)
        dh = rng.standard_normal((N, T, H))
        grads, h_ref = torch_vjp(ref_forward, inp, dh)
        known = _known({**GRU_SEQ_MISTAKES, **GRU_BACKWARD_MISTAKES},
                       _vjps(ref_forward, inp, dh, name))
        fknown = _known(GRU_FORWARD_MISTAKES, _forward_values(ref_forward, inp))

        def checks():
            h, cache = _student("gru_forward", gru_forward, inp, 2)
            check_close("h (from gru_forward, needed first)", h, h_ref, axes=("N", "T", "H"),
                        known=_Lazy(fknown))
            out = call("gru_backward", gru_backward, dh, cache, arg_names=("dh", "cache"))
            got = unpack("gru_backward", out, 6)[GRU_SEQ_GRADS.index(grad)]
            _check_grad(grad, got, grads[name], H, known, 3)
        return dims, checks
    _run(f"gru_backward {grad}", seed, case)
