"""Linkerd's identity issuer, from Vault through cert-manager: the walkthrough's ClusterIssuer and Certificate.

- The credential Secret and the ClusterIssuer live in cert-manager's cluster resource namespace, the only
  one a ClusterIssuer reads secrets from. With Kubernetes auth there is no Secret: a ServiceAccount there,
  which cert-manager may request tokens for and nothing else may, and whose tokens may call TokenReview.
- The ClusterIssuer is named after the anchor that signs (``vault-<anchor>``): a rotation's switch renames
  it, and cert-manager re-issues a Certificate whose issuerRef changed.
- The Certificate is the identity issuer Linkerd reads (``kubernetes.io/tls``): an ECDSA P-256 CA.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from linkerd_vault_pki.credential import VaultCredential
from linkerd_vault_pki.names import (
    CERTIFICATE_NAME,
    IDENTITY_NAME,
    TOKEN_REQUESTER,
    TOKEN_REVIEWER,
    cluster_issuer_name,
)
from linkerd_vault_pki.values import Duration


def wait_for(condition: str, timeout_seconds: int) -> dict[str, str]:
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


def certificate_spec(duration: Duration, renew_before: Duration, signing_anchor: str) -> dict[str, Any]:
    return {
        "secretName": CERTIFICATE_NAME,
        "duration": duration.text,
        "renewBefore": renew_before.text,
        # Switching the signing anchor changes this name, which makes cert-manager re-issue now.
        "issuerRef": {"name": cluster_issuer_name(signing_anchor), "kind": "ClusterIssuer", "group": "cert-manager.io"},
        "commonName": IDENTITY_NAME,
        "dnsNames": [IDENTITY_NAME],
        "isCA": True,
        # Linkerd accepts only ECDSA P-256 issuers. cert-manager >= 1.18 defaults to
        # rotating the key on renewal; say so explicitly (docs/design.md, "Key rotation on renewal").
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["cert sign", "crl sign", "server auth", "client auth"],
    }


@dataclass
class IdentityIssuerArgs:
    cert_manager_namespace: pulumi.Input[str]
    """cert-manager's cluster resource namespace, where the ClusterIssuer reads the credential Secret: pass
    ``CertManager.namespace`` or ``ExistingCertManager.namespace``, which resolve only once cert-manager is
    installed (or its CRDs are found), so that every resource here waits for it through the data."""
    linkerd_namespace: pulumi.Input[str]
    """Where the issuer Certificate (and so its Secret) goes: Linkerd's namespace, once it exists."""
    vault_server: pulumi.Input[str]
    """The address the cluster's cert-manager reaches Vault at."""
    sign_path: pulumi.Input[str]
    """``<mount>/issuer/<signing anchor>/sign-intermediate``: the one path the credential may use."""
    signing_anchor: str
    """The anchor that signs: it names the ClusterIssuer."""
    credential: VaultCredential
    """What cert-manager logs in to Vault with."""
    duration: Duration
    """The issuer's lifetime."""
    renew_before: Duration
    """How long before its expiry cert-manager renews it."""
    vault_ca_bundle_pem: str | None = None
    """PEM CA certificates that verify Vault's TLS certificate (a Vault behind a private CA)."""
    vault_namespace: str | None = None
    """The Vault Enterprise / OpenBao namespace of the mount."""
    ready_timeout_seconds: int = 600
    """How long `up` waits for the ClusterIssuer and the Certificate to be Ready."""
    cert_manager_service_account: str = "cert-manager"
    """cert-manager's controller's ServiceAccount: with Kubernetes auth, the one that may request the token."""
    api_audience: str = "https://kubernetes.default.svc.cluster.local"
    """The cluster API server's own token audience (Kubernetes auth's login token carries it)."""


class IdentityIssuer(pulumi.ComponentResource):
    """The credential Secret, the ClusterIssuer and the identity issuer Certificate."""

    # Its type token: what a deployed stack knows it by (a subclass hosted for other languages has its own).
    TYPE = "linkerd-vault-pki:issuer:IdentityIssuer"

    issuer_name: pulumi.Output[str]
    certificate_name: pulumi.Output[str]

    def __init__(self, name: str, args: IdentityIssuerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        # Every login resource is in (or names) cert-manager's namespace, so waits for cert-manager.
        credential = login_resources(name, args, pulumi.ResourceOptions(parent=self))
        issuer_name = cluster_issuer_name(args.signing_anchor)
        issuer = k8s.apiextensions.CustomResource(
            f"{name}-cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=issuer_name, annotations=wait_for("Ready", args.ready_timeout_seconds)
            ),
            spec=cluster_issuer_spec(
                args.vault_server,
                args.sign_path,
                args.credential.auth(args.api_audience),
                args.vault_ca_bundle_pem,
                args.vault_namespace,
            ),
            # Ready only once cert-manager has logged in to Vault with the credential (and so after cert-manager).
            opts=pulumi.ResourceOptions(parent=self, depends_on=credential),
        )
        certificate = k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CERTIFICATE_NAME,
                namespace=args.linkerd_namespace,
                annotations=wait_for("Ready", args.ready_timeout_seconds),
            ),
            spec=certificate_spec(args.duration, args.renew_before, args.signing_anchor),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[issuer]),
        )
        self.issuer_name = once_created(issuer, issuer_name)
        self.certificate_name = once_created(certificate, CERTIFICATE_NAME)
        self.register_outputs({"issuer_name": self.issuer_name, "certificate_name": self.certificate_name})


def login_resources(name: str, args: IdentityIssuerArgs, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """What cert-manager logs in to Vault with, on the cluster: the credential's Secret, or with Kubernetes auth
    the ServiceAccount and exactly the RBAC its login needs (nothing stored)."""
    namespace = args.cert_manager_namespace
    stored = args.credential.secret()
    if stored is not None:
        secret_name, secret_key, secret_value = stored
        secret = k8s.core.v1.Secret(
            f"{name}-vault-credential",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=namespace),
            type="Opaque",
            string_data={secret_key: pulumi.Output.secret(secret_value)},
            opts=opts,
        )
        return [secret]
    account = args.credential.service_account()
    assert account is not None  # a credential stores a secret or logs in as a ServiceAccount
    meta = k8s.meta.v1.ObjectMetaArgs
    service_account = k8s.core.v1.ServiceAccount(
        f"{name}-vault-service-account",
        metadata=meta(name=account, namespace=namespace),
        automount_service_account_token=False,  # no pod runs as it: cert-manager requests its tokens
        opts=opts,
    )
    # cert-manager's controller may create tokens for this one ServiceAccount (TokenRequest), nothing more.
    requester = k8s.rbac.v1.Role(
        f"{name}-vault-token-requester",
        metadata=meta(name=TOKEN_REQUESTER, namespace=namespace),
        rules=[
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=[""], resources=["serviceaccounts/token"], verbs=["create"], resource_names=[account]
            )
        ],
        opts=opts,
    )
    requester_binding = k8s.rbac.v1.RoleBinding(
        f"{name}-vault-token-requester",
        metadata=meta(name=TOKEN_REQUESTER, namespace=namespace),
        role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=TOKEN_REQUESTER),
        subjects=[
            k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=args.cert_manager_service_account, namespace=namespace)
        ],
        opts=opts.merge(pulumi.ResourceOptions(depends_on=[requester])),
    )
    # Vault reviews each login with the login's own token (it stores no reviewer token): the token's
    # ServiceAccount may call TokenReview, which is all system:auth-delegator grants that matters here.
    reviewer = k8s.rbac.v1.ClusterRoleBinding(
        f"{name}-vault-token-reviewer",
        metadata=meta(name=TOKEN_REVIEWER),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="system:auth-delegator"
        ),
        subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account, namespace=namespace)],
        opts=opts.merge(pulumi.ResourceOptions(depends_on=[service_account])),
    )
    return [service_account, requester_binding, reviewer]


def once_created(resource: pulumi.CustomResource, name: str) -> pulumi.Output[str]:
    """``name``, resolved only once ``resource`` exists (and is ready, for awaited kinds)."""
    return resource.id.apply(lambda _: name)
