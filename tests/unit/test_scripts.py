"""scripts/stack names a missing prerequisite in a plain message, before touching anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fake_bin(tmp_path: Path, **tools: str) -> str:
    """A PATH holding python3, dirname and sed, plus fake tools given as shell bodies."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    for tool in ("dirname", "sed"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in tools.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    return str(bin_dir)


def run_stack(path: str, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), "LVP_STACK": "dev"}
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "stack"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_tools_are_all_named(tmp_path):
    result = run_stack(fake_bin(tmp_path), "up")
    assert result.returncode == 2
    for tool in ("pulumi", "docker", "k3d"):
        assert f"  - {tool}: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_docker_engine_that_does_not_answer_is_named(tmp_path):
    path = fake_bin(tmp_path, pulumi="exit 0", docker="exit 1", k3d="echo 'k3d version v5.8.3'")
    result = run_stack(path, "preview")
    assert result.returncode == 2
    assert "engine does not answer" in result.stderr


@pytest.mark.parametrize(("version", "ok"), [("v5.4.9", False), ("v5.6.0", True), ("v6.0.1", True)])
def test_k3d_version_is_checked(tmp_path, version, ok):
    path = fake_bin(tmp_path, pulumi="exit 0", docker="exit 0", k3d=f"echo 'k3d version {version}'")
    result = run_stack(path, "check")
    assert (result.returncode == 0) == ok, result.stderr
    if not ok:
        assert "k3d >= 5.6 is needed" in result.stderr


def test_an_external_stack_needs_neither_docker_nor_k3d(tmp_path):
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "stack"), "check"],
        env={"PATH": fake_bin(tmp_path, pulumi="exit 0"), "HOME": "/tmp", "LVP_STACK": "prod"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
