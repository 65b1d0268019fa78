"""Re-drawing the hidden tests: shared by tests/test_autograder_fairness.py (few draws, in
`make test`) and scripts/bench_fairness.py (>= 1000 draws, the published figures).

Every hidden test line of a master's test cells (`grader.check_...(..., seed=None)`, the
trained-model check excepted) is run `draws` times against a namespace of answers. Every
comparison records its margin (error / tolerance, <= 1 passes); with `audit=True` also, for
every known mistake of that result, whether the tolerance rejects the mistake's output.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field

import nbformat

from autograder import checks
from autograder.checks import CheckFailure, Mistakes, excess
from course import load_master_functions, master_path

MODULES = {"a01-rnn": "a01", "a02-bptt": "a02", "a03-lstm-gru": "a03",
           "a04-attention": "a04", "a05-transformer": "a05"}
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def hidden_tests(name: str) -> list[tuple[str, str]]:
    """[(grade_id, one hidden check call)] of the master `name`."""
    out = []
    for cell in nbformat.read(master_path(name), as_version=4).cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        for block in HIDDEN.findall(cell.source):
            out += [(gid, line.strip()) for line in block.splitlines()
                    if line.strip().startswith("grader.check_") and "trained_model" not in line]
    return out


@dataclass
class Result:
    draws: int = 0
    calls: int = 0
    failures: list = field(default_factory=list)          # (grade_id, message)
    worst: float = 0.0                                     # max error / tolerance, right answers
    least_wrong: float = float("inf")                      # min error / tolerance, mistakes caught
    caught: dict = field(default_factory=lambda: defaultdict(int))   # (test, mistake) -> draws
    seen: dict = field(default_factory=lambda: defaultdict(int))     # (test, mistake) -> draws

    def catch_rates(self) -> dict:
        """(test, mistake) -> fraction of draws in which the check rejected the mistake,
        over the mistakes that change that test's result at all (caught at least once)."""
        return {k: self.caught[k] / self.seen[k] for k in self.seen if self.caught[k]}


def _auditor(result: Result, hits: dict, mistakes: bool):
    def audit(got, expected, scale, known):
        result.worst = max(result.worst, excess(got, expected, scale))
        for m in (known.messages if mistakes and isinstance(known, Mistakes) else ()):
            cand = known.wrong(frozenset([m]))
            if cand is not None:
                e = excess(cand, expected, scale)
                hits[m] = hits.get(m, False) or e > 1
                if e > 1:
                    result.least_wrong = min(result.least_wrong, e)
    return audit


def redraw(name: str, namespace: dict, draws: int, audit: bool = False,
           result: Result | None = None) -> Result:
    result = result or Result()
    grader = importlib.import_module(f"autograder.{MODULES[name]}")
    ns = {**namespace, "grader": grader}
    tests = hidden_tests(name)
    for _ in range(draws):
        result.draws += 1
        for gid, line in tests:
            hits: dict = {}
            checks.AUDIT = _auditor(result, hits, audit)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(line, ns)
            except CheckFailure as e:
                result.failures.append((gid, str(e)))
            finally:
                checks.AUDIT = None
            result.calls += 1
            for m, hit in hits.items():
                result.seen[(gid, m)] += 1
                result.caught[(gid, m)] += hit
    return result


def implementations(name: str) -> dict:
    """{'master': namespace, 'alternative': namespace} for assignment `name`."""
    from alternatives import alternative
    master = load_master_functions(name)
    return {"master": master, "alternative": alternative(name, master)}
