"""Fairness benchmark: re-draw every hidden test of every assignment many times against
the master and against an alternative correct implementation (tests/alternatives.py), and
measure how often each known mistake is still caught.

    python scripts/bench_fairness.py                       # 1000 draws, audit on 200
    python scripts/bench_fairness.py --draws 50 a01-rnn    # quicker, one assignment
    python scripts/bench_fairness.py --budget-s 600        # at most 10 min per job

Prints, per assignment and implementation: hidden-test calls, failures (must be 0), the
worst error of a right answer as a fraction of the tolerance (must be <= 1), and, from the
audited draws of the master, the smallest error of a caught mistake in tolerances and the
lowest per-draw catch rate over (test, known mistake) pairs. Writes the figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def one(job):
    import fairness
    name, impl, draws, audit, budget = job
    ns = fairness.implementations(name)[impl]
    t0 = time.perf_counter()
    r = fairness.Result()
    while r.draws < draws and time.perf_counter() - t0 < budget:  # one draw at a time
        fairness.redraw(name, ns, 1, audit=audit, result=r)
    rates = r.catch_rates()
    low = sorted(rates.items(), key=lambda kv: kv[1])[:3]
    return {"assignment": name, "implementation": impl, "audit": audit, "draws": r.draws,
            "calls": r.calls, "failures": len(r.failures),
            "first_failures": [m for _, m in r.failures[:3]],
            "worst_right_over_tolerance": r.worst,
            "least_wrong_over_tolerance": r.least_wrong if audit else None,
            "pairs_audited": len(rates),
            "min_catch_rate": min(rates.values()) if rates else None,
            "lowest_catch_rates": [[f"{t}: {m}", v] for (t, m), v in low],
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None):
    import fairness
    ap = argparse.ArgumentParser()
    ap.add_argument("assignments", nargs="*", default=list(fairness.MODULES))
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--audit-draws", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--budget-s", type=float, default=float("inf"),
                    help="stop a job after this many seconds (its figures say how many draws)")
    ap.add_argument("--out", default=str(ROOT / "_build" / "bench_fairness.json"))
    args = ap.parse_args(argv)
    jobs = [(a, impl, args.draws, False, args.budget_s) for a in args.assignments
            for impl in ("master", "alternative")]
    jobs += [(a, "master", args.audit_draws, True, args.budget_s) for a in args.assignments
             if args.audit_draws]
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(one, jobs):
            rows.append(row)
            print(f"{row['assignment']:16} {row['implementation']:11} "
                  f"{'audit ' if row['audit'] else ''}draws {row['draws']:5} calls "
                  f"{row['calls']:6} failures {row['failures']} worst/tol "
                  f"{row['worst_right_over_tolerance']:.2g}"
                  + (f" least-wrong/tol {row['least_wrong_over_tolerance']:.2g} min catch "
                     f"{row['min_catch_rate']} over {row['pairs_audited']} (test, mistake) "
                     "pairs" if row["audit"] else "") + f"  {row['seconds']} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    bad = [r for r in rows if r["failures"] or r["worst_right_over_tolerance"] > 1 or
           (r["audit"] and (r["min_catch_rate"] or 1) < 0.99)]
    print("FAIR" if not bad else f"NOT FAIR: {len(bad)} rows")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
