"""Unit tests of the checks of assignment a03 (LSTM and GRU): the torch references agree
with torch.nn and with central differences, the reference solution passes every hidden
check, and known-wrong solutions are caught AND the cause is named in the message."""
import re

import nbformat
import numpy as np
import pytest
import torch

from autograder import a03
from autograder import reference as ref
from autograder.checks import Mistakes
from autograder.harness import Case
from autograder.checks import CheckFailure, rel_error
from autograder.gradcheck import numeric_vjp, torch_vjp
from course import master_path, strip_markers

A03 = "a03-lstm-gru"
S = a03  # the checks


def load(mutations=None):
    """The master's setup and answer cells, run with text replacements:
    {grade_id: [(old, new), ...]}; every replacement must apply."""
    nb = nbformat.read(master_path(A03), as_version=4)
    namespace = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        if not (meta.get("solution") or meta.get("locked")):
            continue
        source = strip_markers(cell.source)
        for old, new in (mutations or {}).get(meta.get("grade_id"), []):
            assert old in source, f"mutation target {old!r} not in {meta['grade_id']}"
            source = source.replace(old, new)
        exec(compile(source, f"<{A03}:{meta.get('grade_id')}>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def solution():
    return load()


def lstm_step_bwd(s, grad, seed=None):
    S.check_lstm_step_backward(s["lstm_step_forward"], s["lstm_step_backward"], grad, seed=seed)


def lstm_bwd(s, grad, seed=None):
    S.check_lstm_backward(s["lstm_forward"], s["lstm_backward"], grad, seed=seed)


def gru_step_bwd(s, grad, seed=None):
    S.check_gru_step_backward(s["gru_step_forward"], s["gru_step_backward"], grad, seed=seed)


def gru_bwd(s, grad, seed=None):
    S.check_gru_backward(s["gru_forward"], s["gru_backward"], grad, seed=seed)


# ----------------------------------------------------------------- the references
def _case(kind="regular", gates=4, seed=0, peephole=False):
    return a03._params(Case(kind, seed, np.random.default_rng(seed)), gates, peephole)


@pytest.mark.parametrize("kind", ["regular", "single", "saturated"])
def test_references_equal_torch_nn(kind):
    p, _, _ = _case(kind, 4)
    inp = a03._seq_inputs(p)
    _, h = torch_vjp(ref.lstm_forward, inp, None, wrt=[])
    assert np.max(np.abs(h - ref.torch_nn_rnn("LSTM", *list(inp.values())[:4], inp["b"] / 2, inp["b"] / 2))) < 1e-13
    p, _, _ = _case(kind, 3)
    inp = a03._seq_inputs(p)
    _, h = torch_vjp(ref.gru_forward, inp, None, wrt=[])
    assert np.max(np.abs(h - ref.torch_nn_rnn("GRU", *inp.values()))) < 1e-13


def test_peephole_reference_with_zero_peepholes_is_the_lstm():
    p, _, _ = _case(peephole=True)
    inp = a03._seq_inputs(p)
    zeros = {k: np.zeros_like(p[k]) for k in ("p_i", "p_f", "p_o")}
    _, (h, c) = torch_vjp(ref.peephole_lstm_forward, {**inp, **zeros}, None, wrt=[])
    _, h_plain = torch_vjp(ref.lstm_forward, inp, None, wrt=[])
    assert np.array_equal(h, h_plain)
    # and with peepholes it differs
    _, (h2, _) = torch_vjp(ref.peephole_lstm_forward,
                           {**inp, **{k: p[k] for k in zeros}}, None, wrt=[])
    assert np.max(np.abs(h2 - h)) > 1e-3


def _numeric(forward, inputs, upstream, name):
    def f():
        t = {k: torch.tensor(v) for k, v in inputs.items()}
        return forward(**t).numpy()
    return numeric_vjp(f, inputs[name], upstream)


@pytest.mark.parametrize("which", ["lstm", "gru"])
def test_reference_gradients_match_central_differences(which):
    p, _, (N, T, D, H) = _case("regular", 4 if which == "lstm" else 3, seed=3)
    inp = a03._seq_inputs(p) if which == "lstm" else a03._seq_inputs(p)
    forward = ref.lstm_forward if which == "lstm" else ref.gru_forward
    up = np.random.default_rng(4).standard_normal((N, T, H))
    grads, _ = torch_vjp(forward, inp, up)
    for name in inp:
        assert np.max(rel_error(grads[name], _numeric(forward, inp, up, name))) < 1e-6, name


@pytest.mark.parametrize("mistake", ["no_sigmoid_derivative", "no_sigmoid_derivative_f",
                                     "no_tanh_c_derivative", "no_tanh_g_derivative",
                                     "no_f_in_dc", "no_cell_carry", "no_carry"])
def test_lstm_backward_mistakes_keep_the_forward_and_change_the_gradient(mistake):
    p, _, (N, T, D, H) = _case(seed=5)
    inp = a03._seq_inputs(p)
    up = np.random.default_rng(6).standard_normal((N, T, H))
    right, h = torch_vjp(ref.lstm_forward, inp, up)
    wrong, h_wrong = torch_vjp(lambda **k: ref.lstm_forward(**k, mistakes=mistake), inp, up)
    assert np.array_equal(h, h_wrong)
    assert np.max(rel_error(right["W_h"], wrong["W_h"])) > 1e-3


@pytest.mark.parametrize("mistake", ["no_sigmoid_derivative", "no_sigmoid_derivative_r",
                                     "no_tanh_derivative", "no_direct_path", "no_r_in_dvn",
                                     "no_carry"])
def test_gru_backward_mistakes_keep_the_forward_and_change_the_gradient(mistake):
    p, _, (N, T, D, H) = _case(gates=3, seed=5)
    inp = a03._seq_inputs(p)
    up = np.random.default_rng(6).standard_normal((N, T, H))
    right, h = torch_vjp(ref.gru_forward, inp, up)
    wrong, h_wrong = torch_vjp(lambda **k: ref.gru_forward(**k, mistakes=mistake), inp, up)
    assert np.array_equal(h, h_wrong)
    assert max(np.max(rel_error(right[k], wrong[k])) for k in inp) > 1e-3


@pytest.mark.parametrize("mistake", list(a03.GRU_FORWARD_MISTAKES))
def test_gru_forward_mistakes_change_the_forward(mistake):
    p, _, _ = _case(gates=3, seed=7)
    inp = a03._seq_inputs(p)
    _, h = torch_vjp(ref.gru_forward, inp, None, wrt=[])
    _, h_wrong = torch_vjp(lambda **k: ref.gru_forward(**k, mistakes=mistake), inp, None, wrt=[])
    assert np.max(np.abs(h - h_wrong)) > 1e-3


def test_hidden_cases_include_edge_cases():
    assert {"single", "saturated"} <= set(a03.CASES_HIDDEN)
    _, _, dims = _case("single")
    assert dims[:2] == (1, 1)
    p, _, _ = _case("saturated")
    a = p["x"][:, 0] @ p["W_x"].T + p["h0"] @ p["W_h"].T + p["b"]
    assert np.abs(a).max() > 4.0  # sigmoid(4) = 0.98: saturated gates


# ----------------------------------------------------------------- the reference solution passes
def test_reference_solution_passes_every_hidden_check(solution):
    s = solution
    S.check_lstm_step_forward(s["lstm_step_forward"])
    for g in S.LSTM_STEP_GRADS:
        lstm_step_bwd(s, g)
    S.check_lstm_forward(s["lstm_forward"])
    for g in S.LSTM_SEQ_GRADS:
        lstm_bwd(s, g)
    S.check_gru_step_forward(s["gru_step_forward"])
    for g in S.GRU_STEP_GRADS:
        gru_step_bwd(s, g)
    S.check_gru_forward(s["gru_forward"])
    for g in S.GRU_SEQ_GRADS:
        gru_bwd(s, g)
    S.check_peephole_lstm_forward(s["peephole_lstm_forward"])


def test_known_mistakes_are_not_computed_for_a_right_answer(solution, monkeypatch):
    calls = []
    real = Mistakes.wrong
    monkeypatch.setattr(Mistakes, "wrong", lambda self, k: calls.append(k) or real(self, k))
    lstm_bwd(solution, "dW_h")
    gru_bwd(solution, "db_h")
    assert not calls


# ----------------------------------------------------------------- LSTM mistakes, caught and named
SIG_ALL = ("""    da = np.concatenate([di * i * (1.0 - i),             # (N, 4H), order i, f, g, o
                         df * f * (1.0 - f),
                         dg * (1.0 - g ** 2),
                         do * o * (1.0 - o)], axis=1)""",
           """    da = np.concatenate([di, df, dg * (1.0 - g ** 2), do], axis=1)""")


def test_lstm_missing_sigmoid_derivative_is_named():
    s = load({"lstm_step_backward": [SIG_ALL]})
    with pytest.raises(CheckFailure, match=r"sigmoid derivative s\*\(1-s\) is left out \(all"):
        lstm_step_bwd(s, "dW_x")
    with pytest.raises(CheckFailure, match=r"sigmoid derivative .* left out \(all"):
        lstm_bwd(s, "dx")
    s = load({"lstm_step_backward": [("df * f * (1.0 - f)", "df")]})
    with pytest.raises(CheckFailure, match=r"of the forget gate f is left out"):
        lstm_step_bwd(s, "db")
    with pytest.raises(CheckFailure, match=r"forget gate f is left out.*belongs to gate [ifgo], unit"):
        lstm_bwd(s, "db")
    lstm_step_bwd(s, "dc_prev")  # dc_prev does not go through the gates' derivatives


def test_lstm_missing_tanh_derivative_of_the_cell_is_named():
    s = load({"lstm_step_backward": [("dh_next * o * (1.0 - tanh_c ** 2)", "dh_next * o")]})
    with pytest.raises(CheckFailure, match=r"tanh\(c_t\)\*\*2\) is left out in the output path"):
        lstm_step_bwd(s, "dc_prev")
    with pytest.raises(CheckFailure, match=r"output path"):
        lstm_bwd(s, "dW_h")


def test_lstm_missing_tanh_derivative_of_the_candidate_is_named():
    s = load({"lstm_step_backward": [("dg * (1.0 - g ** 2)", "dg")]})
    with pytest.raises(CheckFailure, match=r"\(1 - g\*\*2\) of the candidate g"):
        lstm_step_bwd(s, "dh_prev")


def test_lstm_dc_next_ignored_is_named():
    s = load({"lstm_step_backward": [("dc = dc_next + dh_next", "dc = dh_next")]})
    with pytest.raises(CheckFailure, match=r"dc_next is not added"):
        lstm_step_bwd(s, "dc_prev")
    with pytest.raises(CheckFailure, match=r"dc is not carried back across time"):
        lstm_bwd(s, "dW_x")  # in a sequence the same mistake drops the carried dc


def test_lstm_dc_prev_without_forget_gate_is_named():
    s = load({"lstm_step_backward": [("dc_prev = dc * f", "dc_prev = dc")]})
    with pytest.raises(CheckFailure, match=r"not multiplied by the forget gate"):
        lstm_step_bwd(s, "dc_prev")
    with pytest.raises(CheckFailure, match=r"not multiplied by the forget gate"):
        lstm_bwd(s, "dh0")
    lstm_step_bwd(s, "dW_x")  # the other step gradients are right


def test_lstm_cell_gradient_not_carried_is_named():
    s = load({"lstm_backward": [("dh[:, t] + dh_carry, dc_carry, cache[t]",
                                 "dh[:, t] + dh_carry, np.zeros((N, H)), cache[t]")]})
    for g in S.LSTM_SEQ_GRADS:
        with pytest.raises(CheckFailure, match=r"cell-state gradient dc is not carried back"):
            lstm_bwd(s, g)


def test_lstm_hidden_gradient_not_carried_is_named():
    s = load({"lstm_backward": [("dh[:, t] + dh_carry, dc_carry", "dh[:, t], dc_carry")]})
    with pytest.raises(CheckFailure, match=r"not carried back to h_t"):
        lstm_bwd(s, "dW_h")


GATES_IFOG = ("""    g = np.tanh(a[:, 2 * H:3 * H])      # (N, H) candidate
    o = sigmoid(a[:, 3 * H:])           # (N, H) output gate""",
              """    g = np.tanh(a[:, 3 * H:])
    o = sigmoid(a[:, 2 * H:3 * H])""")


def test_lstm_gate_order_is_named_against_torch_nn():
    s = load({"lstm_step_forward": [GATES_IFOG]})
    with pytest.raises(CheckFailure, match=r"torch\.nn\.LSTM.*order i, f, o, g instead of "
                                           r"torch's i, f, g, o"):
        S.check_lstm_forward(s["lstm_forward"], seed=0)
    with pytest.raises(CheckFailure, match=r"h_next is wrong.*order i, f, o, g"):
        S.check_lstm_step_forward(s["lstm_step_forward"], seed=0)
    with pytest.raises(CheckFailure, match=r"Fix lstm_forward first.*order i, f, o, g"):
        lstm_bwd(s, "db", seed=0)


def test_lstm_gate_gradients_stacked_in_the_wrong_order_are_named():
    s = load({"lstm_step_backward": [("""dg * (1.0 - g ** 2),
                         do * o * (1.0 - o)]""", """do * o * (1.0 - o),
                         dg * (1.0 - g ** 2)]""")]})
    with pytest.raises(CheckFailure, match=r"stacked in the order i, f, o, g"):
        lstm_step_bwd(s, "dW_x")
    with pytest.raises(CheckFailure, match=r"stacked in the order i, f, o, g"):
        lstm_bwd(s, "db")
    with pytest.raises(CheckFailure, match=r"stacked in the order i, f, o, g"):
        lstm_bwd(s, "dx")


def test_gru_gate_gradients_stacked_in_the_wrong_order_are_named():
    s = load({"gru_step_backward": [
        ("du = np.concatenate([dr_pre, dz_pre, dn_pre]", "du = np.concatenate([dz_pre, dr_pre, dn_pre]"),
        ("dv = np.concatenate([dr_pre, dz_pre, dn_pre * r]", "dv = np.concatenate([dz_pre, dr_pre, dn_pre * r]")]})
    with pytest.raises(CheckFailure, match=r"r and z are stacked in the wrong order"):
        gru_step_bwd(s, "db_h")
    with pytest.raises(CheckFailure, match=r"r and z are stacked in the wrong order"):
        gru_bwd(s, "dW_x")


# ----------------------------------------------------------------- GRU mistakes, caught and named
def test_gru_cho_reset_is_named_in_the_forward():
    s = load({"gru_step_forward": [(
        "n = np.tanh(u[:, 2 * H:] + r * v_n)",
        "n = np.tanh(u[:, 2 * H:] + (r * h_prev) @ W_h[2 * H:].T + b_h[2 * H:])")]})
    with pytest.raises(CheckFailure, match=r"torch\.nn\.GRU.*as in Cho et al\. \(2014\)"):
        S.check_gru_forward(s["gru_forward"], seed=0)
    with pytest.raises(CheckFailure, match=r"Cho et al"):
        S.check_gru_step_forward(s["gru_step_forward"])
    with pytest.raises(CheckFailure, match=r"Fix gru_forward first.*Cho et al"):
        gru_bwd(s, "dx", seed=0)


def test_gru_bias_outside_reset_is_named():
    s = load({"gru_step_forward": [(
        "n = np.tanh(u[:, 2 * H:] + r * v_n)",
        "n = np.tanh(u[:, 2 * H:] + r * (h_prev @ W_h[2 * H:].T) + b_h[2 * H:])")]})
    with pytest.raises(CheckFailure, match=r"b_hn is added outside the reset gate"):
        S.check_gru_forward(s["gru_forward"])


def test_gru_flipped_z_is_named():
    s = load({"gru_step_forward": [("h_next = (1.0 - z) * n + z * h_prev",
                                    "h_next = z * n + (1.0 - z) * h_prev")]})
    with pytest.raises(CheckFailure, match=r"torch\.nn\.GRU.*role of z is flipped"):
        S.check_gru_forward(s["gru_forward"], seed=0)
    with pytest.raises(CheckFailure, match=r"role of z is flipped"):
        S.check_gru_step_forward(s["gru_step_forward"])


def test_gru_gate_order_is_named():
    s = load({"gru_step_forward": [(
        """    r = sigmoid(u[:, :H] + v[:, :H])           # (N, H) reset gate
    z = sigmoid(u[:, H:2 * H] + v[:, H:2 * H]) # (N, H) update gate""",
        """    z = sigmoid(u[:, :H] + v[:, :H])
    r = sigmoid(u[:, H:2 * H] + v[:, H:2 * H])""")]})
    with pytest.raises(CheckFailure, match=r"order z, r, n instead of torch's r, z, n"):
        S.check_gru_forward(s["gru_forward"], seed=0)


def test_gru_missing_sigmoid_derivative_is_named():
    s = load({"gru_step_backward": [("dz_pre = dz * z * (1.0 - z)", "dz_pre = dz")]})
    with pytest.raises(CheckFailure, match=r"of the update gate z is left out"):
        gru_step_bwd(s, "dW_x")
    with pytest.raises(CheckFailure, match=r"update gate z is left out.*belongs to gate [rzn], unit"):
        gru_bwd(s, "db_h")


def test_gru_missing_tanh_derivative_is_named():
    s = load({"gru_step_backward": [("dn_pre = dn * (1.0 - n ** 2)", "dn_pre = dn")]})
    with pytest.raises(CheckFailure, match=r"\(1 - n\*\*2\) of the candidate n"):
        gru_bwd(s, "dx")


def test_gru_missing_direct_path_is_named():
    s = load({"gru_step_backward": [("dh_prev = dh_next * z + dv @ W_h", "dh_prev = dv @ W_h")]})
    with pytest.raises(CheckFailure, match=r"direct path"):
        gru_step_bwd(s, "dh_prev")
    with pytest.raises(CheckFailure, match=r"direct path"):
        gru_bwd(s, "dW_x")
    gru_step_bwd(s, "dW_h")  # only dh_prev is wrong in one step


def test_gru_bias_gradient_without_reset_is_named():
    s = load({"gru_step_backward": [("[dr_pre, dz_pre, dn_pre * r]", "[dr_pre, dz_pre, dn_pre]")]})
    with pytest.raises(CheckFailure, match=r"not multiplied by r.*gate n, unit"):
        gru_step_bwd(s, "db_h")
    gru_step_bwd(s, "db_x")
    gru_step_bwd(s, "dx")


def test_gru_gradient_not_carried_is_named():
    s = load({"gru_backward": [("dh[:, t] + dh_carry, cache[t]", "dh[:, t], cache[t]")]})
    for g in S.GRU_SEQ_GRADS:
        with pytest.raises(CheckFailure, match=r"not carried back to h_t"):
            gru_bwd(s, g)


# ----------------------------------------------------------------- peephole mistakes
def test_peephole_output_gate_on_old_cell_is_named():
    s = load({"peephole_lstm_forward": [(
        """        c_t = f * c_t + i * g                       # (N, H), now c_t
        o = sigmoid(a[:, 3 * H:] + p_o * c_t)       # (N, H), sees the new c_t""",
        """        o = sigmoid(a[:, 3 * H:] + p_o * c_t)
        c_t = f * c_t + i * g""")]})
    # o_t feeds h_t and so c_{t+1}: c is wrong from t = 2 on, and named
    with pytest.raises(CheckFailure, match=r"output gate looks at c_\{t-1\}"):
        S.check_peephole_lstm_forward(s["peephole_lstm_forward"])


def test_missing_or_swapped_peepholes_are_named():
    s = load({"peephole_lstm_forward": [
        ("a[:, :H] + p_i * c_t", "a[:, :H]"), ("a[:, H:2 * H] + p_f * c_t", "a[:, H:2 * H]"),
        ("a[:, 3 * H:] + p_o * c_t", "a[:, 3 * H:]")]})
    with pytest.raises(CheckFailure, match=r"c is wrong.*peepholes are left out"):
        S.check_peephole_lstm_forward(s["peephole_lstm_forward"], seed=0)
    s = load({"peephole_lstm_forward": [("p_i * c_t", "p_F * c_t"), ("p_f * c_t", "p_i * c_t"),
                                        ("p_F * c_t", "p_f * c_t")]})
    with pytest.raises(CheckFailure, match=r"p_i and p_f are swapped"):
        S.check_peephole_lstm_forward(s["peephole_lstm_forward"], seed=0)


# ----------------------------------------------------------------- bad submissions
def test_unfinished_function_is_reported():
    def lstm_forward(*args):
        raise NotImplementedError()
    with pytest.raises(CheckFailure, match="lstm_forward is not implemented yet"):
        S.check_lstm_forward(lstm_forward, seed=0)


def test_float32_is_rejected(solution):
    def gru_forward(*args):
        h, cache = solution["gru_forward"](*args)
        return h.astype(np.float32), cache
    with pytest.raises(CheckFailure, match="dtype float32"):
        S.check_gru_forward(gru_forward, seed=0)


def test_transposed_weight_gradient_shape_is_named(solution):
    def lstm_step_backward(dh_next, dc_next, cache):
        out = list(solution["lstm_step_backward"](dh_next, dc_next, cache))
        out[3] = out[3].T
        return tuple(out)
    with pytest.raises(CheckFailure, match=r"dW_x has shape .* transposed shape"):
        S.check_lstm_step_backward(solution["lstm_step_forward"], lstm_step_backward, "dW_x",
                                   seed=0)


def test_broadcast_bias_gradient_is_rejected(solution):
    def gru_backward(dh, cache):
        out = list(solution["gru_backward"](dh, cache))
        out[4] = out[4][None, :]  # (1, 3H) instead of (3H,)
        return tuple(out)
    with pytest.raises(CheckFailure, match=r"db_x has shape \(1, \d+\), expected \(\d+,\)"):
        gru_bwd({"gru_forward": solution["gru_forward"], "gru_backward": gru_backward},
                "db_x", seed=0)


def test_torch_tensor_is_rejected(solution):
    def lstm_step_forward(*args):
        h, c, cache = solution["lstm_step_forward"](*args)
        return torch.from_numpy(h), c, cache
    with pytest.raises(CheckFailure, match="torch tensor"):
        S.check_lstm_step_forward(lstm_step_forward, seed=0)


def test_wrong_arity_is_reported(solution):
    def lstm_step_forward(*args):
        return solution["lstm_step_forward"](*args)[:2]
    with pytest.raises(CheckFailure, match="must return a tuple of 3"):
        S.check_lstm_step_forward(lstm_step_forward, seed=0)


def test_in_place_modification_is_reported_when_the_answer_is_wrong(solution):
    def gru_step_forward(x, h_prev, *rest):
        h_prev += 0.0 * h_prev + 1e-3
        return solution["gru_step_forward"](x, h_prev, *rest)
    with pytest.raises(CheckFailure, match="modified its input `h_prev` in place"):
        S.check_gru_step_forward(gru_step_forward, seed=0)


def test_in_place_update_of_an_upstream_gradient_is_graded_on_its_values(solution):
    """Peer LSTMs often write `dc_next += ...`: the checks pass copies, so right values pass."""
    def lstm_step_backward(dh_next, dc_next, cache):
        x, h_prev, c_prev, W_x, W_h, i, f, g, o, tanh_c = cache
        dc_next += dh_next * o * (1.0 - tanh_c ** 2)      # in place, as in many peer solutions
        dh_next *= tanh_c                                  # now holds do
        da = np.hstack([dc_next * g * i * (1 - i), dc_next * c_prev * f * (1 - f),
                        dc_next * i * (1 - g ** 2), dh_next * o * (1 - o)])
        return (da @ W_x, da @ W_h, dc_next * f, da.T @ x, da.T @ h_prev, da.sum(0))
    for g in S.LSTM_STEP_GRADS:
        S.check_lstm_step_backward(solution["lstm_step_forward"], lstm_step_backward, g)


def test_failure_message_gives_case_and_replay_seed():
    s = load({"gru_step_backward": [("dn_pre = dn * (1.0 - n ** 2)", "dn_pre = dn")]})
    with pytest.raises(CheckFailure) as info:
        gru_step_bwd(s, "dx")
    message = str(info.value)
    assert "replay with seed=" in message and " case N=" in message
    seed, case = re.search(r"replay with seed=(\d+), case='(\w+)'", message).groups()
    with pytest.raises(CheckFailure) as again:  # the replay gives exactly the same failure
        S.check_gru_step_backward(s["gru_step_forward"], s["gru_step_backward"], "dx",
                                  seed=int(seed), case=case)
    assert str(again.value) == message


def test_replay_with_case_reproduces_an_edge_case(solution, capsys):
    S.check_lstm_forward(solution["lstm_forward"], seed=6, case="single")  # case= works here too
    assert "OK (1 case)" in capsys.readouterr().out
    _, _, dims = _case("single", seed=6)
    assert dims[:2] == (1, 1)
    assert a03.CASES_HIDDEN[0] == "regular"  # the visible seed=0


def test_bad_grad_name_is_a_programming_error(solution):
    with pytest.raises(ValueError):
        lstm_bwd(solution, "dc0")


def test_gru_reset_gate_in_the_input_side_gradient_is_named():
    s = load({"gru_step_backward": [("du = np.concatenate([dr_pre, dz_pre, dn_pre], axis=1)",
                                     "du = np.concatenate([dr_pre, dz_pre, dn_pre * r], axis=1)")]})
    with pytest.raises(CheckFailure, match=r"also multiplied into the gradient of the input "
                                           r"side") as info:
        gru_step_bwd(s, "dW_x")
    assert info.value.causes == ["r_in_dun"]
    with pytest.raises(CheckFailure, match=r"input side"):
        gru_bwd(s, "db_x")


def test_two_mistakes_at_once_are_both_named():
    s = load({"gru_step_backward": [("dn_pre = dn * (1.0 - n ** 2)", "dn_pre = dn"),
                                    ("dz_pre = dz * z * (1.0 - z)", "dz_pre = dz")]})
    with pytest.raises(CheckFailure, match=r"two mistakes at once") as info:
        gru_step_bwd(s, "dW_h")
    assert sorted(info.value.causes) == ["no_sigmoid_derivative_z", "no_tanh_derivative"]
