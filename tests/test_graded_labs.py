"""a06 and a07, the graded lab work: the masters pass every hidden check, known mistakes
are caught with their cause named, and the training checks separate a trainer that learns
from ones that do not (the full calibration is scripts/calibrate_a06.py / calibrate_a07.py).
"""
import re

import numpy as np
import pytest

from autograder import a06, a07
from autograder.checks import CheckFailure
from course import load_master_functions

A06, A07 = "a06-rnn-training", "a07-review-classifier"


def test_a06_master_passes_every_hidden_check():
    s = load_master_functions(A06)
    for _ in range(5):
        a06.check_forward(s["forward"])
        a06.check_mse_loss(s["mse_loss"])
        for g in a06.PARAMS:
            a06.check_backward(s["forward"], s["backward"], g)
        a06.check_sgd_step(s["sgd_step"])


@pytest.mark.parametrize("grad, mutation, cause, name", [
    ("W_hh", ("da = dh * (1.0 - hs[t] ** 2)", "da = dh"), "tanh derivative",
     "no_tanh_derivative"),
    ("W_xh", ("dh = da @ params", "dh = 0 * da @ params"), "not carried back", "no_carry"),
    ("W_hh", ('grads["W_hh"] += da.T @ hs[t - 1]', 'grads["W_hh"] += hs[t - 1].T @ da'),
     "transpose", "transposed"),
])
def test_a06_backward_mistakes_are_named(grad, mutation, cause, name):
    s = load_master_functions(A06, {"backward": mutation})
    with pytest.raises(CheckFailure, match=cause) as e:
        a06.check_backward(s["forward"], s["backward"], grad, seed=3)
    assert name in e.value.causes


def test_a06_sgd_step_uphill_is_named():
    s = load_master_functions(A06, {"sgd_step": ("params[k] - lr * scale", "params[k] + lr * scale")})
    with pytest.raises(CheckFailure, match="uphill") as e:
        a06.check_sgd_step(s["sgd_step"], seed=0)
    assert e.value.causes == ["uphill"]


@pytest.mark.parametrize("mutation, name", [
    (("d_o = e / N", "d_o = e"), "no_batch_mean"),
    (("d_o = e / N", "d_o = -e / N"), "wrong_sign"),
    (("L = 0.5 * float(", "L = float("), "no_half"),
])
def test_a06_mse_loss_mistakes_are_named(mutation, name):
    s = load_master_functions(A06, {"mse_loss": mutation})
    with pytest.raises(CheckFailure) as e:
        a06.check_mse_loss(s["mse_loss"], seed=0)
    assert name in e.value.causes


def test_a06_a_hidden_failure_replays_with_its_seed_and_case():
    s = load_master_functions(A06, {"backward": ("da = dh * (1.0 - hs[t] ** 2)", "da = dh")})
    with pytest.raises(CheckFailure) as e:
        a06.check_backward(s["forward"], s["backward"], "W_xh")
    seed, case = re.search(r"replay with seed=(\d+), case='(\w+)'", str(e.value)).groups()
    with pytest.raises(CheckFailure) as again:
        a06.check_backward(s["forward"], s["backward"], "W_xh", seed=int(seed), case=case)
    assert str(again.value) == str(e.value)


def test_a06_training_check_passes_master_and_fails_broken_trainers():
    a06.check_training(load_master_functions(A06)["train_rnn"])          # a hidden draw
    for cell, mutation in (("train_rnn", ("32, 3000", "32, 0")),           # no training
                           ("sgd_step", ("params[k] - lr * scale", "params[k] + lr * scale"))):
        train = load_master_functions(A06, {cell: mutation})["train_rnn"]
        with pytest.raises(CheckFailure, match="relative RMSE") as e:
            with np.errstate(all="ignore"):
                a06.check_training(train)
        assert e.value.causes[0] in ("above_threshold", "diverged", "nonfinite")
        assert "case='hidden'" in str(e.value)


def test_a06_hidden_task_never_uses_the_visible_series():
    rng = np.random.default_rng(0)
    _, visible, _ = a06.training_task(rng, "visible")
    for _ in range(5):
        name, train, test = a06.training_task(rng, "hidden")
        assert name in a06.HIDDEN_SERIES and "maximum" not in name
        assert len(train[0]) > 500 and len(test[0]) > 200


def test_a07_master_model_passes_and_unpacked_model_is_named():
    s = load_master_functions(A07)
    a07.check_model(s["ReviewClassifier"])
    a07.check_model(s["ReviewClassifier"], seed=None)
    bad = load_master_functions(A07, {"ReviewClassifier": (
        "packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths.cpu(),\n"
        "                                                   batch_first=True, enforce_sorted=False)",
        "packed = self.embed(ids)")})
    with pytest.raises(CheckFailure, match="padding is read as words") as e:
        a07.check_model(bad["ReviewClassifier"], seed=0)
    assert e.value.causes == ["reads_padding"]


def test_a07_training_check_passes_master_and_fails_a_trainer_that_never_steps():
    a07.check_training(load_master_functions(A07)["train_classifier"])
    lazy = load_master_functions(A07, {"train_classifier": ("opt.step()", "pass")})
    with pytest.raises(CheckFailure, match="held-out accuracy") as e:
        a07.check_training(lazy["train_classifier"])
    assert e.value.causes == ["below_threshold"]


def test_a07_hidden_ids_are_permuted_and_held_out_sentences_are_not_sent():
    d = a07.load_review_ids()
    train, held, V = a07.training_task(np.random.default_rng(1), "hidden")
    assert V == len(d["vocab"])
    assert not np.array_equal(train[0], d["train"][0])                 # renumbered
    assert np.array_equal(train[0] == 0, d["train"][0] == 0)           # padding kept
    assert len(held[2]) == len(d["val"][2]) + len(d["test"][2])


# ---------------------------------------------------------------- fairness (issue 7 item 4)
def _alt_forward(params, x):
    """A different correct forward: keeps pre-activations, einsum instead of @."""
    N, T, _ = x.shape
    h, hs, pre = np.zeros((N, params["W_hh"].shape[0])), [], []
    for t in range(T):
        a = np.einsum("nd,hd->nh", x[:, t], params["W_xh"]) + \
            np.einsum("nk,hk->nh", h, params["W_hh"]) + params["b_h"]
        hs.append(h)
        pre.append(a)
        h = np.tanh(a)
    return np.einsum("nh,ch->nc", h, params["W_hy"]) + params["b_y"], (x, hs, pre, h)


def _alt_backward(params, cache, d_o):
    """tanh' as 1 / cosh(a)**2 from the pre-activation; gradients summed with einsum."""
    x, hs, pre, h_T = cache
    g = {"W_hy": np.einsum("nc,nh->ch", d_o, h_T), "b_y": d_o.sum(0)}
    dh = np.einsum("nc,ch->nh", d_o, params["W_hy"])
    das = []
    for t in reversed(range(x.shape[1])):
        da = dh / np.cosh(pre[t]) ** 2
        das.append(da)
        dh = np.einsum("nh,hk->nk", da, params["W_hh"])
    das = np.stack(das[::-1], axis=1)                                   # (N, T, H)
    g["W_xh"] = np.einsum("nth,ntd->hd", das, x)
    g["W_hh"] = np.einsum("nth,ntk->hk", das, np.stack(hs, axis=1))
    g["b_h"] = das.sum((0, 1))
    return g


@pytest.mark.parametrize("impl", ["master", "alternative"])
def test_a06_hidden_gradient_checks_never_fail_correct_code(impl):
    """Every hidden check of parts 1-4 re-drawn 1000 times (FAIRNESS_DRAWS; each draw is 4
    cases), against the master and a differently written correct forward/backward."""
    import os
    draws = int(os.environ.get("FAIRNESS_DRAWS", "1000"))
    s = load_master_functions(A06)
    fwd, bwd = (s["forward"], s["backward"]) if impl == "master" else (_alt_forward, _alt_backward)
    for _ in range(draws):
        a06.check_forward(fwd)
        for g in a06.PARAMS:
            a06.check_backward(fwd, bwd, g)
        if impl == "master":
            a06.check_mse_loss(s["mse_loss"])
            a06.check_sgd_step(s["sgd_step"])


def _alt_review_classifier():
    import torch
    import torch.nn as nn

    class SortedClassifier(nn.Module):
        """Correct too: sorts the batch by length for pack_padded_sequence, then unsorts."""
        def __init__(self, vocab_size, emb, hidden, cell="gru", bidirectional=False):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
            self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(
                emb, hidden, batch_first=True, bidirectional=bidirectional)
            self.out = nn.Linear(hidden * (2 if bidirectional else 1), 1)

        def forward(self, ids, lengths):
            order = torch.argsort(lengths, descending=True)
            packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids[order]), lengths[order],
                                                       batch_first=True)
            out = self.rnn(packed)[1]
            h_n = out[0] if isinstance(out, tuple) else out                # (dirs, N, H)
            logits = self.out(h_n.permute(1, 0, 2).reshape(len(ids), -1))[:, 0]
            return logits[torch.argsort(order)]
    return SortedClassifier


@pytest.mark.parametrize("impl", ["master", "alternative"])
def test_a07_hidden_model_check_never_fails_correct_code(impl):
    import os
    draws = int(os.environ.get("FAIRNESS_DRAWS", "1000"))
    cls = load_master_functions(A07)["ReviewClassifier"] if impl == "master" \
        else _alt_review_classifier()
    for _ in range(draws):
        a07.check_model(cls)


@pytest.mark.parametrize("grad, mutation", [
    ("W_hh", ("da = dh * (1.0 - hs[t] ** 2)", "da = dh")),
    ("W_xh", ("dh = da @ params", "dh = 0 * da @ params")),
    ("b_h", ("dh = da @ params", "dh = 0 * da @ params")),
])
def test_a06_known_mistakes_are_caught_in_99_percent_of_hidden_draws(grad, mutation):
    s = load_master_functions(A06, {"backward": mutation})
    caught = 0
    for _ in range(200):
        try:
            a06.check_backward(s["forward"], s["backward"], grad)
        except CheckFailure:
            caught += 1
    assert caught >= 198, f"caught in {caught} of 200 draws"
