"""Calibrate a07's training threshold: the master and broken trainers on hidden draws.

    python scripts/calibrate_a07.py [N [TRAINER ...]]   # N hidden draws (default 20)

For each trainer: min / median / max held-out accuracy (`autograder.a07.check_training`'s
metric, secret vocabulary permutation, validation + test sentences) over the same N draws,
and the fraction that reaches the threshold.
"""
import secrets
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from autograder import a07  # noqa: E402
from course import load_master_functions  # noqa: E402

NAME = "a07-review-classifier"
TRAINERS = {  # name -> mutations of the master's answer cells
    "master": {},
    "optimiser never steps": {"train_classifier": ("opt.step()", "pass")},
    "gradient ascent (loss negated)": {"train_classifier": ("loss.backward()",
                                                            "(-loss).backward()")},
    "padding read as words": {"ReviewClassifier": (
        "packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths.cpu(),\n"
        "                                                   batch_first=True, enforce_sorted=False)",
        "packed = self.embed(ids)")},
    "learning rate 1e-5": {"train_classifier": ("lr=3e-2", "lr=1e-5")},
}


def main(n, only=()):
    seeds = [secrets.randbits(32) for _ in range(n)]
    for name, mutations in TRAINERS.items():
        if only and name not in only:
            continue
        ns = load_master_functions(NAME, mutations)
        values, cpu = [], []
        for s in seeds:
            train, held, V = a07.training_task(np.random.default_rng(s), "hidden")
            t0 = time.process_time()
            spec, state = ns["train_classifier"](*train, V, a07.TIME_BUDGET_S)
            cpu.append(time.process_time() - t0)
            try:
                model, _ = a07._check_returned((spec, state), V)
                values.append(a07.accuracy(model, held))
            except a07.CheckFailure:
                values.append(0.0)
        v = np.array(values)
        print(f"{name:32s} held-out accuracy min {v.min():.3f} median {np.median(v):.3f} "
              f"max {v.max():.3f}; passes {np.mean(v >= a07.THRESHOLD):.0%} of {n} "
              f"(threshold {a07.THRESHOLD}); training {np.mean(cpu):.2f} s CPU mean",
              flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20, sys.argv[2:])
