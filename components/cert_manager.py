"""cert-manager and trust-manager: installed from their pinned OCI Helm charts, or already there.

``CertManager`` installs both. The releases wait for their workloads (and
cert-manager's startupapicheck job, which passes only once the webhook serves),
so a resource that depends on it finds the CRDs installed and the webhook
answering. ``ExistingCertManager`` is for a cluster that runs them already (a
platform cluster): it installs nothing and reads the CRDs this program uses, so
that `up` stops with a clear error, before anything of ours is applied, when
they are missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from lib import versions
from lib.helm import pinned_release

NAMESPACE = "cert-manager"

# The CRDs this program creates objects of: with an existing cert-manager, each must be there.
REQUIRED_CRDS = (
    "clusterissuers.cert-manager.io",
    "certificates.cert-manager.io",
    "bundles.trust.cert-manager.io",
)


def cert_manager_values() -> dict[str, Any]:
    # Ref: https://cert-manager.io/docs/installation/helm/ (installCRDs is deprecated)
    return {"crds": {"enabled": True, "keep": True}}


def trust_manager_values(trust_namespace: str = NAMESPACE) -> dict[str, Any]:
    # trust-manager reads bundle sources from this namespace only; it holds the anchor's
    # public certificate and no Linkerd secret (docs/design.md, "Trust bundle").
    return {"crds": {"enabled": True, "keep": True}, "app": {"trust": {"namespace": trust_namespace}}}


@dataclass
class CertManagerArgs:
    namespace: str = NAMESPACE
    """Where both releases go: cert-manager's cluster resource namespace and trust-manager's trust namespace."""
    cert_manager: versions.ChartPin = field(default_factory=lambda: versions.CERT_MANAGER)
    """cert-manager's chart."""
    trust_manager: versions.ChartPin = field(default_factory=lambda: versions.TRUST_MANAGER)
    """trust-manager's chart."""
    timeout_seconds: int = 600
    """How long each release may take to become ready."""


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
            namespace=args.namespace,
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
            values=trust_manager_values(args.namespace),
            timeout_seconds=args.timeout_seconds,
            # trust-manager's webhook certificate is issued by cert-manager.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cert_manager]),
        )
        self.namespace = cert_manager.namespace
        self.trust_namespace = trust_manager.namespace
        self.register_outputs({"namespace": self.namespace, "trust_namespace": self.trust_namespace})


@dataclass
class ExistingCertManagerArgs:
    namespace: str = NAMESPACE
    """The running cert-manager's cluster resource namespace, which must also be trust-manager's trust namespace."""


class ExistingCertManager(pulumi.ComponentResource):
    """cert-manager and trust-manager that the cluster runs already: their CRDs, read, not owned."""

    namespace: pulumi.Output[str]
    trust_namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ExistingCertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("linkerd-vault-pki:cert_manager:ExistingCertManager", name, None, opts)
        # A read fails `up` naming the CRD when it is missing (cert-manager or trust-manager is not
        # installed, or too old); everything that depends on this component waits for the reads.
        crds = [
            k8s.apiextensions.v1.CustomResourceDefinition.get(
                f"{name}-requires-{crd.split('.')[0]}", crd, opts=pulumi.ResourceOptions(parent=self)
            )
            for crd in REQUIRED_CRDS
        ]
        # The namespace is the user's word; it resolves once the CRDs are known to exist.
        namespace = pulumi.Output.all(*(crd.id for crd in crds)).apply(lambda _: args.namespace)
        self.namespace = namespace
        self.trust_namespace = namespace
        self.register_outputs({"namespace": self.namespace, "trust_namespace": self.trust_namespace})
