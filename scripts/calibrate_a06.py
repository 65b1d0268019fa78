"""Calibrate a06's training threshold: the master and broken trainers on hidden draws.

    python scripts/calibrate_a06.py [N [TRAINER ...]]   # N hidden draws (default 40)

Prints, for each trainer, min / median / max of the held-out relative RMSE
(`autograder.a06.check_training`'s metric) over the same N draws of the hidden task, and the
fraction that passes the threshold. The master must pass every draw with margin; each
broken trainer must fail (nearly) every draw.
"""
import secrets
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from autograder import a06  # noqa: E402
from course import load_master_functions  # noqa: E402

NAME = "a06-rnn-training"
TRAINERS = {  # name -> mutations of the master's answer cells
    "master": {},
    "wrong gradient sign": {"sgd_step": ("params[k] - lr * scale", "params[k] + lr * scale")},
    "no clipping, lr = 1": {"train_rnn": ("H, lr, max_norm, batch, steps = 16, 0.05, 5.0",
                                          "H, lr, max_norm, batch, steps = 16, 1.0, 1e300")},
    "no clipping, lr = 3": {"train_rnn": ("H, lr, max_norm, batch, steps = 16, 0.05, 5.0",
                                          "H, lr, max_norm, batch, steps = 16, 3.0, 1e300")},
    "no training": {"train_rnn": ("32, 3000", "32, 0")},
    "gradient not carried in time": {"backward": ("dh = da @ params", "dh = 0 * da @ params")},
}


def main(n, only=()):
    seeds = [secrets.randbits(32) for _ in range(n)]
    for name, mutations in TRAINERS.items():
        if only and name not in only:
            continue
        train = load_master_functions(NAME, mutations)["train_rnn"]
        values, seconds = [], []
        for s in seeds:
            _, tr, te = a06.training_task(np.random.default_rng(s), "hidden")
            t0 = time.perf_counter()
            with np.errstate(all="ignore"):
                p = train(tr[0], tr[1], a06.TIME_BUDGET_S)
                seconds.append(time.perf_counter() - t0)
                r = a06.relative_rmse(p, tr, te)
            values.append(r if np.isfinite(r) else np.inf)
        v = np.array(values)
        print(f"{name:30s} relative RMSE min {v.min():.3f} median {np.median(v):.3f} "
              f"max {v.max():.3f}; passes {np.mean(v <= a06.THRESHOLD):.0%} of {n} "
              f"(threshold {a06.THRESHOLD}); training {np.mean(seconds):.2f} s mean, "
              f"{np.max(seconds):.2f} s max", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40, sys.argv[2:])
