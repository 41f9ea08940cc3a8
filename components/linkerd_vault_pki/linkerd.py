"""Linkerd: its namespace, its CRDs and its control plane, from the edge charts.

The namespace is ours, not Helm's: the identity issuer Certificate and the
trust bundle land in it before the control plane is installed, and its
``linkerd.io/is-control-plane`` label is what the Bundle targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from linkerd_vault_pki import images, versions
from linkerd_vault_pki.helm import pinned_release
from linkerd_vault_pki.names import CONTROL_PLANE_LABEL, LINKERD_NAMESPACE, PULL_SECRET, ROOTS_DIGEST_ANNOTATION
from linkerd_vault_pki.pulls import Pulls

NAMESPACE = LINKERD_NAMESPACE

# The labels `linkerd install` puts on its namespace (docs/design.md, "Namespace").
NAMESPACE_LABELS = {
    CONTROL_PLANE_LABEL: "true",
    "config.linkerd.io/admission-webhooks": "disabled",
    "linkerd.io/control-plane-ns": NAMESPACE,
    "pod-security.kubernetes.io/enforce": "privileged",
}
NAMESPACE_ANNOTATIONS = {"linkerd.io/inject": "disabled"}


def crds_values(install_gateway_api: bool) -> dict[str, Any]:
    return {"installGatewayAPI": install_gateway_api}


def control_plane_values(mirror: Pulls | None = None, roots_digest: Any = None) -> dict[str, Any]:
    # externalCA: the trust roots ConfigMap comes from trust-manager, not the chart.
    # kubernetes.io/tls: the issuer is the Secret cert-manager writes, not PEM values.
    values: dict[str, Any] = {"identity": {"externalCA": True, "issuer": {"scheme": "kubernetes.io/tls"}}}
    if roots_digest is not None:
        # The control plane follows its roots: identity loads them once, at start (linkerd2
        # controller/cmd/identity), and its, the destination's and the injector's proxies take them from the
        # ConfigMap when they start. The chart's podAnnotations go on every control-plane pod template, so a
        # new anchor set changes the templates and Helm rolls the pods (and waits for them), after the trust
        # bundle is Synced with that set (TrustBundle.roots_digest resolves only then).
        values["podAnnotations"] = {ROOTS_DIGEST_ANNOTATION: roots_digest}
    mirror = mirror or Pulls()
    images.deep_merge(values, mirror.images.chart_values("linkerd-control-plane"))
    if mirror.pull_secret:
        values["imagePullSecrets"] = [{"name": PULL_SECRET}]
    return values


def linkerd_namespace(resource_name: str, opts: pulumi.ResourceOptions | None = None) -> k8s.core.v1.Namespace:
    """The ``linkerd`` namespace with the labels that mark it as the control plane's.

    Created before Linkerd is installed: the identity issuer Certificate and the
    trust bundle land in it first. One resource, so a helper, not a component.
    """
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels=NAMESPACE_LABELS, annotations=NAMESPACE_ANNOTATIONS),
        opts=opts,
    )


@dataclass
class LinkerdControlPlaneArgs:
    namespace: pulumi.Input[str]
    install_gateway_api: bool
    # What the control plane must find ready: the identity issuer Secret and the
    # trust roots ConfigMap. No data carries this, and a component's own
    # depends_on does not reach its children, so the control plane waits for it
    # explicitly. The CRDs need neither: they install alongside the PKI.
    wait_for: list[pulumi.Resource]
    crds: versions.ChartPin = field(default_factory=lambda: versions.LINKERD_CRDS)
    control_plane: versions.ChartPin = field(default_factory=lambda: versions.LINKERD_CONTROL_PLANE)
    timeout_seconds: int = 600
    mirror: Pulls = field(default_factory=Pulls)
    """Where the charts and their images come from (the pull secret is in the namespace already)."""
    roots_digest: pulumi.Input[str] | None = None
    """The trust bundle's anchor-set digest, known once trust-manager wrote the set: a pod annotation, so
    that a new set rolls the control plane after the roots ConfigMap holds it."""


class LinkerdControlPlane(pulumi.ComponentResource):
    """linkerd-crds then linkerd-control-plane, with the identity issuer from cert-manager."""

    # Its type token: what a deployed stack knows it by.
    TYPE = "linkerd-vault-pki:linkerd:LinkerdControlPlane"

    release_name: pulumi.Output[str]

    def __init__(self, name: str, args: LinkerdControlPlaneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        crds = pinned_release(
            f"{name}-crds",
            args.mirror.chart(args.crds),
            release_name="linkerd-crds",
            namespace=args.namespace,
            values=crds_values(args.install_gateway_api),
            timeout_seconds=args.timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self),  # the namespace (data) and the cluster (provider) only
        )
        control_plane = pinned_release(
            f"{name}-control-plane",
            args.mirror.chart(args.control_plane),
            release_name="linkerd-control-plane",
            namespace=args.namespace,
            values=control_plane_values(args.mirror, args.roots_digest),
            timeout_seconds=args.timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.wait_for, crds]),
        )
        self.release_name = control_plane.name
        self.register_outputs({"release_name": self.release_name})
