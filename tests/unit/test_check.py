"""`scripts/stack check`: a stack file and its whole graph evaluated offline (scripts/check.py).

Stack files are written here as `pulumi config set` leaves them (secure values as ``{secure: v1:...}``
ciphertext, which the check must never decrypt or print), and the check runs as a user runs it: through
scripts/stack, in a fresh interpreter, with no `pulumi` on PATH and every network connection refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.harness import ANCHOR_PEM, EXISTING_KUBECONFIG
from tests.helpers import NO_NETWORK, ROOT, fake_bin, load_script

check = load_script("check")

CIPHERTEXT = "v1:QmxvY2tlZC1jaXBoZXJ0ZXh0LW5ldmVyLXByaW50ZWQ="


def project(tmp_path: Path, **stacks: str) -> Path:
    """A copy of the project's program (what `check` evaluates) with the given stack files."""
    root = tmp_path / "project"
    for folder in ("scripts", "stack", "components"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Pulumi.yaml", "requirements.txt", "pyproject.toml"):
        shutil.copyfile(ROOT / name, root / name)
    (root / ".venv").symlink_to(ROOT / ".venv")
    for stack, text in stacks.items():
        (root / f"Pulumi.{stack}.yaml").write_text(textwrap.dedent(text))
    return root


def run_check(root: Path, stack: str, tmp_path: Path) -> subprocess.CompletedProcess:
    guard = tmp_path / "no-network"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    tools = tmp_path / "tools"
    path = str(tools / "bin") if tools.exists() else fake_bin(tools.mkdir() or tools)  # no pulumi on it
    return subprocess.run(
        ["/bin/bash", str(root / "scripts" / "stack"), "check", "--stack", stack],
        env={"PATH": path, "HOME": str(tmp_path), "PYTHONPATH": str(guard)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PLATFORM = f"""
    config:
      linkerd-vault-pki:clusterMode: existing
      linkerd-vault-pki:kubeconfig:
        secure: {CIPHERTEXT}
      linkerd-vault-pki:kubeContext: prod-admin
      linkerd-vault-pki:vaultMode: external
      "linkerd-vault-pki:vaultAddress": https://vault.example.com
      linkerd-vault-pki:vaultToken:
        secure: {CIPHERTEXT}
      linkerd-vault-pki:certManager: existing
      linkerd-vault-pki:linkerd: skip
    """


def cluster_only(*lines: str) -> str:
    """A stack file of a cluster-only stack on an existing cluster (its kubeconfig a secret), plus ``lines``."""
    head = ["config:", "  linkerd-vault-pki:clusterMode: existing", "  linkerd-vault-pki:kubeconfig:"]
    return "\n".join([*head, f"    secure: {CIPHERTEXT}", *(f"  {line}" for line in lines)]) + "\n"


def test_the_repositorys_stack_files_pass_with_no_cli_and_no_network(tmp_path):
    root = project(tmp_path)
    for stack_file in sorted(ROOT.glob("Pulumi.*.yaml")):
        shutil.copyfile(stack_file, root / stack_file.name)
        stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
        result = run_check(root, stack, tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"stack {stack}: the config is sound; a first `up` would make"), result.stdout
        assert "tried the network" not in result.stderr


def test_the_dev_stack_summary_says_what_up_would_make_export_and_pull(tmp_path):
    result = run_check(project(tmp_path, dev=(ROOT / "Pulumi.dev.yaml").read_text()), "dev", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The laptop: a Vault dev container, a k3d cluster, the PKI in Vault, cert-manager, Linkerd.
    for component in ("VaultDevServer", "K3dCluster", "VaultPki", "CertManager", "LinkerdControlPlane"):
        assert f":{component})" in out, out
    assert "1 SecretBackendRootCert" in out and "1 Container" in out
    assert "vaultToken counts as set" in out  # scripts/stack generates it at the first `up`
    outputs = next(line for line in out.splitlines() if line.startswith("outputs: "))
    assert "kubeconfig (secret)" in outputs and "approleSecretId (secret)" in outputs
    images = next(line for line in out.splitlines() if line.startswith("images: "))
    assert "hashicorp/vault:" in images and "quay.io/jetstack/cert-manager-controller:" in images
    assert "ghcr.io/k3d-io/k3d-proxy:" in images
    assert "charts: " in out and "linkerd-control-plane" in out


def test_secrets_are_placeholders_never_read_or_printed(tmp_path):
    result = run_check(project(tmp_path, prod=PLATFORM), "prod", tmp_path)
    assert result.returncode == 0, result.stderr
    everything = result.stdout + result.stderr
    assert CIPHERTEXT not in everything and "QmxvY2tl" not in everything
    assert check.PLACEHOLDER not in everything
    assert "secrets not read (placeholders of their shape): kubeconfig, vaultToken" in result.stdout
    # certManager existing and linkerd skip: neither chart is installed.
    assert "CertManager" not in result.stdout and "LinkerdControlPlane" not in result.stdout


def test_a_bad_config_is_every_problem_by_key_and_nothing_else(tmp_path):
    bad = """
        config:
          linkerd-vault-pki:clusterMode: none
          linkerd-vault-pki:vaultSide: reference
          linkerd-vault-pki:issuerDuraton: 48h
          linkerd-vault-pki:imageRegistry: mirror.corp.example:99999
          vault:address: https://vault.example.com
        """
    result = run_check(project(tmp_path, bad=bad), "bad", tmp_path)
    assert result.returncode == 1
    problems = [line.removeprefix("  - ") for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert sorted(p.split(":")[0] if not p.startswith("vault:") else "vault:address" for p in problems) == [
        "imageRegistry",
        "issuerDuraton",
        "vault:address",
        "vaultSide",
    ], result.stderr
    assert "did you mean issuerDuration?" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("config: [a, b]\n", "its config is not a mapping"),
        ("config:\n  clusterMode: k3d\n", "'clusterMode' is not a config key: Pulumi reads <namespace>:<name>"),
        ("config:\n  linkerd-vault-pki:clusterMode: [unclosed\n", "is not YAML (line"),
    ],
)
def test_a_stack_file_pulumi_could_not_read_is_named(tmp_path, text, problem):
    result = run_check(project(tmp_path, odd=text), "odd", tmp_path)
    assert result.returncode == 1
    assert "Pulumi.odd.yaml: " in result.stderr and problem in result.stderr, result.stderr


def test_a_reference_stack_reads_the_vault_stack_file_beside_it_or_a_stand_in(tmp_path):
    pki = f"""
        config:
          linkerd-vault-pki:clusterMode: none
          linkerd-vault-pki:vaultMode: external
          linkerd-vault-pki:vaultAddress: https://vault.example.com
          linkerd-vault-pki:vaultToken:
            secure: {CIPHERTEXT}
          linkerd-vault-pki:consumers: [east, west]
        """
    east = cluster_only(
        "linkerd-vault-pki:vaultSide: reference",
        "linkerd-vault-pki:vaultStack: pki",
        "linkerd-vault-pki:vaultConsumer: east",
    )
    root = project(tmp_path, east=east)
    alone = run_check(root, "east", tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert "a Vault-only stack of the defaults stands in" in alone.stdout
    (root / "Pulumi.pki.yaml").write_text(textwrap.dedent(pki))
    beside = run_check(root, "east", tmp_path)
    assert beside.returncode == 0, beside.stderr
    assert "vaultStack pki: read as Pulumi.pki.yaml would make it" in beside.stdout
    # The Vault stack's own problem is the cluster stack's, named as such.
    (root / "Pulumi.pki.yaml").write_text(textwrap.dedent(pki).replace("[east, west]", "[west]"))
    missing = run_check(root, "east", tmp_path)
    assert missing.returncode == 1
    assert "vaultConsumer" in missing.stderr and "east" in missing.stderr, missing.stderr


def test_structured_values_reach_the_program_as_the_engine_hands_them(tmp_path):
    """A list (`clusters`) as JSON, a number as its text, a secure value nested in an entry: the whole key secret."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "Pulumi.s.yaml").write_text(
        "config:\n"
        "  linkerd-vault-pki:k3dApiPort: 6551\n"
        "  linkerd-vault-pki:restartMeshedWorkloads: true\n"
        "  linkerd-vault-pki:clusters:\n"
        "    - name: east\n"
        f"      kubeconfig: {{secure: '{CIPHERTEXT}'}}\n"
        "      kubeContext: east-admin\n"
    )
    found = check.stack_settings(root, "s")
    assert found.raw["k3dApiPort"] == "6551" and found.raw["restartMeshedWorkloads"] == "true"
    assert found.secret_keys == {"clusters"}
    [entry] = json.loads(found.raw["clusters"])
    assert entry["kubeContext"] == "east-admin"
    assert "east-admin" in json.loads(entry["kubeconfig"])["contexts"][0]["name"]  # shaped for its context
    assert CIPHERTEXT not in found.raw["clusters"]


def test_an_existing_cluster_stack_in_the_clear_is_refused_for_its_kubeconfig(tmp_path):
    """A kubeconfig committed in plain text: the check refuses it like `up` (it must stay a secret)."""
    text = PLATFORM.replace(f"linkerd-vault-pki:kubeconfig:\n        secure: {CIPHERTEXT}", "")
    text += f"  linkerd-vault-pki:kubeconfig: {json.dumps(EXISTING_KUBECONFIG)}\n"
    result = run_check(project(tmp_path, prod=text), "prod", tmp_path)
    assert result.returncode == 1
    assert "kubeconfig: is stored in plain text" in result.stderr, result.stderr


def test_anchor_pems_of_a_provided_side_are_read_as_written(tmp_path):
    provided = cluster_only(
        "linkerd-vault-pki:vaultSide: provided",
        "linkerd-vault-pki:signPath: pki/issuer/linkerd-trust-anchor/sign-intermediate",
        "linkerd-vault-pki:vaultClusterAddress: https://vault.example.com",
        "linkerd-vault-pki:approleRoleId: 6f1f7a0c-role",
        "linkerd-vault-pki:approleSecretId:",
        f"  secure: {CIPHERTEXT}",
        "linkerd-vault-pki:anchorPems:",
        f"  linkerd-trust-anchor: {json.dumps(ANCHOR_PEM)}",
    )
    result = run_check(project(tmp_path, north=provided), "north", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "vaultRequirements" in result.stdout


def test_with_a_mirror_every_image_and_chart_in_the_summary_is_the_mirrors(tmp_path):
    mirrored = f"""
        config:
          linkerd-vault-pki:vaultToken:
            secure: {CIPHERTEXT}
          linkerd-vault-pki:imageRegistry: mirror.corp.example:5000
          linkerd-vault-pki:chartRepository: oci://mirror.corp.example:5000/charts
          linkerd-vault-pki:clusters:
            - name: east
              k3dApiPort: 6551
            - name: west
              k3dApiPort: 6552
        """
    result = run_check(project(tmp_path, mirrored=mirrored), "mirrored", tmp_path)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if line.startswith(("images", "charts")))
    pulled = lines["images"].split(", ")
    assert len(pulled) >= 13 and all(i.startswith("mirror.corp.example:5000/") for i in pulled), pulled
    assert all(c.startswith("oci://mirror.corp.example:5000/charts/") for c in lines["charts"].split(", "))
    assert "east-k3d (" in result.stdout and "west-k3d (" in result.stdout


def test_an_esc_environment_is_named_as_not_read(tmp_path):
    """Values from Pulumi ESC reach the program only at `up`: the check says so, instead of passing silently."""
    text = PLATFORM.rstrip() + "\n    environment:\n      - corp/vault-credentials\n"  # beside `config:`
    result = run_check(project(tmp_path, prod=text), "prod", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "imports the ESC environment(s) corp/vault-credentials" in result.stdout
