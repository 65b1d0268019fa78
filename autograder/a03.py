"""Checks for assignment a03 (LSTM and GRU in numpy, forward and backward).

Same replay API as every assignment (harness.run_cases): seed=0 is the visible case,
seed=None draws hidden cases (T = 1, N = 1, saturated gates) at grading time, and a failure
prints the seed and case that replay it. Gradients are compared one at a time against torch
autograd (float64) on the forwards of autograder.reference; the sequence forwards are also
compared with torch.nn.LSTM / torch.nn.GRU (batch_first=True, float64), weights mapped in.

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

In-place updates: every function gets copies of its inputs, so a backward pass that updates
an upstream gradient in place (`dc_next += ...`) is graded on its values like any other.
"""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .harness import (CheckFailure, call, check_close, distinct_sizes, grad_mistakes, needed_first,
                      run_cases, student, terms_scale, torch_vjp, unpack, value_mistakes, HIDDEN)

CASES_HIDDEN = HIDDEN
LSTM_STEP_GRADS = ("dx", "dh_prev", "dc_prev", "dW_x", "dW_h", "db")
LSTM_SEQ_GRADS = ("dx", "dh0", "dW_x", "dW_h", "db")
GRU_STEP_GRADS = ("dx", "dh_prev", "dW_x", "dW_h", "db_x", "db_h")
GRU_SEQ_GRADS = ("dx", "dh0", "dW_x", "dW_h", "db_x", "db_h")

# ==================================================================== mistakes, named
SIG = "the sigmoid derivative s*(1-s)"
CARRY = {"no_carry": "the gradient from step t+1 is not carried back to h_t (dh[:, t] must "
                     "be added to the dh_prev of step t+1)"}
LSTM_FORWARD_MISTAKES = {
    "gate_order_ifog": "the gates are in the order i, f, o, g instead of torch's i, f, g, o",
    "gate_order_figo": "the gates are in the order f, i, g, o instead of torch's i, f, g, o",
}
LSTM_BACKWARD_MISTAKES = {
    "no_sigmoid_derivative": f"{SIG} is left out (all three sigmoid gates)",
    "no_sigmoid_derivative_i": f"{SIG} of the input gate i is left out",
    "no_sigmoid_derivative_f": f"{SIG} of the forget gate f is left out",
    "no_sigmoid_derivative_o": f"{SIG} of the output gate o is left out",
    "no_tanh_c_derivative": "the tanh derivative (1 - tanh(c_t)**2) is left out in the "
                            "output path h_t = o*tanh(c_t)",
    "no_tanh_g_derivative": "the tanh derivative (1 - g**2) of the candidate g is left out",
    "no_f_in_dc": "the cell-state gradient is not multiplied by the forget gate "
                  "(dc_prev = f * dc)",
    "stacked_ifog": "the gate gradients are stacked in the order i, f, o, g while the "
                    "forward reads the rows as i, f, g, o",
    "no_dc_next": "dc_next is not added to the cell-state gradient (dc = dc_next + "
                  "dh_next * o * (1 - tanh(c_next)**2))",
}
LSTM_SEQ_MISTAKES = {
    "no_cell_carry": "the cell-state gradient dc is not carried back across time (the term "
                     "f_t * dc_t that reaches c_{t-1} from step t is dropped)",
    **CARRY,
}
PEEPHOLE_MISTAKES = {
    "no_peepholes": "the peepholes are left out (a plain LSTM)",
    "o_sees_c_prev": "the output gate looks at c_{t-1} instead of the new c_t",
    "peepholes_i_f_swapped": "p_i and p_f are swapped",
    **LSTM_FORWARD_MISTAKES,
}
GRU_FORWARD_MISTAKES = {
    "cho_reset": "the reset gate is applied as in Cho et al. (2014), W_hn (r * h_{t-1}) + "
                 "b_hn, instead of torch's r * (W_hn h_{t-1} + b_hn)",
    "bhn_outside": "b_hn is added outside the reset gate, r * (W_hn h_{t-1}) + b_hn, instead "
                   "of r * (W_hn h_{t-1} + b_hn)",
    "z_flipped": "the role of z is flipped: h_t = z * n + (1 - z) * h_{t-1} instead of "
                 "torch's (1 - z) * n + z * h_{t-1}",
    "gate_order_zrn": "the gates are in the order z, r, n instead of torch's r, z, n",
}
GRU_BACKWARD_MISTAKES = {
    "no_sigmoid_derivative": f"{SIG} is left out (both gates r and z)",
    "no_sigmoid_derivative_r": f"{SIG} of the reset gate r is left out",
    "no_sigmoid_derivative_z": f"{SIG} of the update gate z is left out",
    "no_tanh_derivative": "the tanh derivative (1 - n**2) of the candidate n is left out",
    "no_direct_path": "the direct path h_t = ... + z * h_{t-1} is left out of dh_prev",
    "no_r_in_dvn": "the gradient of W_hn h_{t-1} + b_hn is not multiplied by r (it sits "
                   "inside r * (...))",
    "r_in_dun": "the reset gate r is also multiplied into the gradient of the input side "
                "W_in x_t + b_in (r multiplies only the hidden side)",
    "stacked_zrn": "the gate gradients of r and z are stacked in the wrong order (z, r, n)",
}
GRU_SEQ_MISTAKES = CARRY


# ==================================================================== cases
def _params(c, gates, peephole=False):
    """Inputs for a gated cell with `gates` stacked blocks (4 for the LSTM, 3 for the GRU),
    and a cell state c_prev for the LSTM step. "saturated": the largest pre-activation of a
    case is typically 5 to 13 (sigmoid' below 1e-2), rarely above 15."""
    rng, kind = c.rng, c.kind
    if kind == "single":
        N, T, D, H = 1, 1, int(rng.integers(1, 5)), int(rng.integers(1, 5))
    else:
        N, T, D, H = distinct_sizes(rng, (2, 5), (2, 7), (2, 6), (2, 6))
    c.label = f"{kind} case N={N}, T={T}, D={D}, H={H}"
    scale = 2.0 if kind == "saturated" else 0.8
    p = {"x": rng.standard_normal((N, T, D)), "h0": 0.5 * rng.standard_normal((N, H)),
         "W_x": scale * rng.standard_normal((gates * H, D)) / np.sqrt(D),
         "W_h": scale * rng.standard_normal((gates * H, H)) / np.sqrt(H)}
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
    return p, c_prev, (N, T, D, H)


NO_DERIVATIVES = {4: {"no_sigmoid_derivative", "no_tanh_c_derivative", "no_tanh_g_derivative"},
                  3: {"no_sigmoid_derivative", "no_tanh_derivative"}}


def _check_grad(grad, got, expected, H, known, gates, scale):
    """check_close for one gradient; for a stacked weight or bias gradient the message also
    says which gate and unit the worst row belongs to."""
    if grad in ("dx", "dh_prev", "dc_prev", "dh0"):
        axes = ("N", "T", "D") if expected.ndim == 3 else ("N", "D" if grad == "dx" else "H")
        return check_close(grad, got, expected, axes=axes, known=known, scale=scale)
    names = "ifgo" if gates == 4 else "rzn"
    check_close(grad, got, expected, known=known, scale=scale,
                axes={"dW_x": ("row", "D"), "dW_h": ("row", "H")}.get(grad, ("row",)),
                where=lambda i: f"(Row {i[0]} belongs to gate {names[i[0] // H]}, unit "
                                f"{i[0] % H}, 0-based.)")


NN_LSTM = ("h differs from torch.nn.LSTM(batch_first=True, dtype=torch.float64) with your "
           "weights mapped in (weight_ih_l0 = W_x, weight_hh_l0 = W_h, bias_ih_l0 = "
           "bias_hh_l0 = b / 2, c0 = 0)")
NN_GRU = ("h differs from torch.nn.GRU(batch_first=True, dtype=torch.float64) with your "
          "weights mapped in (weight_ih_l0 = W_x, weight_hh_l0 = W_h, bias_ih_l0 = b_x, "
          "bias_hh_l0 = b_h)")


def _against_torch_nn(what, h, h_nn, known):
    try:
        check_close("h", h, h_nn, axes=("N", "T", "H"), known=known)
    except CheckFailure as e:
        raise CheckFailure(f"{what}: {e}", e.causes) from None


def _step_inputs(p, c_prev=None):
    inp = {"x": p["x"][:, 0], "h_prev": p["h0"]}
    if c_prev is not None:
        inp["c_prev"] = c_prev
    return {**inp, **{k: p[k] for k in p if k[0] in "Wb"}}


def _seq_inputs(p):
    return {k: v for k, v in p.items() if not k.startswith("p_")}


# ==================================================================== LSTM
def check_lstm_step_forward(lstm_step_forward, seed=None, case=None):
    def body(c):
        p, c_prev, _ = _params(c, 4)
        inp = _step_inputs(p, c_prev)
        h_ref, c_ref = torch_vjp(ref.lstm_step, inp, None, wrt=[])[1]
        h_next, c_next, _ = student("lstm_step_forward", lstm_step_forward, inp, 3)
        for i, (nm, got, want) in enumerate((("c_next", c_next, c_ref),
                                             ("h_next", h_next, h_ref))):
            check_close(nm, got, want, axes=("N", "H"), known=value_mistakes(
                LSTM_FORWARD_MISTAKES, ref.lstm_step, inp, pick=1 - i))
    run_cases("lstm_step_forward", seed, case, body)


def check_lstm_step_backward(lstm_step_forward, lstm_step_backward, grad, seed=None,
                             case=None):
    """Check one gradient (one of LSTM_STEP_GRADS) of lstm_step_backward."""
    if grad not in LSTM_STEP_GRADS:
        raise ValueError(f"grad must be one of {LSTM_STEP_GRADS}")
    name = grad[1:]  # "dW_x" -> "W_x"

    def body(c):
        p, c_prev, (N, _, _, H) = _params(c, 4)
        inp = _step_inputs(p, c_prev)
        up = (c.rng.standard_normal((N, H)), c.rng.standard_normal((N, H)))
        grads, (h_ref, c_ref) = torch_vjp(ref.lstm_step, inp, up)
        h_next, c_next, cache = student("lstm_step_forward", lstm_step_forward, inp, 3)
        needed_first("lstm_step_forward", lambda: (
            check_close("c_next", c_next, c_ref, axes=("N", "H")),
            check_close("h_next", h_next, h_ref, axes=("N", "H"))))
        out = call("lstm_step_backward", lstm_step_backward, up[0], up[1], cache,
                   arg_names=("dh_next", "dc_next", "cache"))
        got = unpack("lstm_step_backward", out, 6)[LSTM_STEP_GRADS.index(grad)]
        _check_grad(grad, got, grads[name], H, grad_mistakes(
            LSTM_BACKWARD_MISTAKES, ref.lstm_step, inp, up, name), 4,
            terms_scale(ref.lstm_step, inp, up, name, NO_DERIVATIVES[4]))
    run_cases(f"lstm_step_backward {grad}", seed, case, body)


def check_lstm_forward(lstm_forward, seed=None, case=None):
    """The student's h against the torch forward AND against torch.nn.LSTM."""
    def body(c):
        p, _, _ = _params(c, 4)
        inp = _seq_inputs(p)
        h_ref = torch_vjp(ref.lstm_forward, inp, None, wrt=[])[1]
        h_nn = ref.torch_nn_rnn("LSTM", p["x"], p["h0"], p["W_x"], p["W_h"], p["b"] / 2,
                                p["b"] / 2)
        h, _ = student("lstm_forward", lstm_forward, inp, 2)
        known = value_mistakes(LSTM_FORWARD_MISTAKES, ref.lstm_forward, inp)
        _against_torch_nn(NN_LSTM, h, h_nn, known)
        check_close("h", h, h_ref, axes=("N", "T", "H"), known=known)
    run_cases("lstm_forward (also against torch.nn.LSTM)", seed, case, body)


def check_lstm_backward(lstm_forward, lstm_backward, grad, seed=None, case=None):
    """Check one gradient (one of LSTM_SEQ_GRADS) of lstm_backward."""
    if grad not in LSTM_SEQ_GRADS:
        raise ValueError(f"grad must be one of {LSTM_SEQ_GRADS}")
    name = grad[1:]

    def body(c):
        p, _, (N, T, _, H) = _params(c, 4)
        inp = _seq_inputs(p)
        dh = c.rng.standard_normal((N, T, H))
        grads, h_ref = torch_vjp(ref.lstm_forward, inp, dh)
        h, cache = student("lstm_forward", lstm_forward, inp, 2)
        needed_first("lstm_forward", lambda: check_close(
            "h", h, h_ref, axes=("N", "T", "H"),
            known=value_mistakes(LSTM_FORWARD_MISTAKES, ref.lstm_forward, inp)))
        out = call("lstm_backward", lstm_backward, dh, cache, arg_names=("dh", "cache"))
        got = unpack("lstm_backward", out, 5)[LSTM_SEQ_GRADS.index(grad)]
        _check_grad(grad, got, grads[name], H, grad_mistakes(
            {**LSTM_SEQ_MISTAKES, **LSTM_BACKWARD_MISTAKES}, ref.lstm_forward, inp, dh,
            name), 4, terms_scale(ref.lstm_forward, inp, dh, name, NO_DERIVATIVES[4]))
    run_cases(f"lstm_backward {grad}", seed, case, body)


def check_peephole_lstm_forward(peephole_lstm_forward, seed=None, case=None):
    """The student's (h, c) of the peephole LSTM against the torch forward."""
    def body(c):
        p, _, _ = _params(c, 4, peephole=True)
        h_ref, c_ref = torch_vjp(ref.peephole_lstm_forward, p, None, wrt=[])[1]
        h, cs = student("peephole_lstm_forward", peephole_lstm_forward, p, 2)
        for i, (nm, got, want) in enumerate((("c", cs, c_ref), ("h", h, h_ref))):
            check_close(nm, got, want, axes=("N", "T", "H"), known=value_mistakes(
                PEEPHOLE_MISTAKES, ref.peephole_lstm_forward, p, pick=1 - i))
    run_cases("peephole_lstm_forward", seed, case, body)


# ==================================================================== GRU
def check_gru_step_forward(gru_step_forward, seed=None, case=None):
    def body(c):
        inp = _step_inputs(_params(c, 3)[0])
        h_ref = torch_vjp(ref.gru_step, inp, None, wrt=[])[1]
        h_next, _ = student("gru_step_forward", gru_step_forward, inp, 2)
        check_close("h_next", h_next, h_ref, axes=("N", "H"),
                    known=value_mistakes(GRU_FORWARD_MISTAKES, ref.gru_step, inp))
    run_cases("gru_step_forward", seed, case, body)


def check_gru_step_backward(gru_step_forward, gru_step_backward, grad, seed=None, case=None):
    """Check one gradient (one of GRU_STEP_GRADS) of gru_step_backward."""
    if grad not in GRU_STEP_GRADS:
        raise ValueError(f"grad must be one of {GRU_STEP_GRADS}")
    name = grad[1:]

    def body(c):
        p, _, (N, _, _, H) = _params(c, 3)
        inp = _step_inputs(p)
        dh_next = c.rng.standard_normal((N, H))
        grads, h_ref = torch_vjp(ref.gru_step, inp, dh_next)
        h_next, cache = student("gru_step_forward", gru_step_forward, inp, 2)
        needed_first("gru_step_forward", lambda: check_close(
            "h_next", h_next, h_ref, axes=("N", "H"),
            known=value_mistakes(GRU_FORWARD_MISTAKES, ref.gru_step, inp)))
        out = call("gru_step_backward", gru_step_backward, dh_next, cache,
                   arg_names=("dh_next", "cache"))
        got = unpack("gru_step_backward", out, 6)[GRU_STEP_GRADS.index(grad)]
        _check_grad(grad, got, grads[name], H, grad_mistakes(
            GRU_BACKWARD_MISTAKES, ref.gru_step, inp, dh_next, name), 3,
            terms_scale(ref.gru_step, inp, dh_next, name, NO_DERIVATIVES[3]))
    run_cases(f"gru_step_backward {grad}", seed, case, body)


def check_gru_forward(gru_forward, seed=None, case=None):
    """The student's h against the torch forward AND against torch.nn.GRU."""
    def body(c):
        p, _, _ = _params(c, 3)
        h_ref = torch_vjp(ref.gru_forward, p, None, wrt=[])[1]
        h_nn = ref.torch_nn_rnn("GRU", p["x"], p["h0"], p["W_x"], p["W_h"], p["b_x"], p["b_h"])
        h, _ = student("gru_forward", gru_forward, p, 2)
        known = value_mistakes(GRU_FORWARD_MISTAKES, ref.gru_forward, p)
        _against_torch_nn(NN_GRU, h, h_nn, known)
        check_close("h", h, h_ref, axes=("N", "T", "H"), known=known)
    run_cases("gru_forward (also against torch.nn.GRU)", seed, case, body)


def check_gru_backward(gru_forward, gru_backward, grad, seed=None, case=None):
    """Check one gradient (one of GRU_SEQ_GRADS) of gru_backward."""
    if grad not in GRU_SEQ_GRADS:
        raise ValueError(f"grad must be one of {GRU_SEQ_GRADS}")
    name = grad[1:]

    def body(c):
        p, _, (N, T, _, H) = _params(c, 3)
        dh = c.rng.standard_normal((N, T, H))
        grads, h_ref = torch_vjp(ref.gru_forward, p, dh)
        h, cache = student("gru_forward", gru_forward, p, 2)
        needed_first("gru_forward", lambda: check_close(
            "h", h, h_ref, axes=("N", "T", "H"),
            known=value_mistakes(GRU_FORWARD_MISTAKES, ref.gru_forward, p)))
        out = call("gru_backward", gru_backward, dh, cache, arg_names=("dh", "cache"))
        got = unpack("gru_backward", out, 6)[GRU_SEQ_GRADS.index(grad)]
        _check_grad(grad, got, grads[name], H, grad_mistakes(
            {**GRU_SEQ_MISTAKES, **GRU_BACKWARD_MISTAKES}, ref.gru_forward, p, dh, name), 3,
            terms_scale(ref.gru_forward, p, dh, name, NO_DERIVATIVES[3]))
    run_cases(f"gru_backward {grad}", seed, case, body)
