"""Linkerd's identity: issuer from Vault through cert-manager, anchor through trust-manager.

- The credential Secret and the ClusterIssuer live in cert-manager's namespace,
  the only one a ClusterIssuer reads secrets from.
- The anchor's public certificate comes from Vault's output into a ConfigMap in
  the trust namespace; the Bundle built from it is written only to namespaces
  labelled as Linkerd's control plane. trust-manager never reads the issuer's
  Secret (so never its private key), and a new anchor reaches the bundle.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cert_manager import CertManager, ExistingCertManager
from components.credential import VaultCredential
from lib.config import PkiConfig
from lib.names import (
    ANCHOR_CONFIGMAP,
    BUNDLE_KEY,
    BUNDLE_NAME,
    CERTIFICATE_NAME,
    CONTROL_PLANE_LABEL,
    IDENTITY_NAME,
    PREVIOUS_ANCHOR_KEY,
    anchor_key,
    cluster_issuer_name,
)


def _wait_for(condition: str, timeout_seconds: int) -> dict[str, str]:
    # Ref: pulumi-kubernetes >= 4.18 awaits custom resources on waitFor; timeoutSeconds bounds the wait.
    return {"pulumi.com/waitFor": f"condition={condition}", "pulumi.com/timeoutSeconds": str(timeout_seconds)}


def cluster_issuer_spec(
    server: Any,
    sign_path: Any,
    auth: dict[str, Any],
    ca_bundle_pem: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    vault: dict[str, Any] = {"server": server, "path": sign_path, "auth": auth}
    if ca_bundle_pem:
        vault["caBundle"] = base64.b64encode(ca_bundle_pem.encode()).decode()
    if namespace:
        vault["namespace"] = namespace
    return {"vault": vault}


def certificate_spec(pki: PkiConfig) -> dict[str, Any]:
    return {
        "secretName": CERTIFICATE_NAME,
        "duration": pki.issuer_duration.text,
        "renewBefore": pki.issuer_renew_before.text,
        # Switching the signing anchor changes this name, which makes cert-manager re-issue now.
        "issuerRef": {
            "name": cluster_issuer_name(pki.signing_anchor),
            "kind": "ClusterIssuer",
            "group": "cert-manager.io",
        },
        "commonName": IDENTITY_NAME,
        "dnsNames": [IDENTITY_NAME],
        "isCA": True,
        # Linkerd accepts only ECDSA P-256 issuers. cert-manager >= 1.18 defaults to
        # rotating the key on renewal; say so explicitly (docs/design.md, "Key rotation on renewal").
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["cert sign", "crl sign", "server auth", "client auth"],
    }


def bundle_spec() -> dict[str, Any]:
    # The anchor ConfigMap holds exactly the anchors to trust, one key each: a rotation changes its
    # data, never the Bundle, so no source is ever named that the ConfigMap does not hold.
    return {
        "sources": [{"configMap": {"name": ANCHOR_CONFIGMAP, "includeAllKeys": True}}],
        "target": {
            "configMap": {"key": BUNDLE_KEY},
            # Without a selector trust-manager writes the bundle into every namespace.
            "namespaceSelector": {"matchLabels": {CONTROL_PLANE_LABEL: "true"}},
        },
    }


@dataclass
class LinkerdIdentityArgs:
    cert_manager: CertManager | ExistingCertManager
    """Every custom resource here waits for it (its CRDs and webhook), which no data carries."""
    linkerd_namespace: k8s.core.v1.Namespace
    """Where the issuer Certificate goes; the Bundle targets it by label, so it must exist first."""
    vault_server: pulumi.Input[str]
    """The address the cluster's workloads reach Vault at."""
    sign_path: pulumi.Input[str]
    """``<mount>/issuer/<signing anchor>/sign-intermediate``: the one path the credential may use."""
    anchor_pems: dict[str, pulumi.Input[str]]
    """Every anchor's public certificate by name: the sources of the trust bundle."""
    pki: PkiConfig
    """The issuer's lifetime and renewal, which anchor signs, and an outside anchor to keep in the bundle."""
    credential: VaultCredential
    """What cert-manager logs in to Vault with."""
    vault_ca_bundle_pem: str | None = None
    """PEM CA certificates that verify Vault's TLS certificate (external Vault behind a private CA)."""
    vault_namespace: str | None = None
    """The Vault Enterprise / OpenBao namespace of the mount."""
    ready_timeout_seconds: int = 600
    """How long `up` waits for Ready / Synced."""


class LinkerdIdentity(pulumi.ComponentResource):
    """Credential Secret, ClusterIssuer, anchor source, Bundle and identity issuer Certificate."""

    issuer_name: pulumi.Output[str]
    certificate_name: pulumi.Output[str]
    bundle_name: pulumi.Output[str]

    def __init__(self, name: str, args: LinkerdIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("linkerd-vault-pki:identity:LinkerdIdentity", name, None, opts)
        after_cert_manager: list[pulumi.Resource] = [args.cert_manager]

        issuer_name = cluster_issuer_name(args.pki.signing_anchor)
        secret_name, secret_key, secret_value = args.credential.secret()
        credential = k8s.core.v1.Secret(
            f"{name}-vault-credential",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=args.cert_manager.namespace),
            type="Opaque",
            string_data={secret_key: pulumi.Output.secret(secret_value)},
            opts=pulumi.ResourceOptions(parent=self),
        )

        issuer = k8s.apiextensions.CustomResource(
            f"{name}-cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=issuer_name,
                annotations=_wait_for("Ready", args.ready_timeout_seconds),
            ),
            spec=cluster_issuer_spec(
                args.vault_server,
                args.sign_path,
                args.credential.auth(),
                args.vault_ca_bundle_pem,
                args.vault_namespace,
            ),
            # Ready only once cert-manager has logged in to Vault with the credential.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after_cert_manager, credential]),
        )

        anchors = {anchor_key(name): pem for name, pem in args.anchor_pems.items()}
        if args.pki.previous_anchor_pem:
            anchors[PREVIOUS_ANCHOR_KEY] = args.pki.previous_anchor_pem
        anchor_source = k8s.core.v1.ConfigMap(
            f"{name}-trust-anchor",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ANCHOR_CONFIGMAP, namespace=args.cert_manager.trust_namespace),
            data=anchors,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after_cert_manager),
        )
        bundle = k8s.apiextensions.CustomResource(
            f"{name}-bundle",
            api_version="trust.cert-manager.io/v1alpha1",
            kind="Bundle",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=BUNDLE_NAME, annotations=_wait_for("Synced", args.ready_timeout_seconds)
            ),
            spec=bundle_spec(),
            # The target namespace is chosen by label, not by name: it must exist first.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*after_cert_manager, anchor_source, args.linkerd_namespace],
            ),
        )

        certificate = k8s.apiextensions.CustomResource(
            f"{name}-issuer-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CERTIFICATE_NAME,
                namespace=args.linkerd_namespace.metadata.name,
                annotations=_wait_for("Ready", args.ready_timeout_seconds),
            ),
            spec=certificate_spec(args.pki),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after_cert_manager, issuer]),
        )

        self.issuer_name = _once_created(issuer, issuer_name)
        self.certificate_name = _once_created(certificate, CERTIFICATE_NAME)
        self.bundle_name = _once_created(bundle, BUNDLE_NAME)
        self.register_outputs(
            {
                "issuer_name": self.issuer_name,
                "certificate_name": self.certificate_name,
                "bundle_name": self.bundle_name,
            }
        )


def _once_created(resource: pulumi.CustomResource, name: str) -> pulumi.Output[str]:
    """``name``, resolved only once ``resource`` exists (and is ready, for awaited kinds)."""
    return resource.id.apply(lambda _: name)
