"""cert-manager's credentials in Vault: an AppRole role and secret_id per consumer, or an orphan token.

Made by the stack that makes the Vault side (``components/vault_pki.py``), each holding the signing
policy only, with the settings ``lib/vault_access.py`` also hands a security team. The credential types,
which the cluster side uses, are ``components/credential.py``'s.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pulumi
import pulumi_vault as vault

from components.credential import AppRoleLogin, TokenLogin
from lib import vault_access
from lib.config import CredentialConfig
from lib.names import RFC3339


def approle_backend(name: str, cred: CredentialConfig, parent: pulumi.Resource) -> vault.AuthBackend:
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
    cred: CredentialConfig,
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
    name: str, cluster: str, cred: CredentialConfig, policy: vault.Policy, parent: pulumi.Resource
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


def expiry(lease_started: str | None, lease_duration: int | None) -> str:
    """RFC 3339 time at which a token issued at ``lease_started`` for ``lease_duration`` seconds dies."""
    if not lease_started or lease_duration is None:
        return ""
    started = datetime.fromisoformat(lease_started.replace("Z", "+00:00"))
    return (started + timedelta(seconds=int(lease_duration))).strftime(RFC3339)
