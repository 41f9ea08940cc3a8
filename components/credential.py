"""What cert-manager logs in to Vault with, whoever made it: this stack, a Vault-only stack, or a security team.

Each kind knows its own ClusterIssuer ``auth`` block, the Secret its secret part
goes in, and how it is exported: the cluster side never asks which kind it has.
Nothing here imports a provider SDK, so a cluster-only stack (docs/design.md,
"Where the Vault side comes from") never loads ``pulumi_vault``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from lib.names import APPROLE_SECRET, APPROLE_SECRET_KEY, TOKEN_SECRET, TOKEN_SECRET_KEY


@dataclass(frozen=True)
class AppRoleLogin:
    """cert-manager's AppRole credential: it logs in with these for every signing."""

    mount: pulumi.Input[str]
    """The AppRole auth mount path."""
    role_id: pulumi.Input[str]
    """The role's id (not a secret on its own)."""
    secret_id: pulumi.Output[str]
    """The secret_id (a Pulumi secret)."""

    def auth(self) -> dict[str, Any]:
        """The ClusterIssuer's ``vault.auth`` block."""
        return {
            "appRole": {
                "path": self.mount,
                "roleId": self.role_id,
                "secretRef": {"name": APPROLE_SECRET, "key": APPROLE_SECRET_KEY},
            }
        }

    def secret(self) -> tuple[str, str, pulumi.Output[str]]:
        """The Secret cert-manager reads the secret part from: name, key, value."""
        return APPROLE_SECRET, APPROLE_SECRET_KEY, self.secret_id

    def facts(self) -> dict[str, pulumi.Input[str]]:
        """What may be shown: the stack outputs beside the secret ones."""
        return {"approleMount": self.mount, "approleRoleId": self.role_id}

    def secrets(self) -> dict[str, pulumi.Output[str]]:
        return {"approleSecretId": self.secret_id}


@dataclass(frozen=True)
class TokenLogin:
    """cert-manager's token credential: one orphan token, which expires (docs/operations.md, "What expires")."""

    token: pulumi.Output[str]
    """The token (a Pulumi secret)."""
    expires_at: pulumi.Input[str]
    """When it dies, RFC 3339 UTC ("" when unknown: a token handed over by hand)."""

    def auth(self) -> dict[str, Any]:
        return {"tokenSecretRef": {"name": TOKEN_SECRET, "key": TOKEN_SECRET_KEY}}

    def secret(self) -> tuple[str, str, pulumi.Output[str]]:
        return TOKEN_SECRET, TOKEN_SECRET_KEY, self.token

    def facts(self) -> dict[str, pulumi.Input[str]]:
        return {"vaultTokenExpiresAt": self.expires_at}

    def secrets(self) -> dict[str, pulumi.Output[str]]:
        return {"vaultToken": self.token}


VaultCredential = AppRoleLogin | TokenLogin
KINDS = {"approle": AppRoleLogin, "token": TokenLogin}


def from_outputs(kind: str, plain: dict[str, Any], secret: pulumi.Output[dict[str, Any]]) -> VaultCredential:
    """A credential another stack exported: its facts (plain) and its secrets (one secret Output)."""
    if kind == "approle":
        return AppRoleLogin(
            mount=plain["approleMount"],
            role_id=plain["approleRoleId"],
            secret_id=pulumi.Output.secret(secret.apply(lambda s: s["approleSecretId"])),
        )
    return TokenLogin(
        token=pulumi.Output.secret(secret.apply(lambda s: s["vaultToken"])),
        expires_at=plain.get("vaultTokenExpiresAt", ""),
    )
