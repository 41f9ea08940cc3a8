"""cert-manager's credentials in Vault: an AppRole role and secret_id per consumer, an orphan token, or a
Kubernetes auth mount and role per cluster (which stores nothing secret anywhere).

Made by the stack that makes the Vault side (``vault_pki.py``), each holding the signing
policy only, with the settings ``vault_access.py`` also hands a security team. The credential types,
which the cluster side uses, are ``credential.py``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import pulumi
import pulumi_vault as vault

from linkerd_vault_pki import vault_access
from linkerd_vault_pki.credential import AppRoleLogin, KubernetesLogin, TokenLogin
from linkerd_vault_pki.names import RFC3339, VAULT_SERVICE_ACCOUNT
from linkerd_vault_pki.vault_access import CredentialSettings


@dataclass(frozen=True)
class ReviewedCluster:
    """A cluster whose ServiceAccount tokens Vault's Kubernetes auth accepts, as Vault reaches it."""

    host: pulumi.Input[str]
    """Its API server, where Vault calls TokenReview."""
    ca_pem: pulumi.Input[str]
    """The CA that verifies that API server."""
    namespace: str
    """Where cert-manager's ServiceAccount for Vault lives: the one namespace the role binds."""


def approle_backend(name: str, cred: CredentialSettings, parent: pulumi.Resource) -> vault.AuthBackend:
    return vault.AuthBackend(
        f"{name}-approle",
        type="approle",
        path=cred.approle_mount,
        description="cert-manager's login for Linkerd's identity issuer (managed by linkerd-vault-pki)",
        opts=pulumi.ResourceOptions(parent=parent),
    )


def approle_login(
    name: str,
    cluster: str,
    cred: CredentialSettings,
    version: int,
    policy: vault.Policy,
    backend: vault.AuthBackend,
    parent: pulumi.Resource,
) -> AppRoleLogin:
    """AppRole: cert-manager logs in for every signing, so nothing expires.

    Each cluster has a role of its own (``cert-manager-<cluster>``): one cluster's secret_id can be
    rotated or revoked without touching another's.
    """
    child = pulumi.ResourceOptions(parent=parent)
    prefix = f"{name}-{cluster}" if cluster else name
    # The secret_id does not expire (secret_id_ttl 0): it is rotated with secretIdVersion.
    role = vault.approle.AuthBackendRole(
        f"{prefix}-role",
        backend=backend.path,
        role_name=f"{cred.approle_role}-{cluster}" if cluster else cred.approle_role,
        **vault_access.approle_role(policy.name, cred.approle_token_ttl.seconds),
        opts=child,
    )
    secret_id = vault.approle.AuthBackendRoleSecretId(
        f"{prefix}-secret-id",
        backend=backend.path,
        role_name=role.role_name,
        # Bumping secretIdVersion replaces the secret_id: the new one is created and
        # written to the cluster before the old one is destroyed.
        metadata=json.dumps({"managed-by": "linkerd-vault-pki", "version": str(version)}),
        opts=pulumi.ResourceOptions(parent=parent, replace_on_changes=["metadata"]),
    )
    return AppRoleLogin(mount=backend.path, role_id=role.role_id, secret_id=pulumi.Output.secret(secret_id.secret_id))


def token_login(
    name: str, cluster: str, cred: CredentialSettings, policy: vault.Policy, parent: pulumi.Resource
) -> TokenLogin:
    """A non-periodic orphan token per cluster, as the walkthrough makes.

    It expires: docs/operations.md, "Credentials, and what expires".
    """
    token = vault.Token(
        f"{name}-{cluster}-token" if cluster else f"{name}-token",
        **vault_access.orphan_token(policy.name, cred.token_ttl.seconds),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return TokenLogin(
        token=pulumi.Output.secret(token.client_token),
        expires_at=pulumi.Output.all(token.lease_started, token.lease_duration).apply(lambda v: expiry(v[0], v[1])),
    )


def kubernetes_mount(cred: CredentialSettings, cluster: str) -> str:
    """A cluster's Kubernetes auth mount: a mount's config names one API server, so each cluster has its own."""
    return f"{cred.kubernetes_mount}/{cluster}" if cluster else cred.kubernetes_mount


def kubernetes_login(
    name: str, cluster: str, cred: CredentialSettings, reviewed: ReviewedCluster, policy: vault.Policy, parent
) -> KubernetesLogin:
    """Kubernetes auth: a mount for the cluster, its API server and CA, a role bound to one ServiceAccount.

    One mount a cluster, not one role a cluster in a shared mount: Vault's Kubernetes auth config (the API
    server it asks TokenReview, its CA) is the mount's. Revoking one cluster is deleting its mount (or role).
    """
    child = pulumi.ResourceOptions(parent=parent)
    prefix = f"{name}-{cluster}" if cluster else name
    backend = vault.AuthBackend(
        f"{prefix}-kubernetes",
        type="kubernetes",
        path=kubernetes_mount(cred, cluster),
        description="cert-manager's login for Linkerd's identity issuer (managed by linkerd-vault-pki)",
        opts=child,
    )
    config = vault.kubernetes.AuthBackendConfig(
        f"{prefix}-kubernetes-config",
        backend=backend.path,
        **vault_access.kubernetes_config(reviewed.host, reviewed.ca_pem),
        opts=child,
    )
    role = vault.kubernetes.AuthBackendRole(
        f"{prefix}-kubernetes-role",
        backend=backend.path,
        role_name=cred.kubernetes_role,
        **vault_access.kubernetes_role(
            policy.name, cred.kubernetes_token_ttl.seconds, VAULT_SERVICE_ACCOUNT, reviewed.namespace
        ),
        opts=child,
    )
    # Handed to the cluster only once the mount can review tokens and the role exists.
    mount = pulumi.Output.all(backend.path, config.id, role.id).apply(lambda v: v[0])
    return KubernetesLogin(mount=mount, role=role.role_name, namespace=reviewed.namespace)


def expiry(lease_started: str | None, lease_duration: int | None) -> str:
    """RFC 3339 time at which a token issued at ``lease_started`` for ``lease_duration`` seconds dies."""
    if not lease_started or lease_duration is None:
        return ""
    started = datetime.fromisoformat(lease_started.replace("Z", "+00:00"))
    return (started + timedelta(seconds=int(lease_duration))).strftime(RFC3339)
