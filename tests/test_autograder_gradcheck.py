"""Unit tests of autograder.gradcheck: the oracles, and the self-check cells built on check_grads."""
import numpy as np
import pytest
import torch

from autograder.checks import rel_error
from autograder.gradcheck import numeric_vjp, torch_vjp
from course import load_master_functions

A01 = "a01-rnn"


@pytest.fixture(scope="module")
def solution():
    return load_master_functions(A01)


def test_numeric_vjp_is_precise_in_float64():
    rng = np.random.default_rng(0)
    x, up = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    num = numeric_vjp(lambda: np.tanh(x), x, up)
    exact = up * (1 - np.tanh(x) ** 2)
    assert np.max(rel_error(num, exact)) < 1e-8


def test_numeric_vjp_refuses_float32():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        numeric_vjp(lambda: x * 2, x, np.ones(3))


def test_torch_vjp_matches_numeric_gradient():
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((2, 3, 4)), "h0": rng.standard_normal((2, 5)),
              "W_xh": rng.standard_normal((5, 4)), "W_hh": rng.standard_normal((5, 5)) * 0.5,
              "b_h": rng.standard_normal(5)}
    from autograder import reference as ref
    up = rng.standard_normal((2, 3, 5))
    grads, _ = torch_vjp(ref.rnn_forward, inputs, up)

    def forward():
        t = {k: torch.tensor(v) for k, v in inputs.items()}
        return ref.rnn_forward(**t).numpy()

    for name in inputs:
        num = numeric_vjp(forward, inputs[name], up)
        assert np.max(rel_error(grads[name], num)) < 1e-7, name


def _self_check_cells(name):
    import nbformat
    from course import master_path
    return [c.source for c in nbformat.read(master_path(name), as_version=4).cells
            if c.cell_type == "code" and c.source.startswith("# Your own check")]


@pytest.mark.parametrize("name", ["a01-rnn", "a02-bptt", "a03-lstm-gru", "a04-attention",
                                  "a05-transformer"])
def test_self_check_cells_check_every_gradient_and_pass_the_master(name, capsys):
    cells = [c for c in _self_check_cells(name) if "check_grads(" in c]
    assert cells, "a self-check cell that compares every gradient"
    for source in cells:
        exec(source, load_master_functions(name))
    out = capsys.readouterr().out
    assert "WRONG" not in out and out.count(" ok") >= 3


def test_the_a03_self_check_flags_every_wrong_gradient(capsys):
    """The issue's case: a missing sigmoid derivative leaves dc_prev right, 5 others wrong."""
    ns = load_master_functions("a03-lstm-gru", {"lstm_step_backward": ("di * i * (1.0 - i)", "di")})
    exec([c for c in _self_check_cells("a03-lstm-gru") if "check_grads(" in c][0], ns)
    assert capsys.readouterr().out.count("WRONG") == 5


def test_check_grads_does_not_cry_wolf_on_saturated_units(solution, capsys):
    from autograder.gradcheck import check_grads
    rng = np.random.default_rng(1)
    x, h_prev = rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    W_xh, W_hh = 8 * rng.standard_normal((5, 4)), 8 * rng.standard_normal((5, 5))
    b_h, dh = rng.standard_normal(5), rng.standard_normal((3, 5))
    h, cache = solution["rnn_step_forward"](x, h_prev, W_xh, W_hh, b_h)
    assert np.min(1 - h ** 2) < 1e-12  # some units deeply saturated
    errors = check_grads(lambda: solution["rnn_step_forward"](x, h_prev, W_xh, W_hh, b_h)[0],
                         {"x": x, "h_prev": h_prev, "W_xh": W_xh, "W_hh": W_hh, "b_h": b_h},
                         dh, solution["rnn_step_backward"](dh, cache))
    assert max(errors.values()) < 1e-6 and "WRONG" not in capsys.readouterr().out
