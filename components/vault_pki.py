"""Vault's side of the PKI: mount, URLs, trust anchor, signing policy, credential.

The trust anchor is generated inside Vault (``type=internal``): its private key
never leaves Vault and never enters Pulumi state. cert-manager gets the least
privilege that signs Linkerd's identity issuer: ``update`` on the
sign-intermediate path, nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import pulumi
import pulumi_vault as vault

from lib.config import CredentialConfig, PkiConfig
from lib.names import RFC3339


def signing_policy(sign_path: str) -> str:
    """The whole of what cert-manager may do in Vault: sign intermediates at one path."""
    # docs/design.md, "Least privilege" (checked against OpenBao: update alone signs; sudo is not needed).
    return f'path "{sign_path}" {{\n  capabilities = ["update"]\n}}\n'


def policy_name(pki_path: str) -> str:
    return f"{pki_path.replace('/', '-')}-linkerd-issuer"


@dataclass(frozen=True)
class AppRoleLogin:
    """cert-manager's AppRole credential: it logs in with these for every signing."""

    kind: ClassVar[str] = "approle"
    mount: pulumi.Output[str]
    """The AppRole auth mount path."""
    role_id: pulumi.Output[str]
    """The role's id (not a secret on its own)."""
    secret_id: pulumi.Output[str]
    """The secret_id (a Pulumi secret)."""


@dataclass(frozen=True)
class TokenLogin:
    """cert-manager's token credential: one orphan token, which expires (README, "what expires")."""

    kind: ClassVar[str] = "token"
    token: pulumi.Output[str]
    """The token (a Pulumi secret)."""
    expires_at: pulumi.Output[str]
    """When it dies, RFC 3339 UTC."""


VaultCredential = AppRoleLogin | TokenLogin


@dataclass
class VaultPkiArgs:
    pki_path: str
    """The PKI mount path."""
    max_lease_ttl_seconds: int
    """The mount's max lease TTL: nothing it issues outlives it, the anchor included."""
    cluster_address: pulumi.Input[str]
    """Where cluster workloads reach Vault: the CA and CRL URLs (AIA, CRL DP) are built from it."""
    pki: PkiConfig
    """The anchor's name, lifetime and key."""
    credential: CredentialConfig
    """Which credential cert-manager gets, and its settings."""


class VaultPki(pulumi.ComponentResource):
    """PKI mount with an internally generated ECDSA P-256 anchor and cert-manager's credential."""

    mount_path: pulumi.Output[str]
    sign_path: pulumi.Output[str]
    anchor_pem: pulumi.Output[str]
    policy_name: pulumi.Output[str]
    credential: VaultCredential

    def __init__(self, name: str, args: VaultPkiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("linkerd-vault-pki:vault_pki:VaultPki", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        mount = vault.Mount(
            f"{name}-mount",
            path=args.pki_path,
            type="pki",
            description="Linkerd trust anchor (managed by linkerd-vault-pki)",
            max_lease_ttl_seconds=args.max_lease_ttl_seconds,
            opts=child,
        )
        vault.pkisecret.SecretBackendConfigUrls(
            f"{name}-urls",
            backend=mount.path,
            issuing_certificates=[pulumi.Output.concat(args.cluster_address, "/v1/", mount.path, "/ca")],
            crl_distribution_points=[pulumi.Output.concat(args.cluster_address, "/v1/", mount.path, "/crl")],
            opts=child,
        )
        anchor = vault.pkisecret.SecretBackendRootCert(
            f"{name}-anchor",
            backend=mount.path,
            type="internal",  # the key is generated in Vault and never returned
            common_name=args.pki.anchor_common_name,
            ttl=args.pki.anchor_ttl.vault_ttl,
            key_type=args.pki.anchor_key_type,
            key_bits=args.pki.anchor_key_bits,
            issuer_name="linkerd-trust-anchor",
            opts=pulumi.ResourceOptions(
                parent=self,
                # The provider would update a new ttl in state only (the certificate keeps its expiry), and
                # create a replacement before deleting the old one, which Vault refuses (the issuer name is
                # taken). So any change of what defines the anchor generates a new one, the old issuer
                # deleted first; the new one is then the mount's default, and the sign path signs with it.
                # The running proxies do not trust it yet: README, "Credentials, and what expires".
                replace_on_changes=["commonName", "ttl", "keyType", "keyBits", "type"],
                delete_before_replace=True,
            ),
        )
        sign_path = pulumi.Output.concat(mount.path, "/root/sign-intermediate")
        policy = vault.Policy(
            f"{name}-policy",
            name=policy_name(args.pki_path),
            policy=sign_path.apply(signing_policy),
            opts=child,
        )

        self.mount_path = mount.path
        self.sign_path = sign_path
        self.anchor_pem = anchor.certificate
        self.policy_name = policy.name
        if args.credential.kind == "approle":
            self.credential = self._approle(name, args.credential, policy)
        else:
            self.credential = self._token(name, args.credential, policy)

        self.register_outputs(
            {
                "mount_path": self.mount_path,
                "sign_path": self.sign_path,
                "anchor_pem": self.anchor_pem,
                "policy_name": self.policy_name,
            }
        )

    def _approle(self, name: str, cred: CredentialConfig, policy: vault.Policy) -> AppRoleLogin:
        """AppRole: cert-manager logs in for every signing, so nothing expires."""
        child = pulumi.ResourceOptions(parent=self)
        backend = vault.AuthBackend(
            f"{name}-approle",
            type="approle",
            path=cred.approle_mount,
            description="cert-manager's login for Linkerd's identity issuer (managed by linkerd-vault-pki)",
            opts=child,
        )
        role = vault.approle.AuthBackendRole(
            f"{name}-role",
            backend=backend.path,
            role_name=cred.approle_role,
            token_policies=[policy.name],
            token_no_default_policy=True,
            token_ttl=cred.approle_token_ttl.seconds,
            token_max_ttl=cred.approle_token_ttl.seconds,
            secret_id_ttl=0,  # the secret_id does not expire; rotate it with secretIdVersion
            secret_id_num_uses=0,
            opts=child,
        )
        secret_id = vault.approle.AuthBackendRoleSecretId(
            f"{name}-secret-id",
            backend=backend.path,
            role_name=role.role_name,
            # Bumping secretIdVersion replaces the secret_id: the new one is created and
            # written to the cluster before the old one is destroyed.
            metadata=json.dumps({"managed-by": "linkerd-vault-pki", "version": str(cred.secret_id_version)}),
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["metadata"]),
        )
        return AppRoleLogin(
            mount=backend.path, role_id=role.role_id, secret_id=pulumi.Output.secret(secret_id.secret_id)
        )

    def _token(self, name: str, cred: CredentialConfig, policy: vault.Policy) -> TokenLogin:
        """A non-periodic orphan token, as the walkthrough makes. It expires: see the README."""
        token = vault.Token(
            f"{name}-token",
            policies=[policy.name],
            no_parent=True,
            no_default_policy=True,
            renewable=True,
            ttl=cred.token_ttl.vault_ttl,
            num_uses=0,
            opts=pulumi.ResourceOptions(parent=self),
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
