"""cert-manager and trust-manager, from their pinned OCI Helm charts.

Both releases wait for their workloads (and cert-manager's startupapicheck job,
which passes only once the webhook serves), so a resource that depends on this
component finds the CRDs installed and the webhook answering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import versions
from components.helm import pinned_release

NAMESPACE = "cert-manager"
# trust-manager reads bundle sources from this namespace only. It is the
# chart's default, and it holds no Linkerd secret (DESIGN.md §2.4).
TRUST_NAMESPACE = NAMESPACE


def cert_manager_values() -> dict[str, Any]:
    # Ref: https://cert-manager.io/docs/installation/helm/ (installCRDs is deprecated)
    return {"crds": {"enabled": True, "keep": True}}


def trust_manager_values() -> dict[str, Any]:
    return {"crds": {"enabled": True, "keep": True}, "app": {"trust": {"namespace": TRUST_NAMESPACE}}}


@dataclass
class CertManagerArgs:
    cert_manager: versions.ChartPin = field(default_factory=lambda: versions.CERT_MANAGER)
    trust_manager: versions.ChartPin = field(default_factory=lambda: versions.TRUST_MANAGER)
    timeout_seconds: int = 600


class CertManager(pulumi.ComponentResource):
    """cert-manager (CRDs on, kept on uninstall) and trust-manager in ``cert-manager``."""

    namespace: pulumi.Output[str]
    trust_namespace: pulumi.Output[str]

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("linkerd-vault-pki:cert_manager:CertManager", name, None, opts)
        cert_manager = pinned_release(
            f"{name}-cert-manager",
            args.cert_manager,
            release_name="cert-manager",
            namespace=NAMESPACE,
            create_namespace=True,
            values=cert_manager_values(),
            timeout_seconds=args.timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self),
        )
        trust_manager = pinned_release(
            f"{name}-trust-manager",
            args.trust_manager,
            release_name="trust-manager",
            namespace=cert_manager.namespace,
            values=trust_manager_values(),
            timeout_seconds=args.timeout_seconds,
            # trust-manager's webhook certificate is issued by cert-manager.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cert_manager]),
        )
        self.namespace = cert_manager.namespace
        self.trust_namespace = trust_manager.namespace
        self.register_outputs({"namespace": self.namespace, "trust_namespace": self.trust_namespace})
