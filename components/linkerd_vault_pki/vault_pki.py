"""Vault's side of the PKI: mount, URLs, trust anchors, signing policy, credentials.

Each trust anchor's key is generated inside Vault (``type=internal``): its
private part never leaves Vault and never enters Pulumi state. The mount holds
one anchor, or two during a rotation (stack/rotation.py); each is a Vault issuer
named after it. cert-manager gets the least privilege that signs Linkerd's
identity issuer: ``update`` on the signing anchor's own sign-intermediate path
(``<mount>/issuer/<anchor>/sign-intermediate``), nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_vault as vault

from linkerd_vault_pki import vault_access, vault_credentials
from linkerd_vault_pki.credential import VaultCredential
from linkerd_vault_pki.values import Duration
from linkerd_vault_pki.vault_access import Consumer, CredentialSettings
from linkerd_vault_pki.vault_credentials import ReviewedCluster
from linkerd_vault_pki.x509 import AnchorFacts, anchor_facts


@dataclass(frozen=True)
class TrustAnchor:
    """One anchor in the mount: its Vault issuer (named after it) and public certificate."""

    name: str
    pem: pulumi.Output[str]
    issuer_id: pulumi.Output[str]
    facts: pulumi.Output[AnchorFacts]
    """Its fingerprint, expiry, common name and lifetime, read from the PEM once."""


@dataclass(frozen=True)
class AnchorSpec:
    """What a newly generated anchor is (a live one keeps what it was generated with)."""

    common_name: str
    ttl: Duration
    key_type: str
    key_bits: int


@dataclass
class VaultPkiArgs:
    pki_path: str
    """The PKI mount path."""
    max_lease_ttl_seconds: int
    """The mount's max lease TTL: nothing it issues outlives it, the anchors included."""
    cluster_address: pulumi.Input[str]
    """Where cluster workloads reach Vault: the CA and CRL URLs (AIA, CRL DP) are built from it."""
    anchors: tuple[str, ...]
    """The anchors the mount holds (Vault issuer names), oldest first."""
    signing_anchor: str
    """The one that signs the identity issuer."""
    new_anchors: AnchorSpec
    """What an anchor generated from now on is: its common name, lifetime and key."""
    credential: CredentialSettings
    """Which credential cert-manager gets, and its settings."""
    clusters: dict[str, Consumer] = field(default_factory=lambda: {"": Consumer("")})
    """A credential for each cluster: by its key ("" for the stack's one cluster), its secret_id version."""
    reviewed: dict[str, ReviewedCluster] = field(default_factory=dict)
    """With Kubernetes auth, each cluster's API server as Vault reaches it, by the same keys."""
    protect: bool = False
    """Pulumi ``protect`` on the mount and the signing anchor's key and issuer: the engine then refuses to
    delete or replace them (a destroy, a removed stack, a provider upgrade planning a replacement) until they
    are unprotected on purpose. Anchors that do not sign stay unprotected, so a retire needs one `up`, and a
    switch moves the protection to the new signer."""


class VaultPki(pulumi.ComponentResource):
    """PKI mount with ECDSA P-256 anchors generated inside it, and a signing credential per cluster."""

    # Its type token: what a deployed stack knows it by.
    TYPE = "linkerd-vault-pki:vault_pki:VaultPki"

    mount_path: pulumi.Output[str]
    sign_path: pulumi.Output[str]
    anchors: dict[str, TrustAnchor]
    signing: TrustAnchor
    policy_name: pulumi.Output[str]
    credentials: dict[str, VaultCredential]

    def __init__(self, name: str, args: VaultPkiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        mount = vault.Mount(
            f"{name}-mount",
            path=args.pki_path,
            type="pki",
            description="Linkerd trust anchors (managed by linkerd-vault-pki)",
            max_lease_ttl_seconds=args.max_lease_ttl_seconds,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),  # deleting it deletes every anchor
        )
        vault.pkisecret.SecretBackendConfigUrls(
            f"{name}-urls",
            backend=mount.path,
            issuing_certificates=[pulumi.Output.concat(args.cluster_address, "/v1/", mount.path, "/ca")],
            crl_distribution_points=[pulumi.Output.concat(args.cluster_address, "/v1/", mount.path, "/crl")],
            opts=child,
        )
        self.anchors = {
            anchor: self._anchor(
                name, anchor, mount, args.new_anchors, protect=args.protect and anchor == args.signing_anchor
            )
            for anchor in args.anchors
        }
        self.signing = self.anchors[args.signing_anchor]
        # The mount's default issuer follows the signing anchor, so that `<mount>/ca` and the default paths
        # say what signs; cert-manager itself signs at the issuer's own path, which no default change moves.
        defaults = vault.pkisecret.SecretBackendConfigIssuers(
            f"{name}-default-issuer",
            backend=mount.path,
            default=self.signing.issuer_id,
            default_follows_latest_issuer=False,
            opts=child,
        )
        sign_path = pulumi.Output.concat(mount.path, "/issuer/", self.signing.name, "/sign-intermediate")
        policy = vault.Policy(
            f"{name}-policy",
            name=vault_access.policy_name(args.pki_path),
            policy=sign_path.apply(vault_access.signing_policy),
            opts=child,
        )

        self.mount_path = mount.path
        # Handed to cert-manager only once the policy allows it and the issuer is the default.
        self.sign_path = pulumi.Output.all(sign_path, policy.id, defaults.id).apply(lambda v: v[0])
        self.policy_name = policy.name
        if args.credential.kind == "approle":
            backend = vault_credentials.approle_backend(name, args.credential, self)
            self.credentials = {
                key: vault_credentials.approle_login(
                    name, key, args.credential, login.secret_id_version, policy, backend, self
                )
                for key, login in args.clusters.items()
            }
        elif args.credential.kind == "kubernetes":
            self.credentials = {
                key: vault_credentials.kubernetes_login(name, key, args.credential, args.reviewed[key], policy, self)
                for key in args.clusters
            }
        else:
            self.credentials = {
                key: vault_credentials.token_login(name, key, args.credential, policy, self) for key in args.clusters
            }

        self.register_outputs(
            {
                "mount_path": self.mount_path,
                "sign_path": self.sign_path,
                "anchors": {a.name: a.pem for a in self.anchors.values()},
                "policy_name": self.policy_name,
            }
        )

    def _anchor(self, name: str, anchor: str, mount: vault.Mount, spec: AnchorSpec, protect: bool) -> TrustAnchor:
        """A key generated in Vault (never returned) and the self-signed anchor certificate of it.

        The key is a resource of its own so that retiring the anchor deletes it too: deleting a Vault
        issuer leaves its key in the mount. The anchor's common name, lifetime and key are what it was
        generated with: changing anchorCommonName or anchorTtl applies to anchors generated from then on
        (a rotation), never to a live one, which the running proxies trust as it is.
        """
        key = vault.pkisecret.SecretBackendKey(
            f"{name}-anchor-key-{anchor}",
            backend=mount.path,
            type="internal",  # generated in Vault; its private part is never returned
            key_name=anchor,
            key_type=spec.key_type,
            key_bits=spec.key_bits,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["keyType", "keyBits"], protect=protect),
        )
        cert = vault.pkisecret.SecretBackendRootCert(
            f"{name}-anchor-{anchor}",
            backend=mount.path,
            type="existing",  # signed with the key above, inside Vault
            key_ref=key.key_id,
            common_name=spec.common_name,
            ttl=spec.ttl.vault_ttl,
            key_type=spec.key_type,
            key_bits=spec.key_bits,
            issuer_name=anchor,
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["commonName", "ttl", "keyType", "keyBits"],
                # Vault refuses a second issuer of the same name: a replacement deletes the old one first.
                delete_before_replace=True,
                protect=protect,
            ),
        )
        return TrustAnchor(
            name=anchor, pem=cert.certificate, issuer_id=cert.issuer_id, facts=cert.certificate.apply(anchor_facts)
        )
