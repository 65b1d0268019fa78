"""The student side of the trusted judge: runs answer cells and serves calls on them.

Started by `autograder.judge.Worker` inside the sandbox (bubblewrap) as
`python -m autograder.sandbox_worker '<limits JSON>'`. It applies its resource limits,
drops to an unprivileged uid when started as root, moves the channel off stdin/stdout
(which then point at /dev/null: whatever the student prints is discarded), and answers
requests from the judge, one frame at a time (`autograder.wire`):

    {"op": "exec", "source": ..., "name": grade_id}      run one cell in the notebook namespace
    {"op": "call", "target": <target>, "args": [...], "kwargs": [...]}
    {"op": "getattr", "target": <target>, "name": "..."}
    {"op": "module", "target": <target>}                 describe an nn.Module for a mirror
    {"op": "load", "target": <target>, "state": {...}, "double": bool}  set its parameters
    {"op": "vjp", "target": <target>, "args": [...], "upstream": [...]} autograd through it

Everything here is under the student's control once their code has run (they can patch
this module, forge replies, or exit): the judge trusts none of it. Replies carry data
only, so a forged reply is no more than a chosen return value.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
import traceback

FORBIDDEN_IN_NUMPY_PARTS = ("torch", "functorch", "torchgen", "jax", "jaxlib", "autograd",
                            "tensorflow", "keras")


def _apply_limits(limits: dict) -> None:
    R = resource
    for name, key in (("cpu_s", R.RLIMIT_CPU), ("memory_bytes", R.RLIMIT_AS),
                      ("file_bytes", R.RLIMIT_FSIZE), ("processes", R.RLIMIT_NPROC),
                      ("open_files", R.RLIMIT_NOFILE)):
        if limits.get(name):
            value = int(limits[name])
            resource.setrlimit(key, (value, value))
    resource.setrlimit(R.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file: an error, not a kill
    uid = limits.get("uid")
    if uid and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


class _NoTorch:
    """Import hook of the numpy-only workers (the packages are also absent from the sandbox)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN_IN_NUMPY_PARTS:
            raise ModuleNotFoundError(
                f"No module named '{name}': this part must be written in numpy only "
                "(torch and other autodiff libraries are not available when it is graded)",
                name=name)
        return None


UNAVAILABLE: set[str] = set()  # names the setup cell could not import in this worker


def _forbidden(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, NameError) and getattr(exc, "name", None) in UNAVAILABLE:
            return True
        if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] in \
                FORBIDDEN_IN_NUMPY_PARTS:
            return True
        if isinstance(exc, (AttributeError, ImportError)) and "torch" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class Server:
    def __init__(self, cin: int, cout: int, numpy_only: bool):
        from autograder import wire
        self.wire, self.cin, self.cout = wire, cin, cout
        self.numpy_only = numpy_only
        self.ns = {"__name__": "__main__", "__builtins__": __builtins__,
                   "get_ipython": lambda: _FakeIPython()}
        self.objects: dict[int, object] = {}
        self.torch = None
        if not numpy_only:
            import torch
            self.torch = torch

    # -------------------------------------------------------- values
    def _to_handle(self, obj):
        key = id(obj)
        self.objects[key] = obj
        module = self.torch is not None and isinstance(obj, self.torch.nn.Module)
        return {"t": "h", "id": key, "type": type(obj).__name__[:80], "module": module}

    def _from_handle(self, d):
        return self.target(d)

    def _tensor(self, arr):
        if self.torch is None:
            import torch
            self.torch = torch
        return self.torch.from_numpy(arr)

    def enc(self, value):
        return self.wire.encode(value, to_handle=self._to_handle)

    def dec(self, value):
        return self.wire.decode(value, from_handle=self._from_handle,
                                tensor_factory=None if self.numpy_only else self._tensor)

    def target(self, t):
        if "name" in t:
            if t["name"] not in self.ns:
                raise NameError(f"name {t['name']!r} is not defined")
            return self.ns[t["name"]]
        if t.get("id") not in self.objects:
            raise KeyError("stale object handle")
        obj = self.objects[t["id"]]
        return obj.get_submodule(t["path"]) if t.get("path") else obj

    # -------------------------------------------------------- ops
    def op_exec(self, msg):
        source = msg["source"]
        if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
            from IPython.core.inputtransformer2 import TransformerManager
            source = TransformerManager().transform_cell(source)
        if msg.get("setup"):
            # The master's setup cell, one statement at a time: in a numpy-only worker its
            # torch lines fail and the rest (numpy, helpers) must still be defined.
            import ast
            for stmt in ast.parse(source).body:
                try:
                    exec(compile(ast.Module([stmt], []), "<setup>", "exec"), self.ns)
                except Exception:  # noqa: BLE001
                    if isinstance(stmt, (ast.Import, ast.ImportFrom)):  # e.g. torch, nn
                        UNAVAILABLE.update((a.asname or a.name).split(".")[0]
                                           for a in stmt.names)
            return None
        filename = f"<cell {msg.get('name')}>"
        import linecache
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        if not msg.get("stepwise"):
            exec(compile(source, filename, "exec"), self.ns)
            return None
        import ast
        first = None
        for stmt in ast.parse(source, filename).body:
            try:
                exec(compile(ast.Module([stmt], []), filename, "exec"), self.ns)
            except Exception as exc:  # noqa: BLE001  (reported once the cell has run)
                first = first or exc
        if first is not None:
            raise first
        return None

    def op_call(self, msg):
        fn = self.target(msg["target"])
        args = self.dec(msg.get("args", {"t": "list", "v": []}))
        kwargs = self.dec(msg.get("kwargs", {"t": "dict", "v": []}))
        snapshot = _snapshot(args)
        result = fn(*args, **kwargs)
        mutated = []
        _diff(args, snapshot, [], mutated)
        return {"value": self.enc(result),
                "mutated": [[p, self.enc(v)] for p, v in mutated[:64]]}

    def op_getattr(self, msg):
        return {"value": self.enc(getattr(self.target(msg["target"]), msg["name"]))}

    def op_module(self, msg):
        return {"value": describe_module(self.target(msg["target"]), self.enc)}

    def op_load(self, msg):
        import torch
        m = self.target(msg["target"])
        if msg.get("double"):
            m.double()
        state = self.dec(msg["state"])
        named = dict(m.named_parameters())
        buffers = dict(m.named_buffers())
        with torch.no_grad():
            for name, value in state.items():
                if name in named:
                    named[name].data = value.clone()
                elif name in buffers:
                    owner, _, leaf = name.rpartition(".")
                    setattr(m.get_submodule(owner) if owner else m, leaf, value.clone())
        m.train(bool(msg.get("training", False)))
        return None

    def op_vjp(self, msg):
        """Gradients of sum(outputs * upstream) w.r.t. the parameters and float inputs."""
        import torch
        fn = self.target(msg["target"])
        args = self.dec(msg["args"])
        upstream = self.dec(msg["upstream"])
        args = [a.clone().requires_grad_(True) if isinstance(a, torch.Tensor) and
                a.is_floating_point() else a for a in args]
        outs = fn(*args)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        total = sum((o * u).sum() for o, u in zip(outs, upstream) if u is not None)
        params = dict(fn.named_parameters()) if hasattr(fn, "named_parameters") else {}
        for p in params.values():
            p.requires_grad_(True)
        leaves = list(params.values()) + [a for a in args if isinstance(a, torch.Tensor)
                                          and a.requires_grad]
        grads = torch.autograd.grad(total, leaves, allow_unused=True) if \
            isinstance(total, torch.Tensor) and total.requires_grad else [None] * len(leaves)
        names = list(params) + [f"arg{i}" for i, a in enumerate(args)
                                if isinstance(a, torch.Tensor) and a.requires_grad]
        return {"value": self.enc({n: (torch.zeros_like(l) if g is None else g)
                                   for n, l, g in zip(names, leaves, grads)})}

    def serve(self):
        while True:
            try:
                msg = self.wire.read_frame(self.cin)
            except EOFError:
                return
            op = getattr(self, "op_" + str(msg.get("op")), None)
            try:
                if op is None:
                    raise ValueError(f"unknown op {msg.get('op')!r}")
                reply = {"ok": True, **(op(msg) or {})}
            except BaseException as exc:  # noqa: BLE001  (report anything, keep serving)
                if isinstance(exc, SystemExit) and msg.get("op") != "exec":
                    pass
                reply = {"ok": False, "error": _describe(exc, self.numpy_only)}
            try:
                self.wire.write_frame(self.cout, reply)
            except self.wire.WireError as exc:
                self.wire.write_frame(self.cout, {"ok": False, "error": {
                    "kind": "limit", "type": "WireError", "message": str(exc)[:500],
                    "where": ""}})


def _describe(exc: BaseException, numpy_only: bool) -> dict:
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith("<cell "):
            where = f"line {frame.lineno}: `{(frame.line or '').strip()[:120]}`"
            if frame.name != "<module>":
                where = f"in {frame.name}, " + where
            break
    kind = "forbidden_import" if numpy_only and _forbidden(exc) else "exception"
    if isinstance(exc, MemoryError):
        kind = "limit"
    if isinstance(exc, NotImplementedError):
        kind = "not_implemented"
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001
        text = "(unprintable)"
    return {"kind": kind, "type": type(exc).__name__[:80], "message": text[:1000],
            "where": where}


def _snapshot(value):
    import numpy as np
    if type(value) is np.ndarray:
        return value.copy()
    if type(value).__name__ in ("Tensor", "Parameter") and hasattr(value, "clone"):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_snapshot(v) for v in value]
    return None


def _diff(value, snap, path, out):
    import numpy as np
    if type(value) is np.ndarray and type(snap) is np.ndarray:
        if value.shape != snap.shape or not np.array_equal(value, snap, equal_nan=True):
            out.append((path, value))
    elif hasattr(value, "detach") and hasattr(snap, "detach"):
        if value.shape != snap.shape or not bool((value.detach() == snap).all()):
            out.append((path, value))
    elif isinstance(value, dict) and isinstance(snap, dict):
        for k in value:
            if k in snap and isinstance(k, (str, int)):
                _diff(value[k], snap[k], path + [k], out)
    elif isinstance(value, (list, tuple)) and isinstance(snap, list):
        for i, (v, s) in enumerate(zip(value, snap)):
            _diff(v, s, path + [i], out)


def describe_module(m, enc) -> dict:
    """The tree of an nn.Module: for torch's own layers, enough to rebuild them in the judge."""
    import torch
    tree = {}
    for name, sub in m.named_modules():
        cls = type(sub)
        builtin = cls.__module__.startswith("torch.nn.modules") and \
            getattr(torch.nn, cls.__name__, None) is cls
        attrs = {}
        if builtin:
            for k, v in vars(sub).items():
                if not k.startswith("_") and isinstance(v, (int, float, str, bool, tuple,
                                                            type(None))):
                    attrs[k] = v
        tree[name] = {"class": cls.__name__ if builtin else None, "attrs": attrs,
                      "params": list(sub._parameters), "buffers": list(sub._buffers)}
    state = {k: v for k, v in m.state_dict().items()}
    return enc({"tree": tree, "state": state, "training": bool(m.training)})


class _FakeIPython:
    def __getattr__(self, name):
        return lambda *a, **k: None


def _serve(cin: int, cout: int, limits: dict) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    _apply_limits(limits)
    numpy_only = bool(limits.get("numpy_only"))
    if numpy_only:
        sys.meta_path.insert(0, _NoTorch())
    import warnings
    warnings.filterwarnings("ignore")
    import numpy  # noqa: F401  (imported before the student's code runs)
    if not numpy_only:
        import torch  # noqa: F401
    Server(cin, cout, numpy_only).serve()
    os._exit(0)


def main() -> None:
    limits = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    cin, cout = os.dup(0), os.dup(1)
    _serve(cin, cout, limits)


# ---------------------------------------------------------------- the fork server
def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _uid_pids(uid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    out.append(int(name))
            except OSError:
                pass
    return out


def zygote_main() -> None:
    """A fork server for torch workers, one per judge process, in its own bubblewrap sandbox.

    Importing torch costs a second or more of CPU; the zygote imports it once (it runs no
    student code) and forks one worker per submission. The worker drops to the judge process's own uid
    and gets its own scratch directory; before the next worker starts, every process of
    that uid is killed and the scratch space is wiped, so nothing of one submission is left
    for the next. Control channel: stdin, a Unix socket; each request carries the two pipe
    ends of the new worker's channel (SCM_RIGHTS).
    """
    import shutil
    import socket
    import tempfile
    import time
    limits = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    ctl = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    import warnings
    warnings.filterwarnings("ignore")
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import autograder.wire  # noqa: F401
    uid = limits.get("uid")
    child = None
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(ctl, 1024, 2)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)
        command = data.decode().strip()
        if command == "spawn" and len(fds) == 2:
            scratch = tempfile.mkdtemp(dir="/tmp")
            if uid:
                os.chown(scratch, uid, uid)
            pid = os.fork()
            if pid == 0:
                try:
                    ctl.close()
                    os.setsid()
                    os.chdir(scratch)
                    worker_limits = dict(limits)
                    worker_limits["memory_bytes"] = _vm_size() + int(limits.get("memory_bytes", 0))
                    _serve(fds[0], fds[1], worker_limits)
                finally:
                    os._exit(70)
            for fd in fds:
                os.close(fd)
            child = pid
            ctl.sendall(f"{pid}\n".encode())
        elif command == "kill":
            status = ""
            if child:
                try:
                    done, code = os.waitpid(child, os.WNOHANG)
                    if done:
                        status = str(code)
                except ChildProcessError:
                    pass
                with_pids = [child] + (_uid_pids(uid) if uid else [])
                for _ in range(200):
                    for p in with_pids:
                        try:
                            os.kill(p, 9)
                        except (ProcessLookupError, PermissionError):
                            pass
                    try:
                        while os.waitpid(-1, os.WNOHANG)[0]:
                            pass
                    except ChildProcessError:
                        pass
                    with_pids = _uid_pids(uid) if uid else []
                    if not with_pids:
                        break
                    time.sleep(0.02)
                if not status:
                    try:
                        done, code = os.waitpid(child, 0)
                        status = str(code)
                    except ChildProcessError:
                        pass
                child = None
            for name in os.listdir("/tmp"):  # nothing of this submission for the next
                path = os.path.join("/tmp", name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
            ctl.sendall(f"ok {status}\n".encode())
        else:
            for fd in fds:
                os.close(fd)
            ctl.sendall(b"error\n")


if __name__ == "__main__":
    main()
