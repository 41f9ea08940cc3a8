"""scripts/stack names a missing prerequisite in a plain message, before touching anything."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from linkerd_vault_pki import versions
from tests.helpers import PULUMI, fake_bin, run_stack

ROOT = Path(__file__).resolve().parents[2]


def test_missing_tools_are_all_named(tmp_path):
    result = run_stack(fake_bin(tmp_path), "up")
    assert result.returncode == 2
    for tool in ("pulumi", "docker", "k3d"):
        assert f"  - {tool}: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_docker_engine_that_does_not_answer_is_named(tmp_path):
    path = fake_bin(tmp_path, pulumi=PULUMI, docker="exit 1", k3d="echo 'k3d version v5.8.3'")
    result = run_stack(path, "preview")
    assert result.returncode == 2
    assert "engine does not answer" in result.stderr


@pytest.mark.parametrize(("version", "ok"), [("v5.4.9", False), ("v5.6.0", True), ("v6.0.1", True)])
def test_k3d_version_is_checked(tmp_path, version, ok):
    path = fake_bin(tmp_path, pulumi=PULUMI, docker="exit 0", k3d=f"echo 'k3d version {version}'")
    result = run_stack(path, "doctor")
    assert (result.returncode == 0) == ok, result.stderr
    if not ok:
        assert "k3d >= 5.6 is needed" in result.stderr


@pytest.mark.parametrize(
    ("settings", "needs"),
    [
        ({"clusterMode": "existing", "vaultMode": "external"}, set()),
        ({"clusterMode": "none", "vaultMode": "external"}, set()),
        ({"clusterMode": "existing"}, {"docker"}),  # the Vault dev container
        ({"vaultMode": "external"}, {"docker", "k3d"}),  # the k3d cluster
        ({}, {"docker", "k3d"}),  # the defaults are the laptop
        # a `clusters` list: k3d when an entry is k3d (the top-level clusterMode is every entry's default)
        (
            {"clusterMode": "existing", "vaultMode": "external", "clusters": "\n    - name: a\n    - name: b"},
            set(),
        ),
        (
            {"clusterMode": "existing", "vaultMode": "external", "clusters": "\n    - name: a\n      clusterMode: k3d"},
            {"docker", "k3d"},
        ),
        # A cluster-only stack on an existing cluster runs no Vault container (vaultMode's default is docker).
        ({"clusterMode": "existing", "vaultSide": "provided"}, set()),
        ({"vaultSide": "reference"}, {"docker", "k3d"}),
    ],
)
@pytest.mark.parametrize("quote", ["", '"'], ids=["plain keys", "quoted keys"])
def test_docker_and_k3d_are_asked_for_only_where_the_stack_uses_them(tmp_path, settings, needs, quote):
    project = tmp_path / "project"
    # scripts/prerequisites.py is the standard library's only: the scripts are all the doctor needs.
    shutil.copytree(ROOT / "scripts", project / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    lines = "".join(f"  {quote}linkerd-vault-pki:{key}{quote}: {value}\n" for key, value in settings.items())
    (project / "Pulumi.prod.yaml").write_text("config:\n" + lines)
    result = subprocess.run(
        ["/bin/bash", str(project / "scripts" / "stack"), "doctor"],
        env={
            "PATH": fake_bin(tmp_path, pulumi=PULUMI),
            "HOME": "/tmp",
            "LVP_STACK": "prod",
            "LVP_ENGINE_CACHE": str(tmp_path / "engine-cache"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    named = {tool for tool in ("docker", "k3d") if f"  - {tool}: " in result.stderr}
    assert named == needs, result.stderr
    assert (result.returncode == 0) == (not needs), result.stderr


def test_bare_stack_prints_its_usage(tmp_path):
    result = run_stack(fake_bin(tmp_path))
    assert result.returncode == 2
    assert "usage: scripts/stack COMMAND" in result.stdout
    assert "missing prerequisites" not in result.stderr


def test_no_pulumi_with_go_present_names_pulumi_and_builds_nothing(tmp_path):
    """Go on PATH is not a Pulumi CLI: the engine the tests build cannot run the program (no Python language
    host, no Vault, Docker or Command plugin), so a user's command names the CLI and never starts a build."""
    ran_go = tmp_path / "ran-go"
    path = fake_bin(tmp_path, go=f"touch {ran_go}; echo go1.26.0", docker="exit 0", k3d="echo 'k3d version v5.8.3'")
    started = time.monotonic()
    result = run_stack(path, "up")
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert "  - pulumi: no Pulumi CLI on PATH; install the Pulumi CLI: curl -fsSL https://get.pulumi.com | sh" in (
        result.stderr
    ), result.stderr
    assert not ran_go.exists(), "a user's command must not start the engine's build"
    assert not (tmp_path / "engine-cache").exists()
    print(f"no Pulumi CLI named in {elapsed:.2f} s")


def test_a_too_old_pulumi_is_named_with_its_version(tmp_path):
    path = fake_bin(tmp_path, pulumi='echo "v3.100.0"', docker="exit 0", k3d="echo 'k3d version v5.8.3'")
    result = run_stack(path, "doctor")
    assert result.returncode == 2
    assert "is v3.100.0, older than 3.170.0" in result.stderr, result.stderr


def test_every_problem_is_reported_in_one_pass(tmp_path):
    """A stopped Docker engine, an old k3d and an old Pulumi CLI: all three in one message."""
    path = fake_bin(tmp_path, pulumi='echo "v3.100.0"', docker="exit 1", k3d="echo 'k3d version v5.4.0'")
    result = run_stack(path, "doctor")
    assert result.returncode == 2
    for line in ("  - docker: installed, but its engine does not answer", "  - k3d: 5.4 is too old", "  - pulumi: "):
        assert line in result.stderr, result.stderr


def test_an_old_python_is_named_before_anything_of_the_project_is_imported(tmp_path):
    """A python3 that is too old (a stand-in that says 3.8 and fails any project import, as functools.cache would
    on 3.8) is named, with no traceback."""
    path = fake_bin(tmp_path)
    old = Path(path) / "python3"
    old.unlink()
    old.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -V ]; then echo "Python 3.8.10"; exit 0; fi\n'
        'case "$*" in *"sys.version_info < (3, 11)"*) exit 1;; esac\n'
        'echo "Traceback (most recent call last): AttributeError: functools has no attribute cache" >&2; exit 1\n'
    )
    old.chmod(0o755)
    result = run_stack(path, "up")
    assert result.returncode == 2
    assert "python3: Python 3.8.10 is too old; Python >= 3.11 is needed" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_command_is_named_with_the_commands(tmp_path):
    result = run_stack(fake_bin(tmp_path), "bogus")
    assert result.returncode == 2
    assert "'bogus' is not a command; commands: up preview destroy refresh check doctor verify" in result.stderr
    assert "missing prerequisites" not in result.stderr


def recording_pulumi(log: Path, existing: tuple[str, ...] = ()) -> str:
    """A Pulumi CLI that says its version, records each call, and knows only the ``existing`` stacks (until one is
    created with --create), as `pulumi stack select` does."""
    known = " ".join(existing)
    return (
        f'echo "$*" >> {log}\n'
        f'case "$*" in\n'
        f'  *"stack select --create"*) exit 0 ;;\n'
        f'  *"stack select"*) for s in {known or "none"}; do case "$*" in *" $s") exit 0 ;; esac; done\n'
        f"    echo \"error: no stack named '${{4}}' found\" >&2; exit 255 ;;\n"
        f'  *) echo "{versions.PULUMI_CLI_VERSION}" ;;\n'
        "esac"
    )


def backend(tmp_path: Path) -> dict[str, str]:
    return {"PULUMI_BACKEND_URL": f"file://{tmp_path}/state", "PULUMI_CONFIG_PASSPHRASE": "test"}


def test_a_read_never_creates_a_stack(tmp_path):
    """A typo in LVP_STACK on a read (`stack output`) says the stack is not there; it does not make `prdo`."""
    log = tmp_path / "calls"
    path = fake_bin(tmp_path, pulumi=recording_pulumi(log, existing=("prod",)))
    result = run_stack(path, "stack", "output", LVP_STACK="prdo", **backend(tmp_path))
    assert result.returncode == 2
    assert "stack prdo cannot be selected" in result.stderr and "no stack named" in result.stderr
    assert "creates it" in result.stderr
    assert "--create" not in log.read_text()


def test_config_set_on_a_new_stack_needs_only_the_cli_and_makes_the_stack(tmp_path):
    """The platform walkthrough's first line: no Pulumi.prod.yaml yet, no Docker, no k3d."""
    log = tmp_path / "calls"
    path = fake_bin(tmp_path, pulumi=recording_pulumi(log))
    result = run_stack(path, "config", "set", "clusterMode", "existing", LVP_STACK="prod", **backend(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "missing prerequisites" not in result.stderr
    assert "scripts/stack: created stack prod" in result.stderr
    calls = log.read_text().splitlines()
    assert "stack select --create --non-interactive prod" in calls
    assert "config set clusterMode existing --stack prod" in calls


def _listener() -> socket.socket:
    """A real listener on loopback, on a port the kernel picks (what another program holding the port is)."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    held.listen()
    return held


def _laptop_stack(project: Path, vault_port: int, api_port: int) -> None:
    (project / "Pulumi.dev.yaml").write_text(
        f"config:\n  linkerd-vault-pki:vaultHostPort: '{vault_port}'\n  \"linkerd-vault-pki:k3dApiPort\": {api_port}\n"
    )


def _project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "scripts", project / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    return project


def _run(project: Path, path: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/bash", str(project / "scripts" / "stack"), *args],
        env={"PATH": path, "HOME": "/tmp", "LVP_STACK": "dev"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_busy_ports_are_named_by_number_and_holder(tmp_path):
    """Both laptop ports held by this test's own listeners: `up` names each port, its key, and (where ss can say)
    the process; nothing goes on to Pulumi. A preview starts no container: the same ports are no problem for it."""
    project = _project_copy(tmp_path)
    with _listener() as vault_held, _listener() as api_held:
        vault_port, api_port = vault_held.getsockname()[1], api_held.getsockname()[1]
        _laptop_stack(project, vault_port, api_port)
        path = fake_bin(tmp_path, pulumi=PULUMI, docker="exit 0", k3d="echo 'k3d version v5.8.3'")
        if shutil.which("ss"):
            (Path(path) / "ss").symlink_to(shutil.which("ss"))
        result = _run(project, path, "up")
        preview = subprocess.run(
            ["python3", str(project / "scripts" / "prerequisites.py"), "preview", "dev"],
            env={"PATH": path, "HOME": "/tmp"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    for key, port in (("vaultHostPort", vault_port), ("k3dApiPort", api_port)):
        line = next((x for x in result.stderr.splitlines() if f"port {port} ({key}): held by" in x), None)
        assert line is not None, result.stderr
        assert f"scripts/stack config set {key} <port>" in line
        if shutil.which("ss"):
            assert f"(pid {os.getpid()})" in line, line
    assert preview.returncode == 0 and "held by" not in preview.stdout, preview.stdout


@pytest.mark.parametrize(
    ("container", "network", "ours"),
    [("vault", "pki-network", True), ("vault", "bridge", False), ("other-vault", "pki-network", False)],
)
def test_the_stacks_own_vault_container_is_told_from_a_stranger(tmp_path, container, network, ours):
    """The port held by a Docker container: this stack's own Vault dev container (named vault, on the stack's
    network) is an earlier `up` that `up` keeps; any other container is named."""
    project = _project_copy(tmp_path)
    with _listener() as vault_held, _listener() as api_held:
        vault_port = vault_held.getsockname()[1]
        _laptop_stack(project, vault_port, api_held.getsockname()[1])
        docker = (
            'case "$1" in ps) printf "%s\\t%s\\t%s\\n" '
            f'"{container}" "0.0.0.0:{vault_port}->8200/tcp" "{network}" '
            '"k3d-pki-cluster-serverlb" "127.0.0.1:'
            f'{api_held.getsockname()[1]}->6443/tcp" "pki-network";; esac; exit 0'
        )
        path = fake_bin(tmp_path, pulumi=PULUMI, docker=docker, k3d="echo 'k3d version v5.8.3'")
        result = _run(project, path, "doctor")
    assert (result.returncode == 0) == ours, result.stderr
    assert ("k3dApiPort" in result.stderr) is False, "k3d's own load balancer holds its API port: no problem"
    if not ours:
        assert f"port {vault_port} (vaultHostPort): held by Docker container {container}" in result.stderr
