"""What cert-manager needs of Vault, and nothing more: the policy, the login's settings, the mount's tuning.

One source for both ends: ``vault_pki.py`` makes exactly this when
the stack owns the Vault side, and a cluster-only stack outputs it as
``vaultRequirements`` for a security team that provisions Vault by hand
(docs/design.md, "Least privilege"; checked against OpenBao: ``update`` on the
sign path alone signs, no ``sudo``, no ``default`` policy, no lookup-self).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linkerd_vault_pki.names import VAULT_AUDIENCE, VAULT_SERVICE_ACCOUNT
from linkerd_vault_pki.values import Duration

SIGN_SUFFIX = "/sign-intermediate"


def signing_policy(sign_path: str) -> str:
    """The whole of what cert-manager may do in Vault: sign intermediates at one issuer's path."""
    return f'path "{sign_path}" {{\n  capabilities = ["update"]\n}}\n'


def policy_name(pki_path: str) -> str:
    return f"{pki_path.replace('/', '-')}-linkerd-issuer"


def mount_of(sign_path: str) -> str:
    """The PKI mount a sign path is under: ``pki`` of ``pki/issuer/a/sign-intermediate``."""
    head = sign_path[: -len(SIGN_SUFFIX)] if sign_path.endswith(SIGN_SUFFIX) else sign_path
    for marker in ("/issuer/", "/root"):
        if marker in head:
            return head.split(marker, 1)[0]
    return head


def approle_role(policy: Any, token_ttl_seconds: int) -> dict[str, Any]:
    """The AppRole role's settings: one policy, short-lived tokens, a secret_id rotated by its owner.

    Keyed as Vault's API and pulumi-vault's ``AuthBackendRole`` name them; ``policy`` is its name (an
    Output of it, in the program)."""
    return {
        "token_policies": [policy],
        "token_no_default_policy": True,
        "token_ttl": token_ttl_seconds,
        "token_max_ttl": token_ttl_seconds,
        "secret_id_ttl": 0,  # rotated on purpose (secretIdVersion), not by expiry
        "secret_id_num_uses": 0,
    }


def kubernetes_role(policy: Any, token_ttl_seconds: int, service_account: str, namespace: str) -> dict[str, Any]:
    """The Kubernetes auth role's settings: exactly one ServiceAccount in one namespace, one audience, one policy,
    short-lived tokens. Keyed as Vault's API and pulumi-vault's ``kubernetes.AuthBackendRole`` name them."""
    return {
        "bound_service_account_names": [service_account],
        "bound_service_account_namespaces": [namespace],
        "audience": VAULT_AUDIENCE,
        "token_policies": [policy],
        "token_no_default_policy": True,
        "token_ttl": token_ttl_seconds,
        "token_max_ttl": token_ttl_seconds,
    }


def kubernetes_config(host: Any, ca_pem: Any) -> dict[str, Any]:
    """The Kubernetes auth mount's config: the cluster's API server and its CA, and no reviewer token.

    Without ``token_reviewer_jwt`` Vault calls TokenReview with the login's own JWT (a 10-minute token
    cert-manager just requested), so nothing long-lived is stored in Vault or anywhere else; that token's
    ServiceAccount is bound to ``system:auth-delegator`` on the cluster for it. Vault does not run in the
    cluster, so it must not look for a pod's own token or CA (``disable_local_ca_jwt``)."""
    return {"kubernetes_host": host, "kubernetes_ca_cert": ca_pem, "disable_local_ca_jwt": True}


def orphan_token(policy: Any, ttl_seconds: int) -> dict[str, Any]:
    """The token's settings: one policy, no parent (it outlives whoever made it), renewable, bounded.

    Keyed as Vault's API and pulumi-vault's ``Token`` name them (the TTL as Vault writes one, ``<n>s``)."""
    return {
        "policies": [policy],
        "no_parent": True,
        "no_default_policy": True,
        "renewable": True,
        "ttl": f"{ttl_seconds}s",
        "num_uses": 0,
    }


def requirements(
    sign_path: str, credential: str, issuer_duration_seconds: int, login_ttl_seconds: int, namespace: str
) -> dict[str, Any]:
    """What a Vault provisioned by hand must hold for this stack's cert-manager: apply it as written.

    ``credential`` is approle, token or kubernetes; ``login_ttl_seconds`` the login's token TTL, or the token's;
    ``namespace`` where cert-manager's ServiceAccount for Vault lives (Kubernetes auth).
    """
    mount = mount_of(sign_path)
    policy = policy_name(mount)
    needs: dict[str, Any] = {
        "policy": {"name": policy, "hcl": signing_policy(sign_path)},
        # Nothing signed outlives the mount's max lease TTL: the identity issuer must fit under it.
        "mount": {"path": mount, "type": "pki", "minMaxLeaseTtlSeconds": issuer_duration_seconds},
    }
    if credential == "approle":
        needs["approleRole"] = approle_role(policy, login_ttl_seconds)
    elif credential == "kubernetes":
        needs["kubernetesRole"] = kubernetes_role(policy, login_ttl_seconds, VAULT_SERVICE_ACCOUNT, namespace)
        # The mount's config: the cluster's API server and CA, and no reviewer token (kubernetes_config).
        needs["kubernetesConfig"] = {"disable_local_ca_jwt": True, "token_reviewer_jwt": None}
    else:
        needs["token"] = orphan_token(policy, login_ttl_seconds)
    return needs


@dataclass(frozen=True)
class CredentialSettings:
    """How cert-manager's Vault credential is made: its kind, mounts, roles and token lifetimes."""

    kind: str
    token_ttl: Duration
    approle_mount: str
    approle_role: str
    approle_token_ttl: Duration
    secret_id_version: int = 1  # the top-level one: a listed cluster has its own
    kubernetes_mount: str = "linkerd-kubernetes"  # one Kubernetes auth mount a cluster: <mount>/<name> when listed
    kubernetes_role: str = "cert-manager"
    kubernetes_token_ttl: Duration = Duration("10m", 600)


@dataclass(frozen=True)
class KubernetesApi:
    """A cluster's API server as Vault reaches it, for Kubernetes auth's TokenReview."""

    host: str  # https://host[:port]
    ca_pem: str  # the CA that verifies its serving certificate
    namespace: str = "cert-manager"  # where cert-manager's ServiceAccount for Vault lives (the bound namespace)


@dataclass(frozen=True)
class Consumer:
    """A cluster stack that consumes a Vault-only stack, with a credential of its own."""

    name: str
    secret_id_version: int = 1
    kubernetes: KubernetesApi | None = None  # credential kubernetes: its cluster's API server
