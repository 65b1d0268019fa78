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
from .harness import (Backward, CheckFailure, check_close, distinct_sizes, run_cases, student,
                      torch_vjp, value_mistakes, HIDDEN)

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


NO_DERIVATIVES = {4: frozenset({"no_sigmoid_derivative", "no_tanh_c_derivative",
                                "no_tanh_g_derivative"}),
                  3: frozenset({"no_sigmoid_derivative", "no_tanh_derivative"})}


def _gate_row(gates):
    """Words about the worst row of a stacked weight or bias gradient: its gate and unit."""
    def where(name, index, inputs):
        if name[0] not in "Wb":
            return ""
        H = inputs["h_prev" if "h_prev" in inputs else "h0"].shape[1]
        return f"(Row {index[0]} belongs to gate {gates[index[0] // H]}, unit " \
               f"{index[0] % H}, 0-based.)"
    return where


_AXES = {"x": ("N", "D"), "h_prev": ("N", "H"), "c_prev": ("N", "H"), "h0": ("N", "H"),
         "W_x": ("row", "D"), "W_h": ("row", "H"), "b": ("row",), "b_x": ("row",),
         "b_h": ("row",)}
_SEQ_AXES = {**_AXES, "x": ("N", "T", "D")}


def _check_against_nn(kind, forward, seed, case):
    """The student's h against the torch forward AND against torch.nn.LSTM / torch.nn.GRU
    (batch_first=True, float64) with the student's weights mapped in."""
    mapped = ("bias_ih_l0 = bias_hh_l0 = b / 2, c0 = 0" if kind == "LSTM" else
              "bias_ih_l0 = b_x, bias_hh_l0 = b_h")
    reference, messages = ((ref.lstm_forward, LSTM_FORWARD_MISTAKES) if kind == "LSTM" else
                           (ref.gru_forward, GRU_FORWARD_MISTAKES))

    def body(c):
        p, _, _ = _params(c, 4 if kind == "LSTM" else 3)
        inp = _seq_inputs(p)
        h_ref = torch_vjp(reference, inp, None, wrt=[])[1]
        biases = (p["b"] / 2, p["b"] / 2) if kind == "LSTM" else (p["b_x"], p["b_h"])
        h_nn = ref.torch_nn_rnn(kind, p["x"], p["h0"], p["W_x"], p["W_h"], *biases)
        h, _ = student(f"{kind.lower()}_forward", forward, inp, 2)
        known = value_mistakes(messages, reference, inp)
        try:
            check_close("h", h, h_nn, axes=("N", "T", "H"), known=known)
        except CheckFailure as e:
            raise CheckFailure(f"h differs from torch.nn.{kind}(batch_first=True, dtype=torch."
                               f"float64) with your weights mapped in (weight_ih_l0 = W_x, "
                               f"weight_hh_l0 = W_h, {mapped}): {e}", e.causes) from None
        check_close("h", h, h_ref, axes=("N", "T", "H"), known=known)
    run_cases(f"{kind.lower()}_forward (also against torch.nn.{kind})", seed, case, body)


def _seq_inputs(p):
    return {k: v for k, v in p.items() if not k.startswith("p_")}


# ==================================================================== LSTM
def _step_case(gates):
    def draw(c):
        p, c_prev, (N, _, _, H) = _params(c, gates)
        inp = {"x": p["x"][:, 0], "h_prev": p["h0"], **({"c_prev": c_prev} if gates == 4 else {}),
               **{k: p[k] for k in p if k[0] in "Wb"}}
        upstream = {"dh_next": c.rng.standard_normal((N, H))}
        if gates == 4:
            upstream["dc_next"] = c.rng.standard_normal((N, H))
        return inp, upstream
    return draw


def _seq_case(gates):
    def draw(c):
        p, _, (N, T, _, H) = _params(c, gates)
        return _seq_inputs(p), {"dh": c.rng.standard_normal((N, T, H))}
    return draw


LSTM_STEP = Backward("lstm_step_forward", "lstm_step_backward", ref.lstm_step,
                     {"h_next": ("N", "H"), "c_next": ("N", "H")}, ("dh_next", "dc_next"),
                     LSTM_STEP_GRADS, _AXES, LSTM_BACKWARD_MISTAKES, NO_DERIVATIVES[4],
                     LSTM_FORWARD_MISTAKES, _gate_row("ifgo"))
LSTM_SEQ = Backward("lstm_forward", "lstm_backward", ref.lstm_forward, {"h": ("N", "T", "H")},
                    ("dh",), LSTM_SEQ_GRADS, _SEQ_AXES,
                    {**LSTM_SEQ_MISTAKES, **LSTM_BACKWARD_MISTAKES}, NO_DERIVATIVES[4],
                    LSTM_FORWARD_MISTAKES, _gate_row("ifgo"))
GRU_STEP = Backward("gru_step_forward", "gru_step_backward", ref.gru_step,
                    {"h_next": ("N", "H")}, ("dh_next",), GRU_STEP_GRADS, _AXES,
                    GRU_BACKWARD_MISTAKES, NO_DERIVATIVES[3], GRU_FORWARD_MISTAKES,
                    _gate_row("rzn"))
GRU_SEQ = Backward("gru_forward", "gru_backward", ref.gru_forward, {"h": ("N", "T", "H")},
                   ("dh",), GRU_SEQ_GRADS, _SEQ_AXES, {**GRU_SEQ_MISTAKES, **GRU_BACKWARD_MISTAKES},
                   NO_DERIVATIVES[3], GRU_FORWARD_MISTAKES, _gate_row("rzn"))


def check_lstm_step_forward(lstm_step_forward, seed=None, case=None):
    LSTM_STEP.check(lstm_step_forward, None, None, seed, case, _step_case(4))


def check_lstm_step_backward(lstm_step_forward, lstm_step_backward, grad, seed=None,
                             case=None):
    """Check one gradient (one of LSTM_STEP_GRADS) of lstm_step_backward."""
    LSTM_STEP.check(lstm_step_forward, lstm_step_backward, grad, seed, case, _step_case(4))


def check_lstm_backward(lstm_forward, lstm_backward, grad, seed=None, case=None):
    """Check one gradient (one of LSTM_SEQ_GRADS) of lstm_backward."""
    LSTM_SEQ.check(lstm_forward, lstm_backward, grad, seed, case, _seq_case(4))


def check_lstm_forward(lstm_forward, seed=None, case=None):
    """The student's h against the torch forward AND against torch.nn.LSTM."""
    _check_against_nn("LSTM", lstm_forward, seed, case)


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
    GRU_STEP.check(gru_step_forward, None, None, seed, case, _step_case(3))


def check_gru_step_backward(gru_step_forward, gru_step_backward, grad, seed=None, case=None):
    """Check one gradient (one of GRU_STEP_GRADS) of gru_step_backward."""
    GRU_STEP.check(gru_step_forward, gru_step_backward, grad, seed, case, _step_case(3))


def check_gru_forward(gru_forward, seed=None, case=None):
    """The student's h against the torch forward AND against torch.nn.GRU."""
    _check_against_nn("GRU", gru_forward, seed, case)


def check_gru_backward(gru_forward, gru_backward, grad, seed=None, case=None):
    """Check one gradient (one of GRU_SEQ_GRADS) of gru_backward."""
    GRU_SEQ.check(gru_forward, gru_backward, grad, seed, case, _seq_case(3))
