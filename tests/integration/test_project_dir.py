"""L2: the project directory itself, as a user runs it: `scripts/stack` with the CLI and the Python language host.

A copy of the project (its `.venv` shared) gets a `Pulumi.<stack>.yaml` for a
Vault-side stack against OpenBao; `scripts/stack preview`, `up`, a no-op
`preview`, `refresh` and `destroy` run through the engine that
`tests/toolchain/engine.py` provides, exactly as on a machine without Pulumi.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.openbao import Client

# L3: the real pulumi-vault provider (and the language host), which no registry serves: run by the L3 workflow.
pytestmark = [pytest.mark.integration, pytest.mark.l3]

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = (
    "Pulumi.yaml",
    "__main__.py",
    "requirements.txt",
    "pyproject.toml",
    "components",
    "stack",
    "policy",
    "scripts",
)


def inventory(client: Client) -> tuple[set[str], set[str], set[str]]:
    return (
        set(client.read("sys/mounts")["data"]),
        set(client.read("sys/auth")["data"]),
        set(client.request("LIST", "sys/policies/acl")["data"]["keys"]),
    )


@pytest.fixture
def project(tmp_path, engine):
    copy = tmp_path / "project"
    copy.mkdir()
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    state = tmp_path / "state"
    state.mkdir()
    env = {
        **os.environ,
        **engine.env(state),
        "LVP_STACK": "vault-side",
        "PULUMI_CONFIG_PASSPHRASE": "project-dir-test-only",
    }
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return copy, env


def write_stack_config(copy: Path, vault_address: str, pki_path: str, approle_mount: str | None = None) -> None:
    """A Vault-side stack's Pulumi.<stack>.yaml, as a user writes it (the token is set as a secret apart)."""
    lines = [
        "config:",
        "  linkerd-vault-pki:clusterMode: none",
        "  linkerd-vault-pki:vaultMode: external",
        f"  linkerd-vault-pki:vaultAddress: {vault_address}",
        f"  linkerd-vault-pki:pkiPath: {pki_path}",
    ]
    if approle_mount:
        lines.append(f"  linkerd-vault-pki:approleMount: {approle_mount}")
    (copy / "Pulumi.vault-side.yaml").write_text("\n".join(lines) + "\n")


def stack(
    project: tuple[Path, dict], *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    copy, env = project
    result = subprocess.run(
        ["bash", "scripts/stack", *args],
        cwd=copy,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert result.returncode == 0, (
            f"scripts/stack {' '.join(args)}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def test_scripts_stack_runs_the_project_directory_against_openbao(project, openbao):
    copy, _ = project
    write_stack_config(copy, openbao.address, "pki-project-dir", "approle-project-dir")
    root = openbao.root()
    before = inventory(root)

    stack(project, "config", "set", "--secret", "vaultToken", stdin=openbao.root_token)
    assert openbao.root_token not in (copy / "Pulumi.vault-side.yaml").read_text()

    preview = stack(project, "preview")
    assert "+ 12 to create" in preview.stdout, preview.stdout[-2000:]  # 9 resources, component, provider, stack
    assert inventory(root) == before  # a preview touches nothing

    stack(project, "up", "--yes")
    mounts, auths, policies = inventory(root)
    assert "pki-project-dir/" in mounts and "approle-project-dir/" in auths
    assert "pki-project-dir-linkerd-issuer" in policies
    anchor = stack(project, "stack", "output", "trustAnchorPem").stdout.strip()
    assert anchor == root.read("pki-project-dir/cert/ca")["data"]["certificate"].strip()

    stack(project, "preview", "--expect-no-changes")
    stack(project, "refresh", "--yes", "--expect-no-changes")

    stack(project, "destroy", "--yes")
    assert inventory(root) == before


def test_the_policy_pack_passes_the_program_and_stops_a_widened_vault_policy(project, openbao):
    """`pulumi preview --policy-pack policy`, as a pull request's preview runs it."""
    copy, _ = project
    write_stack_config(copy, openbao.address, "pki-policy-pack")
    stack(project, "config", "set", "--secret", "vaultToken", stdin=openbao.root_token)
    passed = stack(project, "preview", "--policy-pack", "policy")
    assert "linkerd-vault-pki@" in passed.stdout and "mandatory" not in passed.stdout, passed.stdout[-2000:]

    # A pull request that adds sudo to the signing policy.
    source = copy / "components" / "linkerd_vault_pki" / "vault_pki.py"
    source.write_text(source.read_text().replace('capabilities = ["update"]', 'capabilities = ["update", "sudo"]'))
    failed = stack(project, "preview", "--policy-pack", "policy", check=False)
    assert failed.returncode != 0
    assert "[mandatory]  vault-policy-least-privilege" in failed.stdout, failed.stdout[-3000:]
    assert 'grant exactly ["update"]' in failed.stdout
