"""The trusted judge: hidden verdicts computed outside the student's interpreter.

One judge process grades one submission at a time (`make grade` runs several side by
side). For a notebook it

1. takes the *answer cells* (nbgrader solution cells) from the submission and every other
   cell from the master, so test cells, hidden tests and setup are the instructor's;
2. starts a worker (`autograder.sandbox_worker`) in a sandbox -- bubblewrap when it is
   available: no network, its own pid/ipc namespaces, a tmpfs scratch directory, only the
   Python installation and a read-only private copy of `autograder/`, `seqlab/` and `data/`
   visible (no course checkout, no solutions/, no gradebook), resource limits (CPU time,
   address space, file size, processes, open files) and an unprivileged uid of its own.
   Workers of numpy-only parts also have torch removed from their file system;
3. runs the master's test cells here, in the judge, with the real `autograder` checks;
   the student's functions and classes are proxies: a call sends the arguments to the
   worker as data (`autograder.wire`: JSON and raw array bytes, never pickle) and gets data
   back; objects the student returns that are not data (a cache object, a module) stay in
   the worker and come back as handles. A torch module the student builds is mirrored
   here: torch's own layers are rebuilt from their attributes and parameters, so
   references computed from "the student's parameters" run in trusted code, and only the
   student's own forward methods run remotely;
4. scores each test cell from its outcome here. A call that runs too long or kills the
   worker costs that test only: the worker is killed (with its whole pid namespace) and a
   fresh one serves the next test.

Whatever the submission does inside the worker -- patching numpy, torch, builtins or the
autograder copy, seeding, signals, os._exit, reading or writing files -- happens in a
process whose only output the judge reads as data.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import wire
from .checks import CheckFailure

ROOT = Path(__file__).resolve().parent.parent
COURSE_DIRS = ("autograder", "seqlab", "data")  # public course code the answer cells may import

# Limits of one worker. A hidden test calls a student function on inputs of a few dozen
# numbers: 10 s per call is two orders of magnitude more than a correct answer needs.
CALL_TIMEOUT_S = 10.0
TEST_BUDGET_S = 30.0  # all calls of one test cell together (a slow answer costs that test)
SUBMISSION_BUDGET_S = 240.0  # all tests of one submission (bounds restarts after crashes)
START_TIMEOUT_S = 60.0
LIMITS = {"cpu_s": 120, "memory_bytes": 3 * 2 ** 30, "file_bytes": 16 * 2 ** 20,
          "processes": 64, "open_files": 256}
TORCH_MEMORY_BYTES = 8 * 2 ** 30  # torch reserves a lot of address space when imported
UID_BASE = 61000  # each judge process runs its workers as a uid of its own from here up

# Parts the assignments say must be written in numpy only: their workers cannot import
# torch. "*" means every answer cell of the assignment.
NUMPY_ONLY = {
    "a01-rnn": "*",
    "a02-bptt": {"jordan_forward", "jordan_backward", "grad_norm_by_lag"},
    "a03-lstm-gru": "*",
    "a04-attention": {"additive_attention", "sdpa_forward", "sdpa_backward"},
    "a05-transformer": "*",
    "a06-rnn-training": "*",
    "a07-review-classifier": set(),
}


class JudgeError(BaseException):
    """A fault of the judge itself (not of the submission). A BaseException, so that the
    checks' `except Exception` cannot turn it into a failed test: the submission is
    reported as not graded instead of silently losing points."""


class WorkerLost(CheckFailure):
    """The worker died or was killed during a call (the message says why)."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind
        self.causes = []


# ---------------------------------------------------------------- the sandbox
_BWRAP: str | None | bool = False  # False: not probed yet


def _bwrap() -> str | None:
    """Path of a working bubblewrap, or None (then workers run with rlimits only)."""
    global _BWRAP
    if _BWRAP is False:
        path = shutil.which("bwrap")
        ok = False
        if path and os.environ.get("JUDGE_NO_BWRAP") != "1":
            try:
                ok = subprocess.run([path, "--unshare-net", "--unshare-pid", "--die-with-parent",
                                     "--ro-bind", "/", "/", "true"], capture_output=True,
                                    timeout=20).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _BWRAP = path if ok else None
    return _BWRAP


def sandbox_kind() -> str:
    return "bubblewrap" if _bwrap() else "rlimits only (bubblewrap not available)"


_COURSE_COPY: str | None = None


def course_copy() -> str:
    """A private, read-only-bound copy of the public course code, made once per process."""
    global _COURSE_COPY
    if _COURSE_COPY is None or not os.path.isdir(_COURSE_COPY):
        dest = tempfile.mkdtemp(prefix="judge-course-")
        for name in COURSE_DIRS:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, os.path.join(dest, name),
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _withhold(Path(dest) / "data")
        for dirpath, dirnames, filenames in os.walk(dest):
            os.chmod(dirpath, 0o755)
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o644)
        os.chmod(dest, 0o755)
        _COURSE_COPY = dest
        import atexit
        owner = os.getpid()
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(dest, True))
    return _COURSE_COPY


def _withhold(data: Path) -> None:
    """Held-out data the trusted checks grade on never reaches a worker: the workers' copy
    of a data file keeps its training rows only (a07 grades on held-out review sentences)."""
    from seqlab.labs.text import training_rows
    for name, keep in (("review-snippets.tsv", training_rows),):
        if (data / name).is_file():
            (data / name).write_text(keep((data / name).read_text(encoding="utf-8")),
                                     encoding="utf-8")


def _package_dirs(names) -> list[str]:
    import importlib.util
    out = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None:
            out += [p for p in (spec.submodule_search_locations or []) if os.path.isdir(p)]
    return out


def _command(numpy_only: bool, zygote: bool = False) -> tuple[list[str], dict]:
    limits = dict(LIMITS)
    if not numpy_only:
        limits["memory_bytes"] = TORCH_MEMORY_BYTES
    if zygote:  # the zygote adds its own address space to the worker's allowance
        limits["memory_bytes"] = LIMITS["memory_bytes"]
    limits["numpy_only"] = numpy_only
    boot = ("import sys; sys.path.insert(0, {course!r}); "
            "from autograder.sandbox_worker import %s; %s()" %
            (("zygote_main",) * 2 if zygote else ("main",) * 2))
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp",
           "LANG": "C.UTF-8"}
    bwrap = _bwrap()
    python = sys.executable
    if not bwrap:
        # No namespaces: limits, a scratch cwd and a private course copy only; the worker
        # keeps the judge's uid (a separate account needs root and a readable Python).
        return [python, "-E", "-s", "-c", boot.format(course=course_copy()),
                json.dumps(limits)], env
    limits["uid"] = worker_uid() if os.getuid() == 0 else None
    if zygote and not limits["uid"]:
        raise OSError("a zygote needs root to give each worker its own uid")
    args = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(64 * 2 ** 20),
            "--tmpfs", "/tmp", "--chdir", "/tmp"]
    for d in ("/usr", "/bin", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/alternatives"):
        if os.path.exists(d):
            args += ["--ro-bind", d, d]
    binds = []
    for prefix in sorted({sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(
            os.path.realpath(python)))}, key=len):
        if not any(prefix.startswith(b + os.sep) for b in binds):
            binds.append(prefix)
    for b in binds:
        parts = Path(b).parts
        for i in range(2, len(parts)):  # parent dirs readable by the worker's uid
            args += ["--perms", "0755", "--dir", str(Path(*parts[:i]))]
        args += ["--ro-bind", b, b]
    args += ["--perms", "0755", "--dir", "/course", "--ro-bind", course_copy(), "/course"]
    if numpy_only:
        for d in _package_dirs(("torch", "functorch", "torchgen")):
            args += ["--tmpfs", d]
    args += [python, "-E", "-s", "-c", boot.format(course="/course"), json.dumps(limits)]
    return args, env


def _wait_uid_gone(uid: int, timeout: float = 5.0) -> None:
    """The kernel tears a pid namespace down asynchronously: wait until the uid owns no
    process, so the next worker starts under its full process limit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.stat(f"/proc/{pid}").st_uid == uid:
                        alive = True
                        break
                except OSError:
                    pass
        if not alive:
            return
        time.sleep(0.05)


_UID: tuple | None = None  # (pid, uid, lock fd) of this process


def worker_uid() -> int:
    """A uid no other judge process uses now: the process limit, the kill of everything a
    worker left behind and the zygote's clean-up act on this uid alone, so concurrent
    gradings (a pool, two instructors, parallel tests) never touch each other's workers.
    Held by an flock on /tmp/judge-uids/<n>.lock for the life of the process."""
    global _UID
    if _UID is not None and _UID[0] == os.getpid():
        return _UID[1]
    import fcntl
    folder = os.path.join(tempfile.gettempdir(), "judge-uids")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for n in range(4096):
        fd = os.open(os.path.join(folder, f"{n}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _UID = (os.getpid(), UID_BASE + n, fd)
        _kill_uid(UID_BASE + n)  # leftovers of a judge that died
        return UID_BASE + n
    raise JudgeError("no free uid for a worker")


def _kill_uid(uid: int) -> None:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


# ---------------------------------------------------------------- one worker
class Zygote:
    """A fork server for the torch workers of one judge process (sandbox_worker.zygote_main).

    Starting a fresh Python that imports torch costs over a second of CPU per submission;
    the zygote pays it once per process. Each worker it forks still runs under the judge's
    uid, limits and scratch directory, and all of its processes are killed and its files
    wiped before the next submission's worker starts.
    """

    def __init__(self):
        import socket
        args, env = _command(False, zygote=True)
        mine, theirs = socket.socketpair()
        self.proc = subprocess.Popen(args, stdin=theirs, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env,
                                     cwd=tempfile.gettempdir(), start_new_session=True)
        theirs.close()
        self.sock = mine
        self.owner = os.getpid()

    def _ask(self, message: bytes, fds=(), timeout: float = START_TIMEOUT_S) -> str:
        import socket
        socket.send_fds(self.sock, [message], list(fds))
        self.sock.settimeout(timeout)
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.sock.recv(256)
            if not chunk:
                raise EOFError("the zygote ended")
            data += chunk
        return data.decode().strip()

    def spawn(self) -> tuple[int, int]:
        """(read fd, write fd) of a new worker's channel."""
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        try:
            reply = self._ask(b"spawn", (r1, w2))
        finally:
            os.close(r1)
            os.close(w2)
        if not reply.isdigit():
            os.close(r2)
            os.close(w1)
            raise OSError(f"the zygote refused: {reply}")
        return r2, w1

    def kill_worker(self) -> int | None:
        """Kill the current worker and all its processes; its exit code if it had ended."""
        reply = self._ask(b"kill", timeout=30)
        parts = reply.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            return os.waitstatus_to_exitcode(int(parts[1]))
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


_ZYGOTE: Zygote | None = None
USE_ZYGOTE = os.environ.get("JUDGE_NO_ZYGOTE") != "1"


def _zygote() -> Zygote | None:
    global _ZYGOTE
    if not (USE_ZYGOTE and _bwrap() and os.getuid() == 0):
        return None
    z = _ZYGOTE
    if z is not None and z.owner != os.getpid():  # inherited through fork: not ours to use
        with contextlib.suppress(OSError):
            z.sock.close()
        z = None
    elif z is not None and z.proc.poll() is not None:
        z.close()
        z = None
    if z is None:
        z = _ZYGOTE = Zygote()
    return z


class Worker:
    """A sandboxed student process serving calls. Dies on any timeout or protocol error."""

    def __init__(self, numpy_only: bool):
        self.numpy_only = numpy_only
        self.uid = worker_uid() if _bwrap() and os.getuid() == 0 else None
        self.dead: str | None = None
        self.exit_code: int | None = None
        self.proc = self.zygote = None
        self.closed = False
        zygote = None if numpy_only else _zygote()
        if zygote is not None:
            try:
                self.cin, self.cout = zygote.spawn()
                self.zygote = zygote
                return
            except (OSError, EOFError):  # a broken zygote: start a fresh one next time
                global _ZYGOTE
                zygote.close()
                _ZYGOTE = None
        args, env = _command(numpy_only)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir(),
                                     start_new_session=True)
        self.cin, self.cout = self.proc.stdout.fileno(), self.proc.stdin.fileno()

    def kill(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.zygote is not None:
            try:
                self.exit_code = self.zygote.kill_worker()
            except (OSError, EOFError):
                self.zygote.close()
            for fd in (self.cin, self.cout):
                with contextlib.suppress(OSError):
                    os.close(fd)
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.exit_code = self.proc.returncode
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                f.close()
        if self.dead and self.uid is not None:
            _wait_uid_gone(self.uid)


    def _read_exact(self, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.cin], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(self.cin, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def request(self, message: dict, timeout: float, what: str) -> dict:
        """Send one request, wait for its reply; kill the worker on any trouble."""
        if self.dead:
            raise WorkerLost(self.dead, "exception")
        done = False
        try:
            wire.write_frame(self.cout, message)
            deadline = time.monotonic() + timeout
            (n,) = struct.unpack(">Q", self._read_exact(8, deadline))
            if n > wire.MAX_FRAME:
                raise wire.WireError(f"a reply of {n} bytes is over the limit")
            reply = wire.parse_frame(self._read_exact(n, deadline))
            done = True
            return reply
        except TimeoutError:
            self.dead = (f"{what} did not finish within {timeout:g} s on a small input: an "
                         "infinite loop, or a loop over every element?")
            raise WorkerLost(self.dead, "timeout") from None
        except (EOFError, BrokenPipeError, ConnectionResetError):
            if self.proc is not None and self.proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
            self.kill()
            self.dead = f"{what} ended the Python process ({self._exit_reason()})"
            raise WorkerLost(self.dead, "exception") from None
        except wire.WireError as exc:
            self.dead = f"{what} returned data the judge refuses: {exc}"
            raise WorkerLost(self.dead, "limit") from None
        finally:
            if not done:
                self.kill()

    def _exit_reason(self) -> str:
        code = self.exit_code
        if code is None:
            return "it stopped answering"
        if code < 0:
            sig = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ \
                else str(-code)
            hint = {"SIGXCPU": ": over the CPU-time limit", "SIGKILL": ": killed, probably "
                    "over the memory limit", "SIGSEGV": ": a segmentation fault"}.get(sig, "")
            return f"signal {sig}{hint}"
        return f"exit code {code}: a call to exit() or os._exit()?"


# ---------------------------------------------------------------- proxies
class RemoteObject:
    """An object that lives in the worker (a student function, class or other object)."""

    __module__ = "student"

    def __init__(self, session, group, target: dict, label: str):
        object.__setattr__(self, "_judge", (session, group, target, label))

    def __call__(self, *args, **kwargs):
        session, group, target, label = object.__getattribute__(self, "_judge")
        return session.call(group, target, label, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        session, group, target, label = object.__getattribute__(self, "_judge")
        return session.getattr(group, target, name, f"{label}.{name}")

    def __repr__(self):
        return f"<student object {object.__getattribute__(self, '_judge')[3]}>"


def _mirror_class():
    import torch

    class RemoteModule(torch.nn.Module):
        """Local stand-in of a student's nn.Module: parameters here, forward in the worker."""

        def __init__(self, session, group, handle, path):
            super().__init__()
            object.__setattr__(self, "_judge", (session, group, handle, path))

        def forward(self, *args, **kwargs):
            session, group, handle, path = object.__getattribute__(self, "_judge")
            root = session.mirrors[(group, handle["id"])]
            session.sync_module(group, handle, root)
            target = dict(handle, path=path) if path else handle
            label = f"{type(self).__name__}.forward"
            params = [p for p in self.parameters()]
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            differentiable = torch.is_grad_enabled() and not kwargs and \
                len(tensors) == len(args) and \
                any(t.requires_grad for t in params + tensors)
            if not differentiable:
                return session.call(group, target, label, args, kwargs)
            # Autograd through the student's forward: the backward is computed by torch in
            # the worker (op "vjp") and enters this graph as a custom Function.
            outs = _RemoteCall.apply(session, group, target, label, len(args), *args, *params)
            return outs[0] if getattr(_RemoteCall, "_single", False) else outs

    class _RemoteCall(torch.autograd.Function):
        @staticmethod
        def forward(ctx, session, group, target, label, n_in, *flat):
            inputs = flat[:n_in]
            out = session.call(group, target, label, tuple(t.detach() for t in inputs), {})
            outs = out if isinstance(out, tuple) else (out,)
            if not all(isinstance(o, torch.Tensor) for o in outs):
                raise CheckFailure(f"{label} must return torch tensors.")
            _RemoteCall._single = not isinstance(out, tuple)
            ctx.judge = (session, group, target, label, n_in, [t.detach() for t in inputs],
                         len(flat) - n_in)
            return tuple(o.detach().clone() for o in outs)

        @staticmethod
        def backward(ctx, *grads):
            session, group, target, label, n_in, inputs, n_params = ctx.judge
            grads = [None if g is None else g.detach() for g in grads]
            grads_by_name = session.vjp(group, target, label, inputs, grads)
            names = [n for n, _ in session.named_parameters_of(group, target)]
            g_in = [grads_by_name.get(f"arg{i}") for i in range(n_in)]
            g_par = [grads_by_name.get(n) for n in names]
            if len(g_par) != n_params:
                g_par = (g_par + [None] * n_params)[:n_params]
            return (None,) * 5 + tuple(g_in) + tuple(g_par)

    return RemoteModule


def _write_back(obj, path, value):
    """Apply an in-place change the student's function made to an argument."""
    import torch
    for key in path[:-1]:
        try:
            obj = obj[key]
        except (KeyError, IndexError, TypeError):
            return
    try:
        target = obj[path[-1]] if path else None
    except (KeyError, IndexError, TypeError):
        return
    if isinstance(target, np.ndarray) and isinstance(value, np.ndarray) and \
            target.shape == value.shape:
        target[...] = value
    elif isinstance(target, torch.Tensor) and isinstance(value, torch.Tensor) and \
            target.shape == value.shape:
        with torch.no_grad():
            target.copy_(value.to(target.dtype))


# ---------------------------------------------------------------- one submission
@dataclass
class Verdict:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str
    causes: list = field(default_factory=list)
    error_kind: str | None = None
    output: str = ""

    def as_json(self) -> dict:
        return {"grade_id": self.grade_id, "points": self.points, "max_points": self.max_points,
                "passed": self.passed, "message": self.message, "causes": list(self.causes),
                "error_kind": self.error_kind}


def _cells(nb):
    for cell in nb.cells:
        yield cell, cell.get("metadata", {}).get("nbgrader", {})


def answer_cells(nb) -> list[tuple[str, str]]:
    return [(md.get("grade_id", f"cell{i}"), cell.source)
            for i, (cell, md) in enumerate(_cells(nb))
            if cell.cell_type == "code" and md.get("solution") and not md.get("grade")]


def test_cells(master) -> list[tuple[str, str, float]]:
    return [(md["grade_id"], cell.source, float(md.get("points", 0)))
            for cell, md in _cells(master)
            if cell.cell_type == "code" and md.get("grade") and not md.get("solution")]


def setup_cells(master) -> list[str]:
    """The master's locked code cells before the first answer cell (imports, helpers)."""
    out = []
    for cell, md in _cells(master):
        if md.get("solution"):
            break
        if cell.cell_type == "code" and not md.get("grade"):
            out.append(cell.source)
    return out


def defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(t, ast.Name):
                    names.add(t.id)
    return names


class Session:
    """The student's code of one submission, in up to two workers (numpy-only and torch)."""

    def __init__(self, assignment: str, setup: list[str], answers: list[tuple[str, str]],
                 api: set[str] | None = None):
        self.setup = setup
        only = NUMPY_ONLY.get(assignment, set())
        self.answers = answers
        self.name_group: dict[str, str] = {}
        for gid, src in answers:
            for n in defined_names(src):
                # Only the names the assignment asks for become proxies in the judge; a
                # student's `grader = ...` or `np = ...` never replaces a trusted name.
                # A name is served by the worker its part requires, wherever it is defined.
                if api is None or n in api:
                    self.name_group[n] = "numpy" if only == "*" or n in only else "torch"
        self.workers: dict[str, Worker] = {}
        self.cell_errors: dict[str, str] = {}   # grade_id -> why the cell failed to run
        self.broken_cells: set[str] = set()     # cells that hang or crash: skipped on restart
        self.incident: str | None = None         # error kind of the last failed call
        self.mirrors: dict = {}
        self.started = 0
        self.deadline: float | None = None       # end of the current test cell's budget

    # -------------------------------------------------------- workers
    def worker(self, group: str) -> Worker:
        w = self.workers.get(group)
        if w is not None and not w.dead:
            return w
        if w is not None:
            w.kill()
        self.mirrors = {k: v for k, v in self.mirrors.items() if k[0] != group}
        numpy_only = group == "numpy"
        while True:
            w = Worker(numpy_only)
            self.started += 1
            self.workers[group] = w
            try:
                for src in self.setup:
                    w.request({"op": "exec", "source": src, "name": "setup",
                               "setup": True}, START_TIMEOUT_S, "the setup cell")
                # every answer cell runs in every worker, statement by statement: a cell
                # that also defines a torch class still defines its numpy functions
                for gid, src in self.answers:
                    if gid in self.broken_cells:
                        continue
                    reply = w.request({"op": "exec", "source": src, "name": gid,
                                       "stepwise": True}, CALL_TIMEOUT_S,
                                      f"the answer cell {gid}")
                    if not reply.get("ok"):
                        e = reply.get("error") or {}
                        self.cell_errors[(group, gid)] = _error_text(e, numpy_only)
            except WorkerLost as exc:
                if "gid" not in locals():  # the master's setup cell: not the student's fault
                    raise JudgeError(f"the worker could not run the setup cell: {exc}") from None
                self.cell_errors[(group, gid)] = str(exc)
                self.broken_cells.add(gid)
                del gid
                continue
            return w

    def close(self) -> None:
        for w in self.workers.values():
            w.kill()
        self.workers = {}

    # -------------------------------------------------------- values
    def _decode(self, group, value):
        import torch

        def from_handle(h):
            target = {"id": h["id"]}
            if h.get("module"):
                return self.mirror(group, target)
            return RemoteObject(self, group, target, h.get("type", "object"))
        return wire.decode(value, from_handle=from_handle, tensor_factory=torch.from_numpy)

    def _encode(self, value):
        def to_handle(obj):
            if isinstance(obj, RemoteObject):
                target = object.__getattribute__(obj, "_judge")[2]
                if "id" in target:
                    return {"t": "h", **target}
                raise CheckFailure("the judge cannot pass a student function to student code")
            judge = getattr(obj, "_judge", None)
            if judge is not None and isinstance(judge, tuple) and len(judge) == 4:
                return {"t": "h", "id": judge[2]["id"], **({"path": judge[3]}
                                                             if judge[3] else {})}
            raise CheckFailure(f"the judge cannot pass a {type(obj).__name__} to student code")
        return wire.encode(value, to_handle=to_handle)

    def _error(self, reply: dict, label: str, group: str):
        e = reply.get("error") or {}
        self.incident = e.get("kind") or "exception"
        if e.get("kind") == "forbidden_import":
            raise CheckFailure(f"{label} uses torch (or another autodiff library), but this "
                               "part must be written in numpy only; it scores 0. "
                               f"({e.get('type')}: {e.get('message')})")
        if e.get("kind") == "not_implemented":
            raise CheckFailure(f"{label} is not implemented yet (it raises "
                               "NotImplementedError).")
        if e.get("type") == "NameError" and "is not defined" in e.get("message", "") \
                and e.get("where", "") == "":
            raise CheckFailure(self._undefined(label, group))
        where = f" ({e['where']})" if e.get("where") else ""
        raise CheckFailure(f"{label} raised {e.get('type')}: {e.get('message')}{where}")

    def _undefined(self, label, group):
        name = label.split(".")[0].split("(")[0]
        for gid, src in self.answers:
            if name in defined_names(src) and (group, gid) in self.cell_errors:
                return (f"{name} is not defined: its cell failed "
                        f"({self.cell_errors[(group, gid)]}).")
        return f"{name} is not defined: write it in its answer cell."

    # -------------------------------------------------------- operations
    def _request(self, group, message, label):
        timeout = CALL_TIMEOUT_S
        if self.deadline is not None:
            timeout = max(0.5, min(timeout, self.deadline - time.monotonic()))
        try:
            return self.worker(group).request(message, timeout, label)
        except WorkerLost as exc:
            self.incident = exc.kind
            raise

    def call(self, group, target, label, args, kwargs):
        try:
            return self._call(group, target, label, args, kwargs)
        except (CheckFailure, JudgeError):
            raise
        except Exception as exc:
            raise JudgeError(f"calling {label}: {type(exc).__name__}: {exc}") from exc

    def _call(self, group, target, label, args, kwargs):
        msg = {"op": "call", "target": target, "args": self._encode(list(args)),
               "kwargs": self._encode(dict(kwargs))}
        reply = self._request(group, msg, label)
        if not reply.get("ok"):
            self._error(reply, label, group)
        for path, value in reply.get("mutated", [])[:64]:
            if isinstance(path, list) and path and isinstance(path[0], int):
                _write_back(args, path, self._decode(group, value))
        return self._decode(group, reply.get("value"))

    def getattr(self, group, target, name, label):
        reply = self._request(group, {"op": "getattr", "target": target, "name": name}, label)
        if not reply.get("ok"):
            raise AttributeError(name)
        return self._decode(group, reply.get("value"))

    def proxy(self, name: str):
        group = self.name_group[name]
        return RemoteObject(self, group, {"name": name}, name)

    # -------------------------------------------------------- torch modules
    def mirror(self, group, handle):
        """Rebuild a student's nn.Module here: torch's layers for real, the rest remote."""
        import torch
        reply = self._request(group, {"op": "module", "target": handle}, "the module")
        if not reply.get("ok"):
            self._error(reply, "the module", group)
        desc = self._decode(group, reply["value"])
        state, tree = desc["state"], desc["tree"]
        RemoteModule = _mirror_class()
        made = {}
        for path in sorted(tree, key=lambda p: (p.count(".") if p else -1, p)):
            info = tree[path]
            cls = getattr(torch.nn, info["class"] or "", None)
            if cls is not None and isinstance(cls, type) and issubclass(cls, torch.nn.Module):
                m = cls.__new__(cls)
                torch.nn.Module.__init__(m)
                for k, v in info["attrs"].items():
                    # plain settings only (in_features, eps, ...): never a name the class
                    # defines itself, such as a method or a property
                    if isinstance(k, str) and k.isidentifier() and not hasattr(cls, k):
                        object.__setattr__(m, k, v)
            else:
                m = RemoteModule(self, group, handle, path)
            for p in info["params"]:
                key = f"{path}.{p}" if path else p
                m._parameters[p] = torch.nn.Parameter(state[key]) if key in state else None
            for b in info["buffers"]:
                key = f"{path}.{b}" if path else b
                m._buffers[b] = state.get(key)
            if isinstance(m, torch.nn.RNNBase):  # (glue from helper `graded`): GRU/LSTM
                m._flat_weights_names = list(info["params"])  # keep __init__'s private lists
                groups = {}
                for n in m._flat_weights_names:
                    groups.setdefault(n.rpartition("_l")[2], []).append(n)
                m._all_weights = list(groups.values())
                m._init_flat_weights()
            made[path] = m
            if path:
                parent, _, leaf = path.rpartition(".")
                made[parent]._modules[leaf] = m
        root = made[""]
        root.train(bool(desc.get("training", True)))
        self.mirrors[(group, handle["id"])] = root
        return root

    def named_parameters_of(self, group, target):
        root = self.mirrors[(group, target["id"])]
        module = root.get_submodule(target["path"]) if target.get("path") else root
        return list(module.named_parameters())

    def vjp(self, group, target, label, inputs, upstream) -> dict:
        msg = {"op": "vjp", "target": target, "args": self._encode(list(inputs)),
               "upstream": self._encode(list(upstream))}
        reply = self._request(group, msg, f"the backward pass of {label}")
        if not reply.get("ok"):
            self._error(reply, f"the backward pass of {label}", group)
        grads = self._decode(group, reply.get("value"))
        if not isinstance(grads, dict):
            raise CheckFailure(f"the backward pass of {label} returned no gradients")
        return grads

    def sync_module(self, group, handle, root):
        state = {k: v.detach() for k, v in root.state_dict().items()}
        reply = self._request(group, {"op": "load", "target": {"id": handle["id"]},
                                      "state": self._encode(state),
                                      "training": bool(root.training)}, "loading parameters")
        if not reply.get("ok"):
            self._error(reply, "loading the parameters", group)


def _error_text(e: dict, numpy_only: bool) -> str:
    if e.get("kind") == "forbidden_import":
        return ("it uses torch, but this part must be written in numpy only "
                f"({e.get('type')}: {e.get('message')})")
    where = f" ({e['where']})" if e.get("where") else ""
    return f"{e.get('type')}: {e.get('message')}{where}"


# ---------------------------------------------------------------- grading
MESSAGE_LIMIT = 4000


def _trusted_namespace(setup: list[str], session: Session) -> dict:
    import torch
    torch.set_default_dtype(torch.float32)
    ns = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for src in setup:
            exec(compile(src, "<setup>", "exec"), ns)
    for name in session.name_group:
        ns[name] = session.proxy(name)
    return ns


def run_tests(master, answers: list[tuple[str, str]], assignment: str,
              ) -> list[Verdict]:
    """Grade the answer cells against the master's test cells. Never raises."""
    setup = setup_cells(master)
    trusted = set().union(*(defined_names(src) for src in setup)) | {"grader"}
    api = set().union(*(defined_names(src) for _, src in answer_cells(master))) - trusted
    session = Session(assignment, setup, answers, api)
    verdicts = []
    try:
        ns = _trusted_namespace(setup, session)
        started = time.monotonic()
        for gid, source, points in test_cells(master):
            if time.monotonic() - started > SUBMISSION_BUDGET_S:
                verdicts.append(Verdict(gid, 0.0, points, False, (
                    f"not run: the submission used up its {SUBMISSION_BUDGET_S:g} s of grading "
                    "time (slow or crashing answers above)"), [], "timeout"))
                continue
            session.incident = None
            session.deadline = time.monotonic() + TEST_BUDGET_S
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(source, f"<test {gid}>", "exec"), dict(ns))
                verdicts.append(Verdict(gid, points, points, True, "", [], None,
                                        out.getvalue()[-MESSAGE_LIMIT:]))
            except CheckFailure as exc:
                kind = getattr(exc, "kind", None) or session.incident or "wrong"
                if kind == "not_implemented":
                    kind = "exception"
                if kind == "exception" and not isinstance(exc, WorkerLost) and \
                        session.incident is None:
                    kind = "wrong"
                verdicts.append(Verdict(gid, 0.0, points, False, str(exc)[:MESSAGE_LIMIT],
                                        list(getattr(exc, "causes", []) or []), kind,
                                        out.getvalue()[-MESSAGE_LIMIT:]))
            except Exception as exc:  # a test cell that cannot run: not the student's fault?
                msg = f"{type(exc).__name__}: {exc}"[:MESSAGE_LIMIT]
                verdicts.append(Verdict(gid, 0.0, points, False, msg, [],
                                        session.incident or "exception",
                                        out.getvalue()[-MESSAGE_LIMIT:]))
    finally:
        session.close()
    return verdicts


def grade_notebook(nb, master, assignment: str) -> list[Verdict]:
    return run_tests(master, answer_cells(nb), assignment)


def answers_hash(nb) -> str:
    """Identifies the answers a set of verdicts was computed for."""
    import hashlib
    h = hashlib.sha256()
    for gid, src in answer_cells(nb):
        h.update(json.dumps([gid, src]).encode("utf-8"))
    return h.hexdigest()


def verdict_outputs(v: Verdict) -> list:
    """The outputs nbgrader stores for a test cell: an error when it failed."""
    import nbformat
    if v.passed:
        text = v.output or "passed\n"
        return [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return [nbformat.v4.new_output("error", ename="CheckFailure", evalue=v.message,
                                   traceback=[f"CheckFailure: {v.message}"])]


def apply_verdicts(nb, verdicts: list[Verdict]):
    """Fill the test cells' outputs with the trusted verdicts; clear every other output."""
    by_id = {v.grade_id: v for v in verdicts}
    for cell, md in _cells(nb):
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        v = by_id.get(md.get("grade_id"))
        if v is not None and md.get("grade"):
            cell.outputs = verdict_outputs(v)
    return nb
