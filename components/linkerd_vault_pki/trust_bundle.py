"""The trust anchors, distributed by trust-manager: the walkthrough's Bundle.

The anchors' public certificates (from Vault, a Vault-only stack or config) go into a ConfigMap in
trust-manager's trust namespace, one key each; the Bundle built from it is written only to namespaces
labelled as Linkerd's control plane. trust-manager never reads the issuer's Secret (so never its private
key), and a rotation changes the ConfigMap's data, never the Bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from linkerd_vault_pki import mesh
from linkerd_vault_pki.issuer import once_created, wait_for
from linkerd_vault_pki.names import (
    ANCHOR_CONFIGMAP,
    BUNDLE_KEY,
    BUNDLE_NAME,
    CONTROL_PLANE_LABEL,
    PREVIOUS_ANCHOR_KEY,
    ROOTS_DIGEST_ANNOTATION,
    anchor_key,
)


def bundle_spec(roots_digest: Any = None) -> dict[str, Any]:
    # The anchor ConfigMap holds exactly the anchors to trust, one key each: a rotation changes its
    # data, never the Bundle's sources, so no source is ever named that the ConfigMap does not hold.
    # The digest of the set goes onto the target with the roots (trust-manager copies target metadata):
    # a new set changes the Bundle's spec, so its generation, and the Synced wait below is for that
    # generation (pulumi-kubernetes' condition await skips a condition whose observedGeneration is older:
    # provider/pkg/await/condition/kubectl.go). Only then does Linkerd's control plane roll.
    target: dict[str, Any] = {"key": BUNDLE_KEY}
    if roots_digest is not None:
        target["metadata"] = {"annotations": {ROOTS_DIGEST_ANNOTATION: roots_digest}}
    return {
        "sources": [{"configMap": {"name": ANCHOR_CONFIGMAP, "includeAllKeys": True}}],
        "target": {
            "configMap": target,
            # Without a selector trust-manager writes the bundle into every namespace.
            "namespaceSelector": {"matchLabels": {CONTROL_PLANE_LABEL: "true"}},
        },
    }


@dataclass
class TrustBundleArgs:
    trust_namespace: pulumi.Input[str]
    """trust-manager's trust namespace, where the anchors' ConfigMap goes: pass ``CertManager.trust_namespace``
    or ``ExistingCertManager.trust_namespace``, which resolve only once trust-manager is installed (or its CRD
    is found), so that the ConfigMap, and the Bundle after it, wait for it through the data."""
    linkerd_namespace: pulumi.Input[str]
    """Linkerd's namespace: the Bundle targets it by label, so it must exist first."""
    anchor_pems: dict[str, pulumi.Input[str]]
    """Every anchor's public certificate by name: the sources of the trust bundle."""
    previous_anchor_pem: str | None = None
    """An anchor from outside the mount (a mesh migrating here), kept in the bundle."""
    ready_timeout_seconds: int = 600
    """How long `up` waits for the Bundle to be Synced."""


class TrustBundle(pulumi.ComponentResource):
    """The anchors' ConfigMap and the Bundle trust-manager writes into Linkerd's namespace."""

    # Its type token: what a deployed stack knows it by (a subclass hosted for other languages has its own).
    TYPE = "linkerd-vault-pki:trust_bundle:TrustBundle"

    bundle_name: pulumi.Output[str]
    roots_digest: pulumi.Output[str]
    """The digest of the anchor set (mesh.py), resolved once trust-manager has written that set."""

    def __init__(self, name: str, args: TrustBundleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        anchors = {anchor_key(anchor): pem for anchor, pem in args.anchor_pems.items()}
        if args.previous_anchor_pem:
            anchors[PREVIOUS_ANCHOR_KEY] = args.previous_anchor_pem
        source = k8s.core.v1.ConfigMap(
            f"{name}-anchors",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ANCHOR_CONFIGMAP, namespace=args.trust_namespace),
            data=anchors,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The target namespace is chosen by label, not by name, so its name is no value of the Bundle's: it is
        # carried by the digest (which the Bundle's spec holds) for the order alone: the namespace first.
        digest = pulumi.Output.all(args.linkerd_namespace, *anchors.values()).apply(
            lambda names_and_pems: mesh.roots_digest(names_and_pems[1:])
        )
        bundle = k8s.apiextensions.CustomResource(
            f"{name}-bundle",
            api_version="trust.cert-manager.io/v1alpha1",
            kind="Bundle",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=BUNDLE_NAME, annotations=wait_for("Synced", args.ready_timeout_seconds)
            ),
            spec=bundle_spec(digest),
            # After the anchors' ConfigMap, so after trust-manager (the ConfigMap's namespace is its output).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[source]),
        )
        self.bundle_name = once_created(bundle, BUNDLE_NAME)
        self.roots_digest = pulumi.Output.all(bundle.id, digest).apply(lambda both: both[1])
        self.register_outputs({"bundle_name": self.bundle_name, "roots_digest": self.roots_digest})
