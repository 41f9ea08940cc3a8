"""The package as a Pulumi plugin: its cluster-side components for programs in any Pulumi language.

``python -m linkerd_vault_pki.provider`` serves them with the Python SDK's component provider host
(``pulumi.provider.experimental.component_provider_host``), which reads each component's schema from the
type annotations of its ``args`` and its outputs. The repository's ``provider/`` folder (``PulumiPlugin.yaml``,
and a ``__main__.py`` that runs this module's ``main``) is the plugin: ``pulumi package add`` of that folder
gives a TypeScript, Go, YAML, C# or Java program the package under its name, ``linkerd-vault-pki``.

Exposed, each as the library's own component (a subclass that takes its inputs as the schema has them):

- ``ExistingCertManager`` and ``CertManager``: cert-manager and trust-manager, found or installed;
- ``IdentityIssuer``: the credential, the ClusterIssuer on Vault and Linkerd's identity issuer Certificate;
- ``TrustBundle``: the anchors' ConfigMap and trust-manager's Bundle into Linkerd's namespace.

Not exposed, and why: ``VaultPki`` (its outputs are credentials of three kinds, each with its own secret and
facts, which the schema has no union for; another language reads them from a Vault-only stack's outputs, as a
cluster-only stack does), ``LinkerdControlPlane`` (it waits for resources given as a list, and takes the
mirror's pulls, neither of which an input type can carry; another language installs Linkerd's charts with
``kubernetes:helm.sh/v3:Release`` on the outputs above), ``VaultDevServer``, ``K3dCluster`` and
``local_network`` (the laptop's own pieces: the stack makes them, a platform program has its own Vault and
clusters).

This module has no ``from __future__ import annotations``: the host reads the annotations as types.
"""

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi

from linkerd_vault_pki import cert_manager, credential, issuer, names, trust_bundle, values

# The plugin's name: the package of every type token it serves (``linkerd-vault-pki:index:<Component>``).
PACKAGE = "linkerd-vault-pki"
INDEX = f"{PACKAGE}:index"


def given(args: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """The inputs of ``keys`` the program set: the library's Args keep their own defaults for the rest."""
    return {key: args[key] for key in keys if args.get(key) is not None}


def duration(value: str, key: str) -> values.Duration:
    try:
        return values.Duration.parse(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


class ExistingCertManagerArgs(TypedDict):
    namespace: NotRequired[str]
    """cert-manager's cluster resource namespace, also trust-manager's trust namespace (default cert-manager)."""


class ExistingCertManager(cert_manager.ExistingCertManager):
    """cert-manager and trust-manager that the cluster runs already: their CRDs, read, not owned."""

    TYPE = f"{INDEX}:ExistingCertManager"

    namespace: pulumi.Output[str]
    """cert-manager's namespace, once its CRDs and trust-manager's are found: pass it on to IdentityIssuer."""
    trust_namespace: pulumi.Output[str]
    """trust-manager's trust namespace, once found: pass it on to TrustBundle."""

    def __init__(self, name: str, args: ExistingCertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, cert_manager.ExistingCertManagerArgs(**given(args, "namespace")), opts)


class CertManagerArgs(TypedDict):
    namespace: NotRequired[str]
    """Where both releases go (default ``cert-manager``)."""
    timeout_seconds: NotRequired[int]
    """How long each release may take to become ready (default 600)."""


class CertManager(cert_manager.CertManager):
    """cert-manager (its CRDs kept on uninstall) and trust-manager, from their pinned charts."""

    TYPE = f"{INDEX}:CertManager"

    namespace: pulumi.Output[str]
    """cert-manager's namespace, once both releases are ready: pass it on to IdentityIssuer."""
    trust_namespace: pulumi.Output[str]
    """trust-manager's trust namespace, once both releases are ready: pass it on to TrustBundle."""

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, cert_manager.CertManagerArgs(**given(args, "namespace", "timeout_seconds")), opts)


class AppRoleArgs(TypedDict):
    mount: pulumi.Input[str]
    """The AppRole auth mount path."""
    role_id: pulumi.Input[str]
    """The role's id."""
    secret_id: pulumi.Input[str]
    """The role's secret_id (kept a secret)."""


class KubernetesAuthArgs(TypedDict):
    mount: pulumi.Input[str]
    """The cluster's Kubernetes auth mount path."""
    role: pulumi.Input[str]
    """The role bound to the ServiceAccount cert-manager requests tokens for."""
    namespace: str
    """The one namespace the role binds: where cert-manager runs."""


class IdentityIssuerArgs(TypedDict):
    cert_manager_namespace: pulumi.Input[str]
    """cert-manager's namespace, as CertManager or ExistingCertManager output it (so the issuer waits for it)."""
    linkerd_namespace: pulumi.Input[str]
    """Linkerd's namespace (its name, once it exists): where the identity issuer Certificate goes."""
    vault_server: pulumi.Input[str]
    """The address the cluster's cert-manager reaches Vault at."""
    sign_path: pulumi.Input[str]
    """``<mount>/issuer/<signing anchor>/sign-intermediate``: the one path the credential may use."""
    signing_anchor: str
    """The anchor that signs: it names the ClusterIssuer."""
    vault_token: NotRequired[pulumi.Input[str]]
    """A Vault token with the signing policy (kept a secret). Exactly one of vaultToken, appRole, kubernetes."""
    app_role: NotRequired[AppRoleArgs]
    """An AppRole login. Exactly one of vaultToken, appRole, kubernetes."""
    kubernetes: NotRequired[KubernetesAuthArgs]
    """A Kubernetes auth login (nothing stored). Exactly one of vaultToken, appRole, kubernetes."""
    duration: NotRequired[str]
    """The issuer's lifetime (default 48h)."""
    renew_before: NotRequired[str]
    """How long before its expiry cert-manager renews it (default 25h)."""
    vault_ca_bundle_pem: NotRequired[str]
    """PEM CA certificates that verify Vault's TLS certificate."""
    vault_namespace: NotRequired[str]
    """The Vault Enterprise / OpenBao namespace of the mount."""
    ready_timeout_seconds: NotRequired[int]
    """How long `up` waits for the ClusterIssuer and the Certificate to be Ready (default 600)."""


def login(args: IdentityIssuerArgs) -> credential.VaultCredential:
    """The one credential of ``args``; a clear error naming the inputs when there is none, or more than one."""
    chosen = [key for key in ("vault_token", "app_role", "kubernetes") if args.get(key) is not None]
    if len(chosen) != 1:
        found = ", ".join(chosen) or "none"
        raise ValueError(f"IdentityIssuer takes exactly one of vaultToken, appRole, kubernetes (given: {found})")
    if "vault_token" in chosen:
        return credential.TokenLogin(token=pulumi.Output.secret(args["vault_token"]), expires_at="")
    if "app_role" in chosen:
        role = args["app_role"]
        return credential.AppRoleLogin(
            mount=role["mount"], role_id=role["role_id"], secret_id=pulumi.Output.secret(role["secret_id"])
        )
    auth = args["kubernetes"]
    return credential.KubernetesLogin(mount=auth["mount"], role=auth["role"], namespace=auth["namespace"])


class IdentityIssuer(issuer.IdentityIssuer):
    """The credential Secret, the ClusterIssuer on Vault and Linkerd's identity issuer Certificate."""

    TYPE = f"{INDEX}:IdentityIssuer"

    issuer_name: pulumi.Output[str]
    """The ClusterIssuer's name, once it is Ready."""
    certificate_name: pulumi.Output[str]
    """The identity issuer Certificate's name, once it is Ready."""

    def __init__(self, name: str, args: IdentityIssuerArgs, opts: pulumi.ResourceOptions | None = None):
        built = issuer.IdentityIssuerArgs(
            cert_manager_namespace=args["cert_manager_namespace"],
            linkerd_namespace=args["linkerd_namespace"],
            vault_server=args["vault_server"],
            sign_path=args["sign_path"],
            signing_anchor=args["signing_anchor"],
            credential=login(args),
            duration=duration(args.get("duration") or names.ISSUER_DURATION, "duration"),
            renew_before=duration(args.get("renew_before") or names.ISSUER_RENEW_BEFORE, "renewBefore"),
            **given(args, "vault_ca_bundle_pem", "vault_namespace", "ready_timeout_seconds"),
        )
        if built.renew_before.seconds >= built.duration.seconds:
            raise ValueError(f"renewBefore ({built.renew_before.text}) must be shorter than duration")
        super().__init__(name, built, opts)


class TrustBundleArgs(TypedDict):
    trust_namespace: pulumi.Input[str]
    """trust-manager's trust namespace, as CertManager or ExistingCertManager output it."""
    linkerd_namespace: pulumi.Input[str]
    """Linkerd's namespace (its name, once it exists): the Bundle targets it by label."""
    anchor_pems: dict[str, pulumi.Input[str]]
    """Every anchor's public certificate by name: the sources of the trust bundle."""
    previous_anchor_pem: NotRequired[str]
    """An anchor from outside the mount (a mesh migrating here), kept in the bundle."""
    ready_timeout_seconds: NotRequired[int]
    """How long `up` waits for the Bundle to be Synced (default 600)."""


class TrustBundle(trust_bundle.TrustBundle):
    """The anchors' ConfigMap and the Bundle trust-manager writes into Linkerd's namespace."""

    TYPE = f"{INDEX}:TrustBundle"

    bundle_name: pulumi.Output[str]
    """The Bundle's name, once it is Synced."""
    roots_digest: pulumi.Output[str]
    """The digest of the anchor set, once trust-manager has written it (Linkerd's pods carry it)."""

    def __init__(self, name: str, args: TrustBundleArgs, opts: pulumi.ResourceOptions | None = None):
        if not args.get("anchor_pems"):
            raise ValueError("TrustBundle: anchorPems needs at least one anchor's PEM")
        built = trust_bundle.TrustBundleArgs(
            trust_namespace=args["trust_namespace"],
            linkerd_namespace=args["linkerd_namespace"],
            anchor_pems=dict(args["anchor_pems"]),
            **given(args, "previous_anchor_pem", "ready_timeout_seconds"),
        )
        super().__init__(name, built, opts)


COMPONENTS = [ExistingCertManager, CertManager, IdentityIssuer, TrustBundle]


def main() -> None:
    from importlib.metadata import version

    from pulumi.provider.experimental import component_provider_host

    component_provider_host(COMPONENTS, name=PACKAGE, version=version("linkerd-vault-pki"))


if __name__ == "__main__":
    main()
