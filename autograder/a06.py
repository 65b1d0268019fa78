"""Checks for assignment a06 (lab Task 1: your own numpy RNN, trained on a real series).

The network is the lab's many-to-one Elman network (book/labs/task1-rnn-by-hand.md):
    h_t = tanh(x_t @ W_xh.T + h_{t-1} @ W_hh.T + b_h),  h_0 = 0,  o = h_T @ W_hy.T + b_y
with the loss L = (1 / 2N) * sum_n |o_n - y_n|^2 (half the squared error, batch mean).

Two kinds of check:
- gradients, forward, loss and the SGD step, like a01: random shapes and values drawn at
  grading time (seed=None), each gradient compared on its own with torch autograd in
  float64 (`autograder.checks.check_close`, the course's one comparison);
- training (`check_training`): the student's `train_rnn(x, y, time_budget)` is called on
  the *training* windows of a series; it returns its parameters as arrays; the held-out
  metric is computed here, with the reference forward below, on windows that never reach
  the student's code. In the judge the call runs in the sandboxed worker and only the
  returned arrays come back.

The hidden training case uses a series the assignment never shows (drawn from HIDDEN_SERIES
at grading time), a random start, and a target rescaled as a*y + b with a secret sign and
scale: a trainer that learns from the (x, y) it is given passes; parameters fitted in
advance, or a trainer that does not train, cannot.
"""
from __future__ import annotations

import time

import numpy as np

from . import reference as ref
from .checks import CheckFailure, Mistakes, check_close, check_type
from .gradcheck import torch_vjp
from .harness import (HIDDEN, call, dict_with_keys, distinct_sizes, grad_mistakes, needed_first, run_cases,
                      terms_scale, unpack)

PARAMS = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")
CASES_HIDDEN = HIDDEN
TRAINING_CASES = ("visible", "hidden")  # seed=None runs "hidden"; a seed runs "visible"
_AXES = {"W_xh": ("H", "D"), "W_hh": ("H", "H"), "b_h": ("H",), "W_hy": ("C", "H"),
         "b_y": ("C",)}
TANH = {"no_tanh_derivative": "the tanh derivative (1 - h**2) is left out"}
CARRY = {"no_carry": "the gradient is not carried back from step t+1 to step t"}

# The training check (stated in the assignment). The metric is the held-out RMSE of the
# student's network divided by the RMSE of a linear autoregression on the same three values,
# fitted by least squares on the same training windows ("relative RMSE", lower is better;
# 1.0 = as good as the best linear predictor). Calibration (scripts/calibrate_a06.py): over
# 30 hidden draws the master reached 0.979-1.017 (100 draws with a wall-clock budget on a
# heavily loaded machine: at most 1.103); a trainer that does not train is at 2.3 or more,
# one that steps uphill (wrong gradient sign) in the thousands, and one without clipping at
# a large learning rate diverges (inf) in most draws. 1.15 leaves room for correct trainers
# that are less tuned than the master.
THRESHOLD = 1.15
TIME_BUDGET_S = 4.0   # CPU seconds passed to train_rnn; it should stop within this
TIME_LIMIT_S = 8.0    # wall time allowed for the call (2x the budget: a loaded machine)
MAX_HIDDEN = 256
HIDDEN_SERIES = ("Seattle daily minimum temperature", "Seattle daily mid-range temperature")


# ---------------------------------------------------------------- reference network
def reference_net(x, W_xh, W_hh, b_h, W_hy, b_y, mistakes=None):
    """o (N, C) of the many-to-one network, in torch (the oracle and the trusted forward).
    mistakes: those of `reference.rnn_forward` ("no_tanh_derivative", "no_carry")."""
    import torch
    h0 = torch.zeros(x.shape[0], W_hh.shape[0], dtype=x.dtype)      # (N, H)
    h = ref.rnn_forward(x, h0, W_xh, W_hh, b_h, mistakes)             # (N, T, H)
    return h[:, -1] @ W_hy.T + b_y                                     # (N, C)


def predict(params: dict, x: np.ndarray) -> np.ndarray:
    """The trusted forward pass of the student's parameters on inputs x (N, T, D)."""
    _, o = torch_vjp(reference_net, {"x": x, **params}, None, wrt=[])
    return o


def _net_case(c):
    rng, kind = c.rng, c.kind
    if kind == "single":
        N, T = 1, 1
        D, H, C = int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
    else:  # all five different (the tightest ranges drawn first, so that they can be)
        C, D, N, T, H = distinct_sizes(rng, (1, 4), (1, 5), (2, 6), (2, 7), (2, 8))
    scale = 3.0 if kind == "saturated" else 0.7
    p = {"W_xh": scale * rng.standard_normal((H, D)) / np.sqrt(D),
         "W_hh": scale * rng.standard_normal((H, H)) / np.sqrt(H),
         "b_h": 0.1 * rng.standard_normal(H),
         "W_hy": rng.standard_normal((C, H)) / np.sqrt(H),
         "b_y": 0.1 * rng.standard_normal(C)}
    x = rng.standard_normal((N, T, D))
    c.label = f"{kind} case N={N}, T={T}, D={D}, H={H}, C={C}"
    return x, p, (N, T, D, H, C)


def _student_forward(forward, p, x):
    out = call("forward", forward, dict(p), x, arg_names=("params", "x"))
    return unpack("forward", out, 2)


# ---------------------------------------------------------------- forward, loss, backward
def check_forward(forward, seed=None, case=None):
    def body(c):
        x, p, _ = _net_case(c)
        expected = predict(p, x)
        o, _ = _student_forward(forward, p, x)
        check_close("o", o, expected, axes=("N", "C"))
    run_cases("forward", seed, case, body)


MSE_MISTAKES = {"no_batch_mean": "the loss is not averaged over the batch (no 1/N)",
                "no_half": "the factor 1/2 of the loss is left out",
                "wrong_sign": "the gradient has the sign of y - o"}


def check_mse_loss(mse_loss, seed=None, case=None):
    """mse_loss(o, y) -> (L, d_o): L = sum((o - y)**2) / (2N), d_o = dL/do."""
    def body(c):
        rng = c.rng
        if c.kind == "single":
            N, C = 1, int(rng.integers(1, 5))
        else:
            N, C = distinct_sizes(rng, (2, 7), (1, 5))
        c.label = f"{c.kind} case N={N}, C={C}"
        o = rng.standard_normal((N, C)) * (50.0 if c.kind == "saturated" else 1.0)
        y = rng.standard_normal((N, C))
        grads, L = torch_vjp(lambda o, y: 0.5 * ((o - y) ** 2).sum() / N, {"o": o, "y": y},
                             None, wrt=["o"])
        L_got, d_o = unpack("mse_loss", call("mse_loss", mse_loss, o, y, arg_names=("o", "y")),
                            2)
        check_close("L", L_got, np.asarray(L), known=Mistakes.of({
            k: (MSE_MISTAKES[k], v) for k, v in (
                ("no_batch_mean", lambda: L * N if N > 1 else None),
                ("no_half", lambda: 2 * L))}))
        check_close("d_o", d_o, grads["o"], axes=("N", "C"), known=Mistakes.of({
            k: (MSE_MISTAKES[k], v) for k, v in (
                ("no_batch_mean", lambda: grads["o"] * N if N > 1 else None),
                ("no_half", lambda: 2 * grads["o"]),
                ("wrong_sign", lambda: -grads["o"]))}))
    run_cases("mse_loss", seed, case, body)


def check_backward(forward, backward, grad, seed=None, case=None):
    """Check one gradient (one of PARAMS) of backward(params, cache, d_o) -> dict."""
    if grad not in PARAMS:
        raise ValueError(f"grad must be one of {PARAMS}")

    def body(c):
        x, p, (N, _, _, _, C) = _net_case(c)
        d_o = c.rng.standard_normal((N, C))
        inputs = {"x": x, **p}
        grads, o_ref = torch_vjp(reference_net, inputs, d_o, wrt=list(PARAMS))
        o, cache = _student_forward(forward, p, x)
        needed_first("forward", lambda: check_close("o", o, o_ref, axes=("N", "C")))
        out = call("backward", backward, dict(p), cache, d_o,
                   arg_names=("params", "cache", "d_o"))
        dict_with_keys("what backward returns", out, PARAMS)
        check_close(f"grads['{grad}']", out[grad], grads[grad], axes=_AXES[grad],
                    scale=terms_scale(reference_net, inputs, d_o, grad, set(TANH)),
                    known=grad_mistakes({**TANH, **CARRY}, reference_net, inputs, d_o, grad))
    run_cases(f"backward {grad}", seed, case, body)


SGD_MISTAKES = {"uphill": "the step goes uphill (params + lr * grad)",
                "no_clipping": "the gradient is not clipped",
                "per_array_norm": "each array is clipped by its own norm instead of the "
                                  "global norm"}


def check_sgd_step(sgd_step, seed=None, case=None):
    """sgd_step(params, grads, lr, max_norm) -> (new_params, total_norm): clip the global
    norm of the gradients to max_norm, then params - lr * clipped; inputs unchanged."""
    def body(c):
        rng = c.rng
        _, p, _ = _net_case(c)
        g = {k: rng.standard_normal(v.shape) * (30.0 if c.kind == "saturated" else 1.0)
             for k, v in p.items()}
        total = float(np.sqrt(sum(np.sum(v ** 2) for v in g.values())))
        max_norm = total * (2.0 if c.kind == "below" else float(rng.uniform(0.1, 0.9)))
        lr = float(rng.uniform(0.01, 0.5))
        scale = min(1.0, max_norm / total)
        c.label += f", total norm {'below' if c.kind == 'below' else 'above'} max_norm"
        out = call("sgd_step", sgd_step, p, g, lr, max_norm,
                   arg_names=("params", "grads", "lr", "max_norm"))
        new, norm = unpack("sgd_step", out, 2)
        dict_with_keys("what sgd_step returns", new, PARAMS)
        check_close("total_norm", norm, np.asarray(total))
        for k in PARAMS:
            def wrong(mistake, k=k):
                return {"uphill": lambda: p[k] + lr * scale * g[k],
                        "no_clipping": lambda: p[k] - lr * g[k],
                        "per_array_norm": lambda: p[k] - lr * g[k] * min(
                            1.0, max_norm / np.linalg.norm(g[k]))}[mistake]
            check_close(f"new_params['{k}']", new[k], p[k] - lr * scale * g[k],
                        axes=_AXES[k],
                        known=Mistakes.of({m: (SGD_MISTAKES[m], wrong(m))
                                           for m in SGD_MISTAKES}))
    run_cases("sgd_step", seed, case, body, HIDDEN + ("below",))


# ---------------------------------------------------------------- training
def _windows(series: np.ndarray) -> np.ndarray:
    idx = np.arange(len(series) - 3)[:, None] + np.arange(4)          # (M, 4)
    return series[idx]


def hidden_series(name: str) -> np.ndarray:
    """A real daily series the assignment never shows (vega_datasets' Seattle weather)."""
    from vega_datasets import data
    df = data.seattle_weather()
    lo, hi = df["temp_min"].to_numpy(float), df["temp_max"].to_numpy(float)
    return {"Seattle daily minimum temperature": lo,
            "Seattle daily mid-range temperature": (lo + hi) / 2}[name]


def training_task(rng, kind: str):
    """(description, (x_train, y_train), (x_test, y_test)), standardised with the training
    windows' statistics. kind "visible": the lab's Task 1 temperature split, target as is;
    kind "hidden": a hidden series from a random start, 70/30 in time, target a*y + b."""
    if kind == "visible":
        from seqlab.labs.task1 import load_task1
        d = load_task1("temperature")
        tr = np.c_[d.x_train[:, :, 0], d.y_train]
        te = np.c_[d.x_test[:, :, 0], d.y_test]
        a, b, name = 1.0, 0.0, "Seattle daily maximum temperature (the lab's split)"
    else:
        name = HIDDEN_SERIES[int(rng.integers(len(HIDDEN_SERIES)))]
        s = hidden_series(name)
        s = s[int(rng.integers(0, len(s) // 10)):]
        cut = int(0.7 * len(s))
        tr, te = _windows(s[:cut]), _windows(s[cut:])   # no window straddles the cut
        a = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0))
        b = float(rng.uniform(-1.0, 1.0))
    mu, sd = tr[:, :3].mean(), tr[:, :3].std()

    def xy(w):
        return (w[:, :3, None] - mu) / sd, a * (w[:, 3:] - mu) / sd + b   # (M, 3, 1), (M, 1)
    return name, xy(tr), xy(te)


def linear_rmse(train, test) -> float:
    """Held-out RMSE of least-squares linear regression on the three inputs (the yardstick)."""
    X = np.c_[train[0][:, :, 0], np.ones(len(train[0]))]
    w = np.linalg.lstsq(X, train[1], rcond=None)[0]
    Xt = np.c_[test[0][:, :, 0], np.ones(len(test[0]))]
    return float(np.sqrt(np.mean((Xt @ w - test[1]) ** 2)))


def _check_params(params):
    dict_with_keys("what train_rnn returns", params, PARAMS)
    W_hh = check_type("params['W_hh']", params["W_hh"])
    if W_hh.ndim != 2 or W_hh.shape[0] != W_hh.shape[1] or not 1 <= W_hh.shape[0] <= MAX_HIDDEN:
        raise CheckFailure(f"params['W_hh'] must be (H, H) with 1 <= H <= {MAX_HIDDEN}, got "
                           f"shape {W_hh.shape}.", ["wrong_shape"])
    H = W_hh.shape[0]
    shapes = {"W_xh": (H, 1), "W_hh": (H, H), "b_h": (H,), "W_hy": (1, H), "b_y": (1,)}
    return {k: check_type(f"params['{k}']", params[k], shape=shapes[k]) for k in PARAMS}


def relative_rmse(params, train, test) -> float:
    o = predict(params, test[0])
    return float(np.sqrt(np.mean((o - test[1]) ** 2))) / linear_rmse(train, test)


def check_training(train_rnn, seed=None, case=None):
    """train_rnn(x (N, 3, 1), y (N, 1), time_budget) -> params must reach a relative RMSE
    <= THRESHOLD on held-out windows it never sees, returning within TIME_LIMIT_S.
    seed=None: one hidden case; a seed: the visible case (case="hidden" replays a hidden one)."""
    def body(c):
        name, train, test = training_task(c.rng, c.kind)
        c.label = f"{c.kind} training case: {len(train[0])} training windows"
        t0 = time.perf_counter()
        params = call("train_rnn", train_rnn, train[0], train[1], TIME_BUDGET_S,
                      arg_names=("x", "y", "time_budget"))
        seconds = time.perf_counter() - t0
        if seconds > TIME_LIMIT_S:
            raise CheckFailure(f"train_rnn took {seconds:.1f} s; it must stop after "
                               f"time_budget = {TIME_BUDGET_S:g} s of CPU time (at most "
                               f"{TIME_LIMIT_S:g} s of wall time are accepted).",
                               ["over_time_budget"])
        params = _check_params(params)
        with np.errstate(all="ignore"):
            r = relative_rmse(params, train, test)
        if not np.isfinite(r) or r > THRESHOLD:
            raise CheckFailure(
                f"held-out relative RMSE {r:.3f} > {THRESHOLD} (your network's RMSE on "
                "windows it was not trained on, divided by that of a least-squares linear "
                "predictor). Does the training loss go down? Check the sign of the "
                "update, the learning rate and the clipping, and train for longer.",
                ["above_threshold" if np.isfinite(r) else "diverged"])
        where = name if c.kind == "visible" else "a series you have not seen"
        print(f"train_rnn ({c.kind}, {where}): held-out relative RMSE {r:.3f} "
              f"<= {THRESHOLD}, trained in {seconds:.1f} s")
    run_cases("train_rnn", seed, case, body,
              TRAINING_CASES[1:] if seed is None else TRAINING_CASES)
