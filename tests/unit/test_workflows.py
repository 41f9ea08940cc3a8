"""The GitHub workflows, which never run on the development machines, checked statically.

actionlint (built from its served Go module, tests/toolchain/lint.py) reads every workflow: expressions, job and
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
    from tests.toolchain.build import EngineUnavailable
    from tests.toolchain.lint import lint_binaries

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


def _l3() -> dict:
    import yaml

    return yaml.safe_load((ROOT / ".github" / "workflows" / "l3.yml").read_text())


def test_the_preview_comment_runs_only_when_the_preview_ran_and_the_token_can_write():
    """The comment step reads the preview's file: it must not run after an earlier step failed (the file was
    never written), nor on a fork's pull request (its token is read-only)."""
    preview = _l3()["jobs"]["preview"]
    assert preview["permissions"]["pull-requests"] == "write"
    steps = {step.get("id"): step for step in preview["steps"]}
    assert "preview.txt" in steps["preview"]["run"]
    [comment] = [step for step in preview["steps"] if "gh pr comment" in step.get("run", "")]
    guard = comment["if"]
    assert "steps.preview.outcome == 'success' || steps.preview.outcome == 'failure'" in guard
    assert "github.event.pull_request.head.repo.full_name == github.repository" in guard
    # Only the preview job may write to pull requests.
    assert _l3()["permissions"] == {"contents": "read"}


def test_no_step_assumes_root():
    """GitHub's runners run steps as a user with sudo: nothing installs with apt, writes system paths or makes a
    namespace without saying sudo (the test cluster finds its own way: tests/integration/kube.py)."""
    needs_root = ("apt-get", "apt ", "unshare", "/usr/local/", "/etc/", "setcap", "mount ")
    found = []
    for name, job in _l3()["jobs"].items():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                if any(word in line for word in needs_root) and "sudo" not in line:
                    found.append(f"{name}: {line.strip()}")
    assert found == []


def test_the_jobs_split_tests_preview_and_the_full_stack_with_one_plugin_cache():
    workflow = _l3()
    jobs = workflow["jobs"]
    assert set(jobs) == {"tests", "preview", "stack"}
    assert jobs["preview"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["stack"]["if"] == "github.event_name != 'pull_request'"
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and "schedule" in triggers
    # The CLI's plugins and every test stack's: one home (tests/toolchain/engine.py reads LVP_PULUMI_HOME).
    assert workflow["env"]["LVP_PULUMI_HOME"] == "/home/runner/.pulumi"
    for job in jobs.values():
        assert any(s.get("with", {}).get("path") == "~/.pulumi/plugins" for s in job["steps"]), job
        assert job["timeout-minutes"] <= 90
    checks = [s["run"] for s in jobs["tests"]["steps"] if "scripts/stack check" in s.get("run", "")]
    assert checks and "Pulumi.*.yaml" in checks[0]


def test_test_stacks_share_the_plugin_home_the_workflow_names(tmp_path, monkeypatch):
    from tests.toolchain import engine

    found = engine.Engine(tmp_path, tmp_path / "pulumi", engine.PULUMI_VERSION, (), built=False)
    assert found.env(tmp_path / "a")["PULUMI_HOME"] == str(tmp_path / "a" / "home")
    monkeypatch.setenv("LVP_PULUMI_HOME", "/home/runner/.pulumi")
    assert found.env(tmp_path / "a")["PULUMI_HOME"] == found.env(tmp_path / "b")["PULUMI_HOME"]
