"""What cert-manager logs in to Vault with, whoever made it: this stack, a Vault-only stack, or a security team.

Each kind knows its own ClusterIssuer ``auth`` block, the Secret its secret part
goes in (none, for Kubernetes auth: it logs in as a ServiceAccount), and how it is
exported: the cluster side never asks which kind it has.
Nothing here imports a provider SDK, so a cluster-only stack (docs/design.md,
"Where the Vault side comes from") never loads ``pulumi_vault``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi

from linkerd_vault_pki.names import (
    APPROLE_SECRET,
    APPROLE_SECRET_KEY,
    TOKEN_SECRET,
    TOKEN_SECRET_KEY,
    VAULT_AUDIENCE,
    VAULT_SERVICE_ACCOUNT,
)


@dataclass(frozen=True)
class AppRoleLogin:
    """cert-manager's AppRole credential: it logs in with these for every signing."""

    KIND: ClassVar[str] = "approle"  # the stack output credentialKind
    FACT_KEYS: ClassVar[tuple[str, ...]] = ("approleMount", "approleRoleId")  # its plain outputs
    SECRET_KEYS: ClassVar[tuple[str, ...]] = ("approleSecretId",)  # its secret outputs

    mount: pulumi.Input[str]
    """The AppRole auth mount path."""
    role_id: pulumi.Input[str]
    """The role's id (not a secret on its own)."""
    secret_id: pulumi.Output[str]
    """The secret_id (a Pulumi secret)."""

    def auth(self, api_audience: str) -> dict[str, Any]:
        """The ClusterIssuer's ``vault.auth`` block (``api_audience``: the cluster API server's own token
        audience, which only a login token that Vault reviews with itself needs)."""
        return {
            "appRole": {
                "path": self.mount,
                "roleId": self.role_id,
                "secretRef": {"name": APPROLE_SECRET, "key": APPROLE_SECRET_KEY},
            }
        }

    def secret(self) -> tuple[str, str, pulumi.Output[str]] | None:
        """The Secret cert-manager reads the secret part from: name, key, value (None: nothing stored)."""
        return APPROLE_SECRET, APPROLE_SECRET_KEY, self.secret_id

    def service_account(self) -> str | None:
        """The ServiceAccount cert-manager logs in as (None: it logs in with a stored secret)."""
        return None

    def bound_namespace(self) -> str | None:
        """The one namespace Vault accepts that ServiceAccount from (None: no ServiceAccount)."""
        return None

    def facts(self) -> dict[str, pulumi.Input[str]]:
        """What may be shown: the stack outputs beside the secret ones."""
        return dict(zip(self.FACT_KEYS, (self.mount, self.role_id), strict=True))

    def secrets(self) -> dict[str, pulumi.Output[str]]:
        return dict(zip(self.SECRET_KEYS, (self.secret_id,), strict=True))


@dataclass(frozen=True)
class TokenLogin:
    """cert-manager's token credential: one orphan token, which expires (docs/operations.md, "What expires")."""

    KIND: ClassVar[str] = "token"
    FACT_KEYS: ClassVar[tuple[str, ...]] = ("vaultTokenExpiresAt",)
    SECRET_KEYS: ClassVar[tuple[str, ...]] = ("vaultToken",)

    token: pulumi.Output[str]
    """The token (a Pulumi secret)."""
    expires_at: pulumi.Input[str]
    """When it dies, RFC 3339 UTC ("" when unknown: a token handed over by hand)."""

    def auth(self, api_audience: str) -> dict[str, Any]:
        return {"tokenSecretRef": {"name": TOKEN_SECRET, "key": TOKEN_SECRET_KEY}}

    def secret(self) -> tuple[str, str, pulumi.Output[str]] | None:
        return TOKEN_SECRET, TOKEN_SECRET_KEY, self.token

    def service_account(self) -> str | None:
        return None

    def bound_namespace(self) -> str | None:
        return None

    def facts(self) -> dict[str, pulumi.Input[str]]:
        return dict(zip(self.FACT_KEYS, (self.expires_at,), strict=True))

    def secrets(self) -> dict[str, pulumi.Output[str]]:
        return dict(zip(self.SECRET_KEYS, (self.token,), strict=True))


@dataclass(frozen=True)
class KubernetesLogin:
    """cert-manager's Kubernetes auth credential: nothing stored anywhere (docs/design.md, "Kubernetes auth").

    For each login cert-manager requests a 10-minute token for ``VAULT_SERVICE_ACCOUNT`` (TokenRequest, with
    our audience) and hands it to Vault, which asks the cluster's TokenReview whether it is valid.
    """

    KIND: ClassVar[str] = "kubernetes"
    FACT_KEYS: ClassVar[tuple[str, ...]] = ("kubernetesAuthMount", "kubernetesAuthRole", "kubernetesNamespace")
    SECRET_KEYS: ClassVar[tuple[str, ...]] = ()

    mount: pulumi.Input[str]
    """The Kubernetes auth mount path (this cluster's)."""
    role: pulumi.Input[str]
    """The role bound to the ServiceAccount."""
    namespace: str
    """The one namespace the role binds: where the cluster's cert-manager must run (its trustNamespace)."""

    def auth(self, api_audience: str) -> dict[str, Any]:
        """Our audience, which Vault's role requires, and the API server's: Vault stores no reviewer token and
        calls TokenReview with the login token itself, which the API server authenticates only when it carries
        its own audience (docs/design.md, "Kubernetes auth")."""
        return {
            "kubernetes": {
                "mountPath": pulumi.Output.concat("/v1/auth/", self.mount),
                "role": self.role,
                "serviceAccountRef": {"name": VAULT_SERVICE_ACCOUNT, "audiences": [VAULT_AUDIENCE, api_audience]},
            }
        }

    def secret(self) -> tuple[str, str, pulumi.Output[str]] | None:
        return None

    def service_account(self) -> str | None:
        return VAULT_SERVICE_ACCOUNT

    def bound_namespace(self) -> str | None:
        return self.namespace

    def facts(self) -> dict[str, pulumi.Input[str]]:
        return dict(zip(self.FACT_KEYS, (self.mount, self.role, self.namespace), strict=True))

    def secrets(self) -> dict[str, pulumi.Output[str]]:
        return {}


VaultCredential = AppRoleLogin | TokenLogin | KubernetesLogin
KINDS: dict[str, type[VaultCredential]] = {c.KIND: c for c in (AppRoleLogin, TokenLogin, KubernetesLogin)}


def from_outputs(kind: str, plain: dict[str, Any], secret: pulumi.Output[dict[str, Any]]) -> VaultCredential:
    """A credential another stack exported: its facts (plain) and its secrets (one secret Output)."""

    def secret_field(key: str) -> pulumi.Output[str]:
        return pulumi.Output.secret(secret.apply(lambda s: s[key]))

    if kind == AppRoleLogin.KIND:
        mount, role_id = (plain[k] for k in AppRoleLogin.FACT_KEYS)
        return AppRoleLogin(mount=mount, role_id=role_id, secret_id=secret_field(*AppRoleLogin.SECRET_KEYS))
    if kind == KubernetesLogin.KIND:
        mount, role, namespace = (plain[k] for k in KubernetesLogin.FACT_KEYS)
        return KubernetesLogin(mount=mount, role=role, namespace=str(namespace))
    return TokenLogin(token=secret_field(*TokenLogin.SECRET_KEYS), expires_at=plain.get(*TokenLogin.FACT_KEYS, ""))
