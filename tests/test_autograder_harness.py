"""Unit tests of autograder.harness: calling student code safely (exceptions, time limit,
in-place updates, arity), through the checks of a01."""
import numpy as np
import pytest

from autograder import a01, harness
from autograder.checks import CheckFailure
from course import load_master_functions

A01 = "a01-rnn"


@pytest.fixture(scope="module")
def solution():
    return load_master_functions(A01)


def test_unfinished_function_is_reported():
    def rnn_forward(*args):
        raise NotImplementedError()
    with pytest.raises(CheckFailure, match="not implemented yet"):
        a01.check_rnn_forward(rnn_forward, seed=0)


def test_crashing_function_is_reported_with_its_line():
    def rnn_step_forward(x, h_prev, W_xh, W_hh, b_h):
        return np.tanh(x @ W_xh + h_prev @ W_hh.T + b_h), None  # wrong: W_xh not transposed
    with pytest.raises(CheckFailure, match=r"raised ValueError: .*line \d+"):
        a01.check_rnn_step_forward(rnn_step_forward, seed=0)


def test_in_place_modification_is_reported_with_a_wrong_answer(solution):
    def rnn_forward(x, h0, W_xh, W_hh, b_h):
        x *= 1.0 + 1e-3
        return solution["rnn_forward"](x, h0, W_xh, W_hh, b_h)
    with pytest.raises(CheckFailure, match="modified its input `x` in place") as info:
        a01.check_rnn_forward(rnn_forward, seed=0)
    assert "modified_input" in info.value.causes


def test_in_place_modification_with_a_right_answer_passes(solution):
    def rnn_backward(dh, cache):
        out = solution["rnn_backward"](dh, cache)
        dh *= 0.0  # scribbles on its (copied) input after computing the right answer
        return out
    a01.check_rnn_backward(solution["rnn_forward"], rnn_backward, "dW_hh")


def test_wrong_return_arity_is_reported():
    with pytest.raises(CheckFailure, match="must return a tuple of 2"):
        a01.check_rnn_forward(lambda *a: np.zeros(3), seed=0)


def test_infinite_loop_times_out(monkeypatch):
    monkeypatch.setattr(harness, "TIME_LIMIT_S", 1)

    def rnn_forward(*args):
        while True:
            pass
    with pytest.raises(CheckFailure, match="did not finish within 1 s"):
        a01.check_rnn_forward(rnn_forward, seed=0)
