"""linkerd-vault-pki: Linkerd's mTLS on a trust anchor generated and kept in Vault, as Pulumi components.

The walkthrough's nouns, each a ``ComponentResource`` taking ``(name, args, opts)`` and the providers of
``opts`` (none builds a provider of its own):

- ``VaultPki``: the PKI mount, its anchors (generated in Vault, their keys never leave it) and the
  least-privilege credentials of the clusters that sign with them;
- ``IdentityIssuer``: cert-manager's ClusterIssuer on Vault and Linkerd's identity issuer Certificate;
- ``TrustBundle``: the anchors, distributed by trust-manager into Linkerd's namespace;
- ``CertManager`` / ``ExistingCertManager``: cert-manager and trust-manager, installed or already running;
- ``LinkerdControlPlane``: Linkerd's CRDs and control plane on the external issuer;
- ``VaultDevServer``, ``K3dCluster``, ``local_network``: the laptop's Vault dev container and k3d cluster.

and the value types their Args take (``Duration``, ``Secret``, ``Pulls``, ``CredentialSettings``,
``Consumer``, ``KubernetesApi``, the credentials ``TokenLogin``, ``AppRoleLogin``, ``KubernetesLogin``).
Names resolve when first used, so that ``linkerd_vault_pki.versions`` (or ``x509``) imports without the
Pulumi SDKs, and a program that uses no Docker resource does not load pulumi-docker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it.
_EXPORTS = {
    "VaultPki": "vault_pki",
    "VaultPkiArgs": "vault_pki",
    "AnchorSpec": "vault_pki",
    "TrustAnchor": "vault_pki",
    "ReviewedCluster": "vault_credentials",
    "VaultCredential": "credential",
    "TokenLogin": "credential",
    "AppRoleLogin": "credential",
    "KubernetesLogin": "credential",
    "IdentityIssuer": "issuer",
    "IdentityIssuerArgs": "issuer",
    "TrustBundle": "trust_bundle",
    "TrustBundleArgs": "trust_bundle",
    "CertManager": "cert_manager",
    "CertManagerArgs": "cert_manager",
    "ExistingCertManager": "cert_manager",
    "ExistingCertManagerArgs": "cert_manager",
    "LinkerdControlPlane": "linkerd",
    "LinkerdControlPlaneArgs": "linkerd",
    "linkerd_namespace": "linkerd",
    "VaultDevServer": "vault_server",
    "VaultDevServerArgs": "vault_server",
    "K3dCluster": "cluster",
    "K3dClusterArgs": "cluster",
    "local_network": "network",
    "Duration": "values",
    "Secret": "values",
    "Pulls": "pulls",
    "CredentialSettings": "vault_access",
    "Consumer": "vault_access",
    "KubernetesApi": "vault_access",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # what a type checker and an editor see (the same names: a test); at run time, __getattr__
    from linkerd_vault_pki.cert_manager import (
        CertManager,
        CertManagerArgs,
        ExistingCertManager,
        ExistingCertManagerArgs,
    )
    from linkerd_vault_pki.cluster import K3dCluster, K3dClusterArgs
    from linkerd_vault_pki.credential import AppRoleLogin, KubernetesLogin, TokenLogin, VaultCredential
    from linkerd_vault_pki.issuer import IdentityIssuer, IdentityIssuerArgs
    from linkerd_vault_pki.linkerd import LinkerdControlPlane, LinkerdControlPlaneArgs, linkerd_namespace
    from linkerd_vault_pki.network import local_network
    from linkerd_vault_pki.pulls import Pulls
    from linkerd_vault_pki.trust_bundle import TrustBundle, TrustBundleArgs
    from linkerd_vault_pki.values import Duration, Secret
    from linkerd_vault_pki.vault_access import Consumer, CredentialSettings, KubernetesApi
    from linkerd_vault_pki.vault_credentials import ReviewedCluster
    from linkerd_vault_pki.vault_pki import AnchorSpec, TrustAnchor, VaultPki, VaultPkiArgs
    from linkerd_vault_pki.vault_server import VaultDevServer, VaultDevServerArgs


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'linkerd_vault_pki' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"linkerd_vault_pki.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
