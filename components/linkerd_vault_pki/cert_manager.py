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

from linkerd_vault_pki import images, versions
from linkerd_vault_pki.helm import pinned_release
from linkerd_vault_pki.names import PULL_SECRET
from linkerd_vault_pki.pulls import Pulls

NAMESPACE = "cert-manager"

# The CRDs this program creates objects of: with an existing cert-manager, each must be there.
REQUIRED_CRDS = (
    "clusterissuers.cert-manager.io",
    "certificates.cert-manager.io",
    "bundles.trust.cert-manager.io",
)


def cert_manager_values(mirror: Pulls | None = None) -> dict[str, Any]:
    # Ref: https://cert-manager.io/docs/installation/helm/ (installCRDs is deprecated)
    values: dict[str, Any] = {"crds": {"enabled": True, "keep": True}}
    mirror = mirror or Pulls()
    images.deep_merge(values, mirror.images.chart_values("cert-manager"))
    if mirror.pull_secret:
        values["global"] = {"imagePullSecrets": [{"name": PULL_SECRET}]}
    return values


def trust_manager_values(trust_namespace: str = NAMESPACE, mirror: Pulls | None = None) -> dict[str, Any]:
    # trust-manager reads bundle sources from this namespace only; it holds the anchor's
    # public certificate and no Linkerd secret (docs/design.md, "Trust bundle").
    values: dict[str, Any] = {"crds": {"enabled": True, "keep": True}, "app": {"trust": {"namespace": trust_namespace}}}
    mirror = mirror or Pulls()
    images.deep_merge(values, mirror.images.chart_values("trust-manager"))
    if mirror.pull_secret:
        values["imagePullSecrets"] = [{"name": PULL_SECRET}]
    return values


def pull_secret(
    resource_name: str, namespace: pulumi.Input[str], mirror: Pulls, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """imagePullSecret as a Secret of the namespace, which its charts' pods pull with."""
    assert mirror.pull_secret is not None
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=PULL_SECRET, namespace=namespace),
        type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": mirror.pull_secret.output()},
        opts=opts,
    )


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
    mirror: Pulls = field(default_factory=Pulls)
    """Where the charts and their images come from, and the pull secret."""


class CertManager(pulumi.ComponentResource):
    """cert-manager (CRDs on, kept on uninstall) and trust-manager in ``cert-manager``."""

    # Its type token: what a deployed stack knows it by (a subclass hosted for other languages has its own).
    TYPE = "linkerd-vault-pki:cert_manager:CertManager"

    namespace: pulumi.Output[str]
    trust_namespace: pulumi.Output[str]

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        first: list[pulumi.Resource] = []
        if args.mirror.pull_secret:
            # The pods pull with the Secret from their start: the namespace and the Secret come first (Helm would
            # create the namespace with the pods). The namespace is then the stack's.
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace),
                opts=pulumi.ResourceOptions(parent=self),
            )
            first.append(
                pull_secret(
                    f"{name}-pull-secret", namespace.metadata.name, args.mirror, pulumi.ResourceOptions(parent=self)
                )
            )
        cert_manager = pinned_release(
            f"{name}-cert-manager",
            args.mirror.chart(args.cert_manager),
            release_name="cert-manager",
            namespace=args.namespace,
            create_namespace=not first,
            values=cert_manager_values(args.mirror),
            timeout_seconds=args.timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=first),
        )
        trust_manager = pinned_release(
            f"{name}-trust-manager",
            args.mirror.chart(args.trust_manager),
            release_name="trust-manager",
            namespace=cert_manager.namespace,
            values=trust_manager_values(args.namespace, args.mirror),
            timeout_seconds=args.timeout_seconds,
            # trust-manager's webhook certificate is issued by cert-manager.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cert_manager]),
        )
        # One namespace for both; as outputs, both resolve once both releases are installed (trust-manager's
        # after cert-manager's), as ExistingCertManager's resolve once every CRD is found. A component that
        # takes them (IdentityIssuer, TrustBundle) so waits for all of cert-manager and trust-manager.
        self.namespace = trust_manager.namespace
        self.trust_namespace = trust_manager.namespace
        self.register_outputs({"namespace": self.namespace, "trust_namespace": self.trust_namespace})


@dataclass
class ExistingCertManagerArgs:
    namespace: str = NAMESPACE
    """The running cert-manager's cluster resource namespace, which must also be trust-manager's trust namespace."""


class ExistingCertManager(pulumi.ComponentResource):
    """cert-manager and trust-manager that the cluster runs already: their CRDs, read, not owned."""

    # Its type token: what a deployed stack knows it by (a subclass hosted for other languages has its own).
    TYPE = "linkerd-vault-pki:cert_manager:ExistingCertManager"

    namespace: pulumi.Output[str]
    trust_namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ExistingCertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
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
