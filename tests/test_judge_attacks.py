"""Attacks on grading: each submission gets no undeserved point and affects no other.

Each attack of issue 7 is the code of a submission, graded by the trusted judge
(`autograder.judge`). Before the judge, the checks ran in the student's kernel and every
one of these got full marks (or broke the batch). The judge runs answer cells in a
sandboxed worker and the checks outside it, so:
- all-zero answers plus an attack on the checker (rebinding `grader`, replacing checks or
  their helpers, patching numpy/torch, IPython hooks, seeding) still score 0;
- a part that hangs, crashes, allocates 20 GB, prints 50 MB or forks without end costs that
  part only (the worker is killed and a fresh one grades the rest);
- a part that uses torch where numpy is required scores 0 with a message saying why;
- files of the course checkout (solutions/, gradebook) cannot be read, and rewriting the
  course code the worker sees changes nothing for the next submission.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from autograder import judge

ROOT = Path(__file__).resolve().parent.parent


def _master(a):
    return nbformat.read(str(ROOT / "solutions" / a / f"{a}.ipynb"), as_version=4)


A01 = _master("a01-rnn")
A01_POINTS = {gid: p for gid, _, p in judge.test_cells(A01)}
A01_TOTAL = sum(A01_POINTS.values())

ZERO_A01 = {  # answers of the right shapes and types, all zero
    "rnn_step_forward": """
def rnn_step_forward(x, h_prev, W_xh, W_hh, b_h):
    return np.zeros((x.shape[0], W_hh.shape[0])), (x, h_prev, W_xh, W_hh)
""",
    "rnn_step_backward": """
def rnn_step_backward(dh_next, cache):
    x, h_prev, W_xh, W_hh = cache
    return (np.zeros_like(x), np.zeros_like(h_prev), np.zeros_like(W_xh),
            np.zeros_like(W_hh), np.zeros(W_hh.shape[0]))
""",
    "rnn_forward": """
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    return np.zeros(x.shape[:2] + (h0.shape[1],)), (x, h0, W_xh, W_hh)
""",
    "rnn_backward": """
def rnn_backward(dh, cache):
    x, h0, W_xh, W_hh = cache
    return (np.zeros_like(x), np.zeros_like(h0), np.zeros_like(W_xh), np.zeros_like(W_hh),
            np.zeros(W_hh.shape[0]))
""",
    "temporal_softmax_loss": """
def temporal_softmax_loss(logits, y, mask):
    return 0.0, np.zeros_like(logits)
""",
    "clip_grad_norm": """
def clip_grad_norm(grads, max_norm):
    return {k: np.zeros_like(g) for k, g in grads.items()}, 0.0
""",
}

# Attacks on the checker, prepended to the first answer cell of all-zero answers.
CHECKER_ATTACKS = {
    "rebind grader": """
class _Yes:
    def __getattr__(self, name):
        return lambda *a, **k: None
grader = _Yes()
""",
    "replace autograder.a01.check_*": """
import autograder.a01 as _a01
for _n in dir(_a01):
    if _n.startswith("check_"):
        setattr(_a01, _n, lambda *a, **k: None)
""",
    "replace helpers of autograder.checks and harness": """
import autograder.checks as _c, autograder.harness as _h
_c.check_close = lambda *a, **k: None
_c.check_type = lambda name, value, **k: value
_c.rel_error = lambda a, b: 0 * a
_h.call = lambda name, fn, *a, **k: fn(*a)
""",
    "patch np.max and friends": """
np.max = np.amax = lambda *a, **k: 0.0
np.abs = lambda a, *r, **k: 0 * a
np.testing.assert_allclose = lambda *a, **k: None
""",
    "IPython input transformer deleting later lines": """
ip = get_ipython()
ip.input_transformers_post.append(lambda lines: [])
""",
    "custom exception handler": """
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
""",
    "forced seeds": """
import secrets
secrets.randbits = lambda k: 0
_rng = np.random.default_rng
np.random.default_rng = lambda *a, **k: _rng(0)
""",
    "signals and the parent process": """
import os, signal
for _s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
    signal.signal(_s, signal.SIG_IGN)
try:
    os.kill(os.getppid(), signal.SIGSTOP)
except Exception:
    pass
""",
    "forged reply on the judge's channel": """
import os, json, struct
for _fd in range(3, 12):
    try:
        _m = json.dumps({"ok": True, "value": {"t": "f", "v": "nan"}}).encode()
        os.write(_fd, struct.pack(">Q", len(_m)) + _m)
    except OSError:
        pass
""",
}


def _answers(replace=None, prefix=""):
    out = []
    for i, (gid, src) in enumerate(judge.answer_cells(A01)):
        src = (replace or {}).get(gid, src)
        out.append((gid, (prefix + "\n" + src) if i == 0 and prefix else src))
    return out


def _grade(answers, assignment="a01-rnn", master=A01):
    verdicts = judge.run_tests(master, answers, assignment)
    return {v.grade_id: v for v in verdicts}


def _score(verdicts):
    return sum(v.points for v in verdicts.values())


@pytest.fixture(scope="module")
def fast_limits():
    old = judge.CALL_TIMEOUT_S
    judge.CALL_TIMEOUT_S = 3.0
    yield
    judge.CALL_TIMEOUT_S = old


def test_master_full_and_zero_answers_score_nothing():
    assert _score(_grade(_answers())) == A01_TOTAL
    assert _score(_grade(_answers(ZERO_A01))) == 0


@pytest.mark.parametrize("attack", sorted(CHECKER_ATTACKS))
def test_attack_on_the_checker_gets_no_point(attack):
    verdicts = _grade(_answers(ZERO_A01, prefix=CHECKER_ATTACKS[attack]))
    assert _score(verdicts) == 0, {g: v.message for g, v in verdicts.items() if v.passed}
    # the judge's own process is untouched
    import secrets

    import numpy as np
    assert secrets.randbits == secrets._sysrand.getrandbits
    assert np.max.__module__ == "numpy" and np.abs is np.absolute


# Attacks inside one part of otherwise correct answers: they cost that part only.
def _break(gid, body):
    src = dict(judge.answer_cells(A01))[gid]
    first_line = src.index("\n", src.index("def ")) + 1
    return {gid: src[:first_line] + textwrap.indent(textwrap.dedent(body), "    ") +
            src[first_line:]}


PART_ATTACKS = {
    "os._exit": ("import os; os._exit(0)\n", "exception"),
    "infinite loop catching BaseException": ("""
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
""", "timeout"),
    "20 GB allocation": ("big = np.ones(20 * 2**30 // 8)\n", "limit"),
    "segfault": ("import ctypes; ctypes.string_at(0)\n", "exception"),
    "fork bomb": ("""
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
""", "timeout"),
}


@pytest.mark.parametrize("attack", sorted(PART_ATTACKS))
def test_attack_in_one_part_costs_that_part_only(attack, fast_limits):
    body, kind = PART_ATTACKS[attack]
    t0 = time.monotonic()
    verdicts = _grade(_answers(_break("clip_grad_norm", body)))
    lost = {g for g, v in verdicts.items() if not v.passed}
    assert lost == {"test_clip_grad_norm"}, {g: verdicts[g].message for g in lost}
    assert verdicts["test_clip_grad_norm"].error_kind in (kind, "exception", "limit", "timeout")
    assert _score(verdicts) == A01_TOTAL - A01_POINTS["test_clip_grad_norm"]
    assert time.monotonic() - t0 < 60
    # nothing the submission started survives it
    for _ in range(100):
        left = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True).stdout
        if not [u for u in left.split() if int(u) >= judge.UID_BASE]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("worker processes left behind")


def test_answer_cell_that_hangs_costs_only_what_it_defines(fast_limits):
    src = dict(judge.answer_cells(A01))["clip_grad_norm"]
    verdicts = _grade(_answers({"clip_grad_norm": "while True:\n    pass\n" + src}))
    assert {g for g, v in verdicts.items() if not v.passed} == {"test_clip_grad_norm"}
    assert "not defined" in verdicts["test_clip_grad_norm"].message


def test_huge_output_is_discarded_and_messages_are_capped():
    answers = _answers({**_break("rnn_forward", "print('x' * 50_000_000)\n"),
                        **_break("clip_grad_norm", "raise ValueError('y' * 50_000_000)\n")})
    verdicts = _grade(answers)
    assert verdicts["test_rnn_forward"].passed  # printing is not a mistake
    assert not verdicts["test_clip_grad_norm"].passed
    assert all(len(v.message) <= judge.MESSAGE_LIMIT and len(v.output) <= judge.MESSAGE_LIMIT
               for v in verdicts.values())


def test_torch_in_a_numpy_only_part_scores_zero_with_a_reason():
    torch_forward = """
def rnn_step_forward(x, h_prev, W_xh, W_hh, b_h):
    import torch
    t = [torch.from_numpy(a) for a in (x, h_prev, W_xh, W_hh, b_h)]
    h = torch.tanh(t[0] @ t[2].T + t[1] @ t[3].T + t[4])
    return h.numpy(), (x, h_prev, W_xh, W_hh, h.numpy())
"""
    verdicts = _grade(_answers({"rnn_step_forward": torch_forward}))
    v = verdicts["test_rnn_step_forward"]
    assert not v.passed and v.error_kind == "forbidden_import"
    assert "numpy only" in v.message


SECRET_READER = """
import glob, os
root = {root!r}
found = []
for pattern in (root + "/solutions/*/*.ipynb", root + "/classroom/*.db", root + "/*",
                "/proc/1/root" + root + "/solutions/*/*", "/proc/*/cwd/solutions/*/*",
                "../solutions/*/*", os.path.expanduser("~") + "/*"):
    found += glob.glob(pattern)
# files only: where the venv lives inside the checkout (a CI clone under /tmp), the sandbox
# shows the checkout's folder as the empty mount point of the read-only venv, and nothing else
found = [f for f in found if os.path.isfile(f)]
texts = []
for f in found[:20]:
    try:
        texts.append(open(f, errors="replace").read()[:3000])
    except OSError:
        pass
raise RuntimeError("LEAK " + repr(found[:20]) + " ".join(texts))
""".format(root=str(ROOT))


def test_solutions_and_gradebook_cannot_be_read():
    if not judge._bwrap():
        pytest.skip("bubblewrap cannot start here: workers are not sandboxed (rlimits only)")
    verdicts = _grade(_answers(_break("clip_grad_norm", SECRET_READER)))
    message = verdicts["test_clip_grad_norm"].message
    assert "LEAK []" in message, message[:500]
    assert "BEGIN SOLUTION" not in message and "HIDDEN TESTS" not in message


HELD_OUT_READER = """
import autograder, os, zlib
path = os.path.join(os.path.dirname(os.path.dirname(autograder.__file__)), "data",
                    "review-snippets.tsv")
rows = open(path, encoding="utf-8").read().splitlines()
held = [r for r in rows
        if (zlib.crc32("-".join(r.split("\\t")[:2]).encode()) % 10_000) >= 8_000]
raise RuntimeError(f"ROWS {len(rows)} HELD {len(held)}")
"""


def test_held_out_review_sentences_never_reach_a_worker():
    """a07 grades on review sentences the student's code never sees: the workers' copy of
    data/ keeps the training rows only (the rated sentences ship with the course)."""
    message = _grade(_answers(_break("clip_grad_norm", HELD_OUT_READER)))[
        "test_clip_grad_norm"].message
    rows, held = (int(x) for x in re.search(r"ROWS (\d+) HELD (\d+)", message).groups())
    assert rows > 8000 and held == 0, message[:300]


REWRITER = """
import autograder, os
d = os.path.dirname(autograder.__file__)
for name in os.listdir(d):
    if name.endswith(".py"):
        try:
            with open(os.path.join(d, name), "a") as f:
                f.write("\\ncheck_rnn_forward = check_clip_grad_norm = lambda *a, **k: None\\n")
        except OSError:
            pass
"""


def test_rewriting_course_code_does_not_reach_the_next_submission():
    before = hashlib.sha256((ROOT / "autograder" / "a01.py").read_bytes()).hexdigest()
    _grade(_answers(ZERO_A01, prefix=REWRITER))
    assert hashlib.sha256((ROOT / "autograder" / "a01.py").read_bytes()).hexdigest() == before
    assert _score(_grade(_answers(ZERO_A01))) == 0


def test_patched_numpy_reductions_do_not_pass_the_masked_softmax():
    a05 = _master("a05-transformer")
    attack = """
np.max = np.amax = lambda *a, **k: 0.0
np.abs = lambda x, *a, **k: np.zeros_like(x)
np.allclose = np.array_equal = lambda *a, **k: True
np.ndarray.__eq__ = lambda a, b: True

def masked_softmax_forward(s, mask):
    return np.zeros_like(s), None
"""
    answers = [(gid, attack if gid == "masked_softmax_forward" else src)
               for gid, src in judge.answer_cells(a05)]
    verdicts = _grade(answers, "a05-transformer", a05)
    assert not verdicts["test_masked_softmax_forward"].passed
    assert verdicts["test_layernorm_forward"].passed  # the rest is graded as usual


def test_the_judge_never_unpickles_worker_data():
    for name in ("judge.py", "wire.py"):
        code = (ROOT / "autograder" / name).read_text()
        for forbidden in ("import pickle", "pickle.load", "allow_pickle=True", "torch.load",
                          "cloudpickle", "marshal"):
            assert forbidden not in code, (name, forbidden)


def test_torch_workers_leave_nothing_for_the_next_submission():
    """Torch workers are forked by a zygote (one torch import per judge process): files,
    processes and module patches of one submission must not reach the next. a02's
    tbptt_gradients is a torch part."""
    a02 = _master("a02-bptt")
    master = dict(judge.answer_cells(a02))["tbptt_gradients"]
    planter = master + """
_right = tbptt_gradients

def tbptt_gradients(*args):
    import os, subprocess
    open("/tmp/planted", "w").write("x")
    open("planted_cwd", "w").write("x")
    subprocess.Popen(["sleep", "1000"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        import time
        time.sleep(1000)
    out = _right(*args)
    torch.tril = lambda *a, **k: None
    return out
"""
    checker = master + """
_right = tbptt_gradients

def tbptt_gradients(*args):
    import glob, os
    found = glob.glob("/tmp/**/planted*", recursive=True)
    found += [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()
              and os.stat("/proc/" + p).st_uid == os.getuid()]
    if found or torch.tril(torch.ones(2, 2)) is None:
        return None
    return _right(*args)
"""
    for code in (planter, checker):
        answers = [(gid, code if gid == "tbptt_gradients" else src)
                   for gid, src in judge.answer_cells(a02)]
        verdicts = _grade(answers, "a02-bptt", a02)
        assert verdicts["test_tbptt_loss"].passed, verdicts["test_tbptt_loss"].message


def test_numpy_only_part_defined_in_a_torch_cell_still_cannot_use_torch():
    a04 = _master("a04-attention")
    cells = dict(judge.answer_cells(a04))
    sneaky = cells["AttentionDecoderStep"] + """

def sdpa_forward(q, k, v, mask=None):
    t = [torch.from_numpy(a) for a in (q, k, v)]
    s = t[0] @ t[1].transpose(1, 2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~torch.from_numpy(mask), float("-inf"))
    w = torch.softmax(s, -1)
    return (w @ t[2]).numpy(), w.numpy(), (q, k, v, mask, w.numpy())
"""
    answers = [(gid, sneaky if gid == "AttentionDecoderStep" else
                ("pass" if gid == "sdpa_forward" else src)) for gid, src in cells.items()]
    verdicts = _grade(answers, "a04-attention", a04)
    for gid in ("test_sdpa_out", "test_sdpa_weights"):
        assert not verdicts[gid].passed and verdicts[gid].error_kind == "forbidden_import", \
            verdicts[gid].message
    assert verdicts["test_decoder_logits"].passed  # the torch part is graded as usual


TORCH_PART_ATTACKS = {
    "os._exit": "import os; os._exit(3)\n",
    "20 GB allocation": "big = torch.ones(20 * 2**30 // 8, dtype=torch.float64)\n",
    "fork bomb": PART_ATTACKS["fork bomb"][0],
}


@pytest.mark.parametrize("attack", sorted(TORCH_PART_ATTACKS))
def test_attack_in_a_torch_worker_costs_that_part_only(attack, fast_limits):
    a02 = _master("a02-bptt")
    cells = dict(judge.answer_cells(a02))
    src = cells["tbptt_gradients"]
    first_line = src.index("\n", src.index("def tbptt_gradients")) + 1
    cells["tbptt_gradients"] = src[:first_line] + textwrap.indent(
        TORCH_PART_ATTACKS[attack], "    ") + src[first_line:]
    verdicts = _grade(list(cells.items()), "a02-bptt", a02)
    lost = {g for g, v in verdicts.items() if not v.passed}
    assert lost == {g for g in verdicts if g.startswith("test_tbptt")}, \
        {g: verdicts[g].message for g in lost}
