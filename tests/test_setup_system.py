"""scripts/setup_system.sh installs only what is missing, only as root, and never fails make test."""
import os
import subprocess

from course import ROOT

SCRIPT = ROOT / "scripts" / "setup_system.sh"


def fake_tools(tmp_path, installed: bool):
    """dpkg-query that reports every package (not) installed, apt-get that logs its calls."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    status = "install ok installed" if installed else "unknown ok not-installed"
    (bin_ / "dpkg-query").write_text(f"#!/bin/sh\nprintf '%s' '{status}'\n")
    (bin_ / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/apt.log\n")
    for tool in bin_.iterdir():
        tool.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_}{os.pathsep}/usr/bin{os.pathsep}/bin")


def run(env):
    proc = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_nothing_to_do_when_everything_is_installed(tmp_path):
    out = run(fake_tools(tmp_path, installed=True))
    assert "all system packages present" in out
    assert not (tmp_path / "apt.log").exists()


def test_missing_packages_are_installed_as_root_or_listed(tmp_path):
    out = run(fake_tools(tmp_path, installed=False))
    wanted = {"postgresql", "chromium", "bubblewrap"}
    if os.geteuid() == 0:
        calls = (tmp_path / "apt.log").read_text().splitlines()
        assert calls[0].startswith("update")
        assert calls[1].startswith("install") and wanted <= set(calls[1].split())
    else:
        assert "not root; skipped" in out and wanted <= set(out.split(":")[-1].split())
