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

import secrets
import time

import numpy as np

from . import reference as ref
from .checks import CheckFailure, check_close, check_type
from .gradcheck import torch_vjp
from .harness import call, case_seeds, unpack, with_seed

PARAMS = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")
CASES_VISIBLE = ("regular",)
CASES_HIDDEN = ("regular", "regular", "single", "saturated")
_AXES = {"W_xh": ("H", "D"), "W_hh": ("H", "H"), "b_h": ("H",), "W_hy": ("C", "H"),
         "b_y": ("C",)}

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


def _ok(what, n):
    print(f"{what}: OK ({n} case{'s' if n > 1 else ''})")


# ---------------------------------------------------------------- reference network
def reference_net(x, W_xh, W_hh, b_h, W_hy, b_y, mistake=None):
    """o (N, C) of the many-to-one network, in torch (the oracle and the trusted forward)."""
    import torch
    h0 = torch.zeros(x.shape[0], W_hh.shape[0], dtype=x.dtype)      # (N, H)
    h = ref.rnn_forward(x, h0, W_xh, W_hh, b_h, mistake)              # (N, T, H)
    return h[:, -1] @ W_hy.T + b_y                                     # (N, C)


def predict(params: dict, x: np.ndarray) -> np.ndarray:
    """The trusted forward pass of the student's parameters on inputs x (N, T, D)."""
    _, o = torch_vjp(reference_net, {"x": x, **params}, None, wrt=[])
    return o


def _net_case(rng, kind):
    if kind == "single":
        N, T = 1, 1
        D, H, C = int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
    else:
        N, T = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        D, H, C = int(rng.integers(1, 5)), int(rng.integers(2, 7)), int(rng.integers(1, 4))
        if D == H:
            H += 1  # non-square W_xh exposes transposes
        if C == H:
            C += 1
    scale = 3.0 if kind == "saturated" else 0.7
    p = {"W_xh": scale * rng.standard_normal((H, D)) / np.sqrt(D),
         "W_hh": scale * rng.standard_normal((H, H)) / np.sqrt(H),
         "b_h": 0.1 * rng.standard_normal(H),
         "W_hy": rng.standard_normal((C, H)) / np.sqrt(H),
         "b_y": 0.1 * rng.standard_normal(C)}
    x = rng.standard_normal((N, T, D))
    return x, p, (N, T, D, H, C)


def _label(kind, dims):
    N, T, D, H, C = dims
    return f"{kind} case N={N}, T={T}, D={D}, H={H}, C={C}"


def _student_forward(forward, p, x):
    out = call("forward", forward, dict(p), x, arg_names=("params", "x"))
    return unpack("forward", out, 2)


# ---------------------------------------------------------------- forward, loss, backward
def check_forward(forward, seed=None, case=None):
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, s in cases:
        x, p, dims = _net_case(rng, kind)
        expected = predict(p, x)
        try:
            o, _ = _student_forward(forward, p, x)
            check_close("o", o, expected, axes=("N", "C"))
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), s, _label(kind, dims), kind)) from None
    _ok("forward", len(cases))


def check_mse_loss(mse_loss, seed=None, case=None):
    """mse_loss(o, y) -> (L, d_o): L = sum((o - y)**2) / (2N), d_o = dL/do."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, s in cases:
        N = 1 if kind == "single" else int(rng.integers(2, 7))
        C = int(rng.integers(1, 5))
        o = rng.standard_normal((N, C)) * (50.0 if kind == "saturated" else 1.0)
        y = rng.standard_normal((N, C))
        grads, L = torch_vjp(lambda o: 0.5 * ((o - __import__("torch").tensor(y)) ** 2)
                             .sum() / N, {"o": o}, None)
        label = f"{kind} case N={N}, C={C}"
        try:
            L_got, d_o = unpack("mse_loss", call("mse_loss", mse_loss, o, y,
                                                 arg_names=("o", "y")), 2)
            check_close("L", L_got, np.asarray(L))
            check_close("d_o", d_o, grads["o"], axes=("N", "C"),
                        known={"the loss is not averaged over the batch (no 1/N)":
                               grads["o"] * N if N > 1 else None,
                               "the gradient has the sign of y - o": -grads["o"]})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), s, label, kind)) from None
    _ok("mse_loss", len(cases))


def check_backward(forward, backward, grad, seed=None, case=None):
    """Check one gradient (one of PARAMS) of backward(params, cache, d_o) -> dict."""
    if grad not in PARAMS:
        raise ValueError(f"grad must be one of {PARAMS}")
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, s in cases:
        x, p, dims = _net_case(rng, kind)
        N, C = dims[0], dims[4]
        d_o = rng.standard_normal((N, C))
        inputs = {"x": x, **p}
        grads, o_ref = torch_vjp(reference_net, inputs, d_o, wrt=list(PARAMS))
        known = {}
        for cause, mistake in (("the tanh derivative (1 - h**2) is left out",
                                "no_tanh_derivative"),
                               ("the gradient is not carried back from step t+1 to step t",
                                "no_carry")):
            g, _ = torch_vjp(lambda **k: reference_net(**k, mistake=mistake), inputs, d_o,
                             wrt=list(PARAMS))
            known[cause] = g[grad]
        try:
            o, cache = _student_forward(forward, p, x)
            check_close("o (from forward, needed first)", o, o_ref)
            out = call("backward", backward, dict(p), cache, d_o,
                       arg_names=("params", "cache", "d_o"))
            if not isinstance(out, dict) or grad not in out:
                raise CheckFailure(f"backward must return a dict with the keys {PARAMS}; "
                                   f"got {type(out).__name__}"
                                   + (f" with keys {sorted(out)}" if isinstance(out, dict)
                                      else ""))
            check_close(f"grads['{grad}']", out[grad], grads[grad], axes=_AXES[grad],
                        known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), s, _label(kind, dims), kind)) from None
    _ok(f"backward {grad}", len(cases))


def check_sgd_step(sgd_step, seed=None, case=None):
    """sgd_step(params, grads, lr, max_norm) -> (new_params, total_norm): clip the global
    norm of the gradients to max_norm, then params - lr * clipped; inputs unchanged."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN + ("below",))
    for kind, rng, s in cases:
        _, p, dims = _net_case(rng, "regular")
        g = {k: rng.standard_normal(v.shape) * (30.0 if kind == "saturated" else 1.0)
             for k, v in p.items()}
        total = float(np.sqrt(sum(np.sum(v ** 2) for v in g.values())))
        max_norm = total * (2.0 if kind == "below" else float(rng.uniform(0.1, 0.9)))
        lr = float(rng.uniform(0.01, 0.5))
        scale = min(1.0, max_norm / total)
        label = f"{kind} case: total norm {'below' if kind == 'below' else 'above'} max_norm"
        try:
            out = call("sgd_step", sgd_step, p, g, lr, max_norm,
                       arg_names=("params", "grads", "lr", "max_norm"))
            new, norm = unpack("sgd_step", out, 2)
            if not isinstance(new, dict) or set(new) != set(PARAMS):
                raise CheckFailure(f"sgd_step must return a dict with the keys {PARAMS}.")
            check_close("total_norm", norm, np.asarray(total))
            for k in PARAMS:
                check_close(f"new_params['{k}']", new[k], p[k] - lr * scale * g[k],
                            axes=_AXES[k],
                            known={"the step goes uphill (params + lr * grad)":
                                   p[k] + lr * scale * g[k],
                                   "the gradient is not clipped": p[k] - lr * g[k],
                                   "each array is clipped by its own norm":
                                       p[k] - lr * g[k] * min(1.0, max_norm /
                                                              np.linalg.norm(g[k]))})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), s, label, kind)) from None
    _ok("sgd_step", len(cases))


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
    if not isinstance(params, dict) or not set(PARAMS) <= set(params):
        raise CheckFailure(f"train_rnn must return a dict with the keys {PARAMS}; got "
                           f"{type(params).__name__}"
                           + (f" with keys {sorted(params)}" if isinstance(params, dict) else ""))
    W_hh = check_type("params['W_hh']", params["W_hh"])
    if W_hh.ndim != 2 or W_hh.shape[0] != W_hh.shape[1] or not 1 <= W_hh.shape[0] <= MAX_HIDDEN:
        raise CheckFailure(f"params['W_hh'] must be (H, H) with 1 <= H <= {MAX_HIDDEN}, got "
                           f"shape {W_hh.shape}.")
    H = W_hh.shape[0]
    shapes = {"W_xh": (H, 1), "W_hh": (H, H), "b_h": (H,), "W_hy": (1, H), "b_y": (1,)}
    return {k: check_type(f"params['{k}']", params[k], shape=shapes[k]) for k in PARAMS}


def relative_rmse(params, train, test) -> float:
    o = predict(params, test[0])
    return float(np.sqrt(np.mean((o - test[1]) ** 2))) / linear_rmse(train, test)


def check_training(train_rnn, seed=None, case=None):
    """train_rnn(x (N, 3, 1), y (N, 1), time_budget) -> params must reach a relative RMSE
    <= THRESHOLD on held-out windows it never sees, returning within TIME_LIMIT_S."""
    if seed is None:
        s = secrets.randbits(32)
        cases = [("hidden", np.random.default_rng(s), s)]
    else:
        cases = [(case or "visible", np.random.default_rng(seed), seed)]
    for kind, rng, s in cases:
        name, train, test = training_task(rng, kind)
        label = f"{kind} training case: {len(train[0])} training windows"
        try:
            t0 = time.perf_counter()
            params = call("train_rnn", train_rnn, train[0], train[1], TIME_BUDGET_S,
                          arg_names=("x", "y", "time_budget"))
            seconds = time.perf_counter() - t0
            if seconds > TIME_LIMIT_S:
                raise CheckFailure(f"train_rnn took {seconds:.1f} s; it must stop after "
                                   f"time_budget = {TIME_BUDGET_S:g} s of CPU time (at most "
                                   f"{TIME_LIMIT_S:g} s of wall time are accepted).")
            params = _check_params(params)
            with np.errstate(all="ignore"):
                r = relative_rmse(params, train, test)
            if not np.isfinite(r) or r > THRESHOLD:
                raise CheckFailure(
                    f"held-out relative RMSE {r:.3f} > {THRESHOLD} (your network's RMSE on "
                    "windows it was not trained on, divided by that of a least-squares linear "
                    "predictor). Does the training loss go down? Check the sign of the "
                    "update, the learning rate and the clipping, and train for longer.")
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), s, label, kind)) from None
        where = name if kind == "visible" else "a series you have not seen"
        print(f"train_rnn ({kind}, {where}): held-out relative RMSE {r:.3f} "
              f"<= {THRESHOLD}, trained in {seconds:.1f} s: OK")
