"""Every pin, in one module: charts, images, the k3d CLI, the toolchain, and (read) the Python SDKs.

The Python SDKs are pinned once, in pyproject.toml's ``dependencies``, and read
here from the installed distribution (``sdk_pins()``); each toolchain piece's Go modules are pinned by its go.mod +
go.sum, at the versions named here. Tests tie the installed distributions, the
go.mod files, the L3 workflow and the docs to this module. Bumping a version is a one-line
change here; the L1 tests check the values the program renders against the
reference CRDs and chart schemas of these exact versions (the reference data:
docs/testing.md), so bump those together.
"""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass

# The distribution pip installs (pyproject.toml), whose metadata holds the SDK pins.
DISTRIBUTION = "linkerd-vault-pki"


@dataclass(frozen=True)
class ChartPin:
    """A Helm chart at one version: an OCI reference, or a chart name in a repo."""

    chart: str
    version: str
    repo: str | None = None

    @property
    def name(self) -> str:
        """The chart's own name (its Chart.yaml ``name``): the last segment of an OCI reference."""
        return self.chart.rsplit("/", 1)[-1]


# Ref: https://cert-manager.io/docs/installation/helm/ (OCI registry since v1.16)
CERT_MANAGER = ChartPin(chart="oci://quay.io/jetstack/charts/cert-manager", version="v1.21.1")
TRUST_MANAGER = ChartPin(chart="oci://quay.io/jetstack/charts/trust-manager", version="v0.24.0")

# The stable Linkerd Helm repo is frozen at 2.14; open-source users install edge
# releases. Chart version 2026.8.3 is edge-26.8.3 and needs Kubernetes >= 1.31.
LINKERD_EDGE_REPO = "https://helm.linkerd.io/edge"
LINKERD_CRDS = ChartPin(chart="linkerd-crds", version="2026.8.3", repo=LINKERD_EDGE_REPO)
LINKERD_CONTROL_PLANE = ChartPin(chart="linkerd-control-plane", version="2026.8.3", repo=LINKERD_EDGE_REPO)
LINKERD_MIN_KUBERNETES = (1, 31)
# Linkerd's images are tagged with the release name the chart version stands for (its appVersion).
LINKERD_VERSION = "edge-{}.{}.{}".format(
    int(LINKERD_CONTROL_PLANE.version[:4]) % 100, *LINKERD_CONTROL_PLANE.version.split(".")[1:]
)

# Vault dev server for the laptop mode. The provider is told this version so it
# never has to ask the server while it configures (see program.py).
VAULT_VERSION = "1.20.4"
VAULT_IMAGE = f"hashicorp/vault:{VAULT_VERSION}"

# k3s for the k3d cluster: must satisfy LINKERD_MIN_KUBERNETES.
K3S_VERSION = "v1.33.4-k3s1"
K3S_IMAGE = f"rancher/k3s:{K3S_VERSION}"

# The version of k3d's helper images (the load balancer and tools containers) a mirrored cluster pulls: what the
# L3 workflow installs. The oldest k3d CLI the laptop may have is scripts/prerequisites.py's, which checks it.
K3D_VERSION = "v5.8.3"

# The engine built where no Pulumi CLI is on PATH (tests/toolchain/engine.py). The oldest CLI used as found is
# scripts/prerequisites.py's, which checks it.
PULUMI_CLI_VERSION = "v3.274.1"
# Pulumi YAML's language host, built for the tests that run a YAML program over the package's component provider
# (tests/toolchain/engine.py, yaml_language_host).
PULUMI_YAML_VERSION = "v1.25.0"
# pulumi-resource-kubernetes is built from the provider module at the commit of its v4.25.0 tag: the module
# proxy serves that module only as this pseudo-version (no v4.25.0 of it), whose go.mod pins it.
KUBERNETES_PROVIDER_MODULE = "v4.0.0-20260115033456-f47bc2d6f199"
# The L2.5 cluster (tests/toolchain/cluster.py): its controllers are the charts' versions above.
KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
# The linters of the GitHub workflows (tests/toolchain/lint.py; shellcheck from Debian, installed by scripts/test).
ACTIONLINT_VERSION = "v1.7.12"
SHELLCHECK_DEBIAN_VERSION = "0.9.0-1"
# promtool, which checks and unit-tests the expiry alerts (alerts.py): Prometheus' module, as its Go module
# tags it (v0.316.0 is Prometheus 3.16.0). The PrometheusRule's schema comes from the Prometheus Operator's
# module at the one version of it the proxy serves.
PROMETHEUS_MODULE_VERSION = "v0.316.0"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"


@functools.cache
def sdk_pins() -> dict[str, str]:
    """The SDK pins, as the installed distribution's metadata has them (pyproject.toml's ``dependencies``,
    ``name==version``);
    read when asked (the toolchain and its tests), not at every program start."""
    requires = importlib.metadata.requires(DISTRIBUTION) or []
    return dict(tuple(r.split(";", 1)[0].strip().split("==", 1)) for r in requires if "==" in r)
