"""Install the CPU build of torch (the version pinned in requirements.txt) before everything else.

    python scripts/install_torch.py [--index-url URL]

On Linux, `pip install torch==X` from PyPI resolves the CUDA build: several GB of nvidia-*
wheels the course never uses. PyTorch publishes CPU wheels on its own index
(https://download.pytorch.org/whl/cpu), so this script

1. does nothing when the pinned torch is installed already and is a CPU build;
2. otherwise installs the pin from --index-url (the Makefile passes TORCH_INDEX, by default
   PyTorch's CPU index) when that index answers;
3. otherwise asks pip, without downloading any wheel (`--dry-run --report`, metadata only),
   what the default index would install, and installs it only if it needs no nvidia-* package
   (macOS and Windows wheels on PyPI, a local mirror or wheel folder with the CPU build);
   a CUDA build is refused with a message that says what to do.

requirements.txt then finds torch satisfied and never resolves it again.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip"]


def pinned_torch() -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if re.match(r"^torch\s*[=<>~!]", line.strip()):
            return line.split("#")[0].strip().replace(" ", "")
    return "torch"


def installed_cpu_torch(spec: str) -> bool:
    code = ("import torch, sys; print(torch.__version__.split('+')[0]); "
            "sys.exit(0 if torch.version.cuda is None else 3)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return False
    want = spec.partition("==")[2]
    return not want or proc.stdout.strip() == want.split("+")[0]


def from_index(spec: str, index_url: str) -> bool:
    print(f"installing {spec} from {index_url}")
    proc = subprocess.run([*PIP, "install", "--quiet", "--retries", "1", "--timeout", "20",
                           "--index-url", index_url, spec])
    return proc.returncode == 0


def default_index_is_cpu(spec: str) -> tuple[bool, str]:
    """(no CUDA packages needed, where the wheel comes from), from pip's resolver report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([*PIP, "install", "--quiet", "--dry-run", "--ignore-installed",
                        "--no-deps", "--report", str(report), spec], check=True)
        items = json.loads(report.read_text())["install"]
    torch = next(i for i in items if i["metadata"]["name"].lower() == "torch")
    needs = [r for r in torch["metadata"].get("requires_dist") or [] if r.startswith("nvidia-")]
    return not needs, torch["download_info"]["url"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-url", default="",
                        help="a torch wheel index with CPU builds; empty: pip's default")
    args = parser.parse_args(argv)
    spec = pinned_torch()
    if installed_cpu_torch(spec):
        print(f"{spec} (CPU build) is installed already")
        return 0
    if args.index_url and from_index(spec, args.index_url):
        return 0
    if args.index_url:
        print(f"{args.index_url} did not answer; asking pip's default index instead")
    cpu, url = default_index_is_cpu(spec)
    if not cpu:
        print(f"""
Refusing to install {spec} from {url}:
that is the CUDA build (it pulls several GB of nvidia-* packages this course never uses).
Install the CPU build from PyTorch's CPU wheel index, then run make again:

    .venv/bin/python -m pip install --index-url https://download.pytorch.org/whl/cpu {spec}

or point the Makefile at a mirror of that index: make TORCH_INDEX=<url> ...""",
              file=sys.stderr)
        return 1
    print(f"installing {spec} from {url}")
    return subprocess.run([*PIP, "install", "--quiet", spec]).returncode


if __name__ == "__main__":
    sys.exit(main())
