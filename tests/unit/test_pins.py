"""Every pin is written once (linkerd_vault_pki/versions.py, and requirements.txt for the SDKs); every copy is tied
to it.

A version also stands in places that cannot import Python: the go.mod files of the toolchain, the L3
workflow (which installs the Pulumi CLI, k3d and Linkerd's CLI), and the prose of the README and docs.
Each is checked here against the one pin, so a bump that misses one fails.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml

from linkerd_vault_pki import versions
from scripts import prerequisites

ROOT = Path(__file__).resolve().parents[2]
EDGE = "edge-{}.{}.{}".format(*(int(n) % (100 if i == 0 else 10**9) for i, n in enumerate(
    versions.LINKERD_CONTROL_PLANE.version.split(".")
)))  # fmt: skip


def test_the_installed_sdks_are_the_pinned_ones():
    for name, pinned in versions.sdk_pins().items():
        assert importlib.metadata.version(name) == pinned, name


@pytest.mark.parametrize(
    ("folder", "module", "version"),
    [
        ("pulumi", "github.com/pulumi/pulumi/pkg/v3", versions.PULUMI_CLI_VERSION),
        (
            "pulumi-kubernetes",
            "github.com/pulumi/pulumi-kubernetes/provider/v4",
            versions.KUBERNETES_PROVIDER_MODULE,
        ),
        ("kube", "k8s.io/kubernetes", versions.KUBERNETES_VERSION),
        ("kube", "go.etcd.io/etcd/server/v3", versions.ETCD_VERSION),
        ("cert-manager", "github.com/cert-manager/cert-manager", versions.CERT_MANAGER.version),
        ("trust-manager", "github.com/cert-manager/trust-manager", versions.TRUST_MANAGER.version),
        ("actionlint", "github.com/rhysd/actionlint", versions.ACTIONLINT_VERSION),
        ("pulumi-yaml", "github.com/pulumi/pulumi-yaml", versions.PULUMI_YAML_VERSION),
        ("promtool", "github.com/prometheus/prometheus", versions.PROMETHEUS_MODULE_VERSION),
    ],
)
def test_each_go_mod_requires_the_pinned_version(folder, module, version):
    go_mod = (ROOT / "tests" / "toolchain" / folder / "go.mod").read_text()
    required = re.findall(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", go_mod, re.M)
    assert required == [version], (folder, module, required)


def test_the_l3_workflow_installs_the_pinned_tools():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "l3.yml").read_text())
    env = workflow["env"]
    assert env["PULUMI_VERSION"] == versions.PULUMI_CLI_VERSION.lstrip("v")
    assert env["LINKERD_VERSION"] == EDGE
    k3d = tuple(int(n) for n in env["K3D_VERSION"].lstrip("v").split(".")[:2])
    assert k3d >= prerequisites.K3D_MIN_VERSION
    text = (ROOT / ".github" / "workflows" / "l3.yml").read_text()
    assert set(re.findall(r"cr\.l5d\.io/linkerd/[\w-]+:(edge-[\d.]+)", text)) <= {EDGE}


# A named thing and its version, as the prose writes it; each version found must be the pin.
PROSE = {
    r"cert-manager (v\d+\.\d+\.\d+)": versions.CERT_MANAGER.version,
    r"trust-manager (v\d+\.\d+\.\d+)": versions.TRUST_MANAGER.version,
    r"\b(edge-\d+\.\d+\.\d+)": EDGE,
    r"\b(20\d\d\.\d+\.\d+) \(edge": versions.LINKERD_CONTROL_PLANE.version,
    r"pulumi-vault[ =]+(\d+\.\d+\.\d+)": versions.sdk_pins()["pulumi-vault"],
    r"pulumi-kubernetes[ =]+(\d+\.\d+\.\d+)": versions.sdk_pins()["pulumi-kubernetes"],
    r"`pulumi` (v\d+\.\d+\.\d+)": versions.PULUMI_CLI_VERSION,
    r"pulumi (v3\.\d+\.\d+)": versions.PULUMI_CLI_VERSION,
    r"hashicorp/vault[: ](\d+\.\d+\.\d+)": versions.VAULT_VERSION,
    r"kubectl`? (v1\.\d+\.\d+)": versions.KUBERNETES_VERSION,
    r"etcd`? (v3\.\d+\.\d+)": versions.ETCD_VERSION,
    r"rancher/k3s:(v[\w.-]+)": versions.K3S_VERSION,
    r"pulumi-language-yaml`? (v\d+\.\d+\.\d+)": versions.PULUMI_YAML_VERSION,
}


@pytest.mark.parametrize("page", ["README.md", *sorted(p.name for p in (ROOT / "docs").glob("*.md"))])
def test_the_docs_name_the_pinned_versions(page):
    path = ROOT / page if page == "README.md" else ROOT / "docs" / page
    text = path.read_text()
    wrong = [
        f"{pattern}: {found} (pinned: {pinned})"
        for pattern, pinned in PROSE.items()
        for found in re.findall(pattern, text)
        if found != pinned
    ]
    assert wrong == []


def test_every_prose_pattern_finds_its_pin_somewhere():
    """A pattern that matches nothing checks nothing: each must find its version in at least one page."""
    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / ".github" / "workflows" / "l3.yml"]
    text = "\n".join(p.read_text() for p in pages)
    assert [pattern for pattern in PROSE if not re.search(pattern, text)] == []
