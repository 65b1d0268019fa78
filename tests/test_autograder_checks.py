"""Unit tests of autograder.checks: strict types, fair tolerances, messages and diagnoses."""
import numpy as np
import pytest
import torch

from autograder.checks import CheckFailure, check_close, check_type, rel_error


def test_broadcastable_shape_is_rejected():
    with pytest.raises(CheckFailure, match=r"shape \(3, 1\), expected \(3,\)"):
        check_close("v", np.ones((3, 1)), np.ones(3))


def test_transposed_shape_is_named():
    with pytest.raises(CheckFailure, match="transposed shape"):
        check_close("dW", np.ones((2, 3)), np.ones((3, 2)))


@pytest.mark.parametrize("value, message", [
    (np.ones(3, dtype=np.float32), "dtype float32"),
    ([1.0, 1.0, 1.0], "must be a numpy array"),
    (torch.ones(3, dtype=torch.float64), "torch tensor"),
    (np.array([1.0, np.nan, 1.0]), "NaN or inf"),
    (None, "is None"),
])
def test_bad_types_get_clear_messages(value, message):
    with pytest.raises(CheckFailure, match=message):
        check_type("v", value, shape=(3,))


def test_worst_index_is_reported_zero_based_with_its_numpy_expression():
    expected = np.zeros((2, 4, 3))
    got = expected.copy()
    got[1, 2, 0] = 0.5
    with pytest.raises(CheckFailure, match=r"\[N=1, T=2, H=0\] \(0-based: dh\[1, 2, 0\]\)"):
        check_close("dh", got, expected, axes=("N", "T", "H"))


def test_equal_arrays_pass_and_rel_error_is_symmetric():
    a = np.random.default_rng(0).standard_normal((4, 5))
    check_close("a", a.copy(), a)
    assert np.allclose(rel_error(a, 2 * a), rel_error(2 * a, a))


def test_a_factor_of_one_is_no_diagnosis():
    expected = np.random.default_rng(0).standard_normal((3, 4))
    with pytest.raises(CheckFailure) as info:
        check_close("g", expected * (1 + 1e-7), expected)
    assert "times" not in str(info.value) and info.value.causes == []


def test_check_failure_carries_its_causes_through_pickle():
    import pickle
    e = pickle.loads(pickle.dumps(CheckFailure("dW is wrong", ["no_carry", "no_tanh_derivative"])))
    assert str(e) == "dW is wrong" and e.causes == ["no_carry", "no_tanh_derivative"]
    assert CheckFailure("plain").causes == []
