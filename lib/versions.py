"""The pinned versions of what the program installs or asks for: charts, images, the k3d CLI.

The Python SDKs are pinned in requirements.txt and the toolchain's Go modules in
toolchain/<piece>/go.mod; toolchain/engine.py takes the controllers' versions
from here, and tests tie the rest together. Bumping a version is a one-line
change here; the L1 tests check the values the program renders against the
reference CRDs and chart schemas of these exact versions (the reference data:
docs/testing.md), so bump those together.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartPin:
    """A Helm chart at one version: an OCI reference, or a chart name in a repo."""

    chart: str
    version: str
    repo: str | None = None


# Ref: https://cert-manager.io/docs/installation/helm/ (OCI registry since v1.16)
CERT_MANAGER = ChartPin(chart="oci://quay.io/jetstack/charts/cert-manager", version="v1.21.1")
TRUST_MANAGER = ChartPin(chart="oci://quay.io/jetstack/charts/trust-manager", version="v0.24.0")

# The stable Linkerd Helm repo is frozen at 2.14; open-source users install edge
# releases. Chart version 2026.8.3 is edge-26.8.3 and needs Kubernetes >= 1.31.
LINKERD_EDGE_REPO = "https://helm.linkerd.io/edge"
LINKERD_CRDS = ChartPin(chart="linkerd-crds", version="2026.8.3", repo=LINKERD_EDGE_REPO)
LINKERD_CONTROL_PLANE = ChartPin(chart="linkerd-control-plane", version="2026.8.3", repo=LINKERD_EDGE_REPO)
LINKERD_MIN_KUBERNETES = (1, 31)

# Vault dev server for the laptop mode. The provider is told this version so it
# never has to ask the server while it configures (see program.py).
VAULT_VERSION = "1.20.4"
VAULT_IMAGE = f"hashicorp/vault:{VAULT_VERSION}"

# k3s for the k3d cluster: must satisfy LINKERD_MIN_KUBERNETES.
K3S_VERSION = "v1.33.4-k3s1"
K3S_IMAGE = f"rancher/k3s:{K3S_VERSION}"

# The k3d CLI that creates the cluster (checked by scripts/stack, not installed).
K3D_MIN_VERSION = (5, 6)
