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


# ----------------------------------------------------------------- distinct sizes
def test_regular_cases_draw_distinct_sizes():
    """A swapped axis or a transposed matrix cannot pass by accident: in every regular case
    (the visible one included) the sizes differ from one another."""
    from autograder import a02, a03, a04
    from autograder.harness import Case, distinct_sizes
    for seed in range(20):
        def rng():
            return np.random.default_rng(seed)

        def case():
            return Case("regular", seed, rng())
        assert len(set(a01._draw(case())[1])) == 4
        logits = a01._loss_case(rng(), "regular")[0]
        assert len(set(logits.shape)) == 3
        p = a02._jordan_case(case())[0]
        assert len({*p["x"].shape, *p["W_yh"].shape}) == 5          # N, T, D, H, C
        ids, h0, params, k1, k2 = a02._lm_case(case())
        assert len({ids.shape[0], ids.shape[1] - 1, *params["W_xh"].shape}) == 4 and k1 < k2
        assert len(set(a03._params(case(), 4)[2])) == 4
        args, _ = a04._sdpa_case(case())
        assert len({*args["q"].shape, args["k"].shape[1], args["v"].shape[2]}) == 5
    assert sorted(distinct_sizes(np.random.default_rng(0), (1, 3), (1, 3))) == [1, 2]


def test_backward_spec_checks_the_forward_first_and_each_gradient_alone(solution):
    """harness.Backward, the test of every hand-written backward pass of a01-a03: an unknown
    gradient name is refused, a wrong forward is named before any gradient, and a backward
    that is wrong in one gradient fails that gradient only."""
    with pytest.raises(ValueError, match="grad must be one of"):
        a01.check_rnn_backward(solution["rnn_forward"], solution["rnn_backward"], "dW")

    def rnn_backward(dh, cache):
        dx, dh0, dW_xh, dW_hh, db_h = solution["rnn_backward"](dh, cache)
        return dx, dh0, dW_xh, dW_hh, 2 * db_h
    for grad in a01.SEQ_GRADS:
        if grad == "db_h":
            with pytest.raises(CheckFailure, match=r"db_h is wrong"):
                a01.check_rnn_backward(solution["rnn_forward"], rnn_backward, grad, seed=0)
        else:
            a01.check_rnn_backward(solution["rnn_forward"], rnn_backward, grad, seed=0)

    def rnn_forward(x, h0, W_xh, W_hh, b_h):
        h, cache = solution["rnn_forward"](x, h0, W_xh, W_hh, b_h)
        return h + 1e-3, cache
    with pytest.raises(CheckFailure, match=r"^Fix rnn_forward first") as info:
        a01.check_rnn_backward(rnn_forward, solution["rnn_backward"], "dx", seed=0)
    assert info.value.causes[0] == "fix_first:rnn_forward"


def test_dict_with_keys_names_what_is_missing():
    assert harness.dict_with_keys("grads", {"a": 1, "b": 2}, ["a"]) == {"a": 1, "b": 2}
    with pytest.raises(CheckFailure, match=r"grads must be a dict with the keys \['a', 'c'\]; "
                                           r"got dict with keys \['a', 'b'\]") as info:
        harness.dict_with_keys("grads", {"a": 1, "b": 2}, ["a", "c"])
    assert info.value.causes == ["wrong_keys"]
    with pytest.raises(CheckFailure, match="got list"):
        harness.dict_with_keys("grads", [1], ["a"])
