"""The GitHub workflows, which never run on the development machines, checked statically.

actionlint (built from its served Go module, toolchain/lint.py) reads every workflow: expressions, job and
step keys, action inputs, and each `run:` script through shellcheck (Debian's, on PATH; scripts/test
installs the pinned version where it is missing). The versions a workflow installs are tied to the pins in
tests/unit/test_pins.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def linters() -> tuple[Path, str]:
    from toolchain.build import EngineUnavailable
    from toolchain.lint import lint_binaries

    why = ""
    try:
        actionlint = lint_binaries(log=lambda _line: None)["actionlint"]
    except EngineUnavailable as exc:
        actionlint, why = None, f"actionlint cannot be built: {exc}"
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        why = "no shellcheck on PATH (scripts/test installs Debian's with apt)"
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    return actionlint, shellcheck


def test_every_workflow_passes_actionlint_and_shellcheck():
    actionlint, shellcheck = linters()
    assert WORKFLOWS, "no workflow found: the check is not looking"
    result = subprocess.run(
        [str(actionlint), "-shellcheck", shellcheck, "-no-color", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_catch_a_broken_workflow(tmp_path):
    """A workflow with an unknown key, a bad expression and a shell bug must fail: the check can fail."""
    actionlint, shellcheck = linters()
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    step:\n      - run: echo\n"
        "  y:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nonsense( }}\n"
        "      - run: |\n          for f in $(ls *.txt); do cat $f; done\n"
    )
    result = subprocess.run(
        [str(actionlint), "-shellcheck", shellcheck, "-no-color", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    for finding in ('unexpected key "step"', "parser did not reach end of input", "SC2045"):
        assert finding in result.stdout, result.stdout


def test_the_projects_own_shell_scripts_pass_shellcheck():
    _actionlint, shellcheck = linters()
    scripts = [ROOT / "scripts" / "stack", ROOT / "scripts" / "test", ROOT / ".ci" / "run"]
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
