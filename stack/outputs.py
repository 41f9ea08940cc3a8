"""The stack's outputs: what an operator, a cluster stack or another tool reads of this stack.

One function a kind of stack part: the Vault side this stack made, the Vault side a cluster-only stack
consumes, the one cluster or the listed ones. Every secret is exported as a Pulumi secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi

from linkerd_vault_pki import vault_access, x509
from linkerd_vault_pki.credential import VaultCredential
from stack import rotation
from stack.config import StackConfig
from stack.rotation import Rotation
from stack.vault_side import VaultEndpoint, VaultSide

if TYPE_CHECKING:
    from linkerd_vault_pki.vault_pki import TrustAnchor, VaultPki


@dataclass
class ClusterFacts:
    """What a cluster's part of the stack tells its operator (and another tool installing Linkerd)."""

    issuer: pulumi.Output[str]
    namespace: pulumi.Output[str]
    bundle: pulumi.Output[str]
    certificate: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    vault_server: pulumi.Output[str]  # where its cert-manager reaches Vault
    # Kubernetes auth: the ServiceAccount cert-manager logs in as and the one that requests its tokens
    # (`<namespace>/<name>` each), for `scripts/stack verify`; None for a credential stored in a Secret.
    vault_login: dict[str, str] | None = None


def export_cluster(facts: ClusterFacts, credential: VaultCredential) -> None:
    """The stack's one cluster: flat outputs."""
    from linkerd_vault_pki.linkerd import control_plane_values

    pulumi.export("clusterIssuer", facts.issuer)
    # What a Linkerd installed by another tool (Argo CD, Flux, the linkerd CLI) must be given.
    pulumi.export("linkerdNamespace", facts.namespace)
    pulumi.export("linkerdIdentityValues", control_plane_values())
    pulumi.export("trustRootsConfigMap", facts.bundle)
    pulumi.export("issuerSecret", facts.certificate)
    pulumi.export("kubeconfig", facts.kubeconfig)
    if facts.vault_login:
        pulumi.export("vaultLogin", facts.vault_login)


def export_listed_clusters(facts: dict[str, ClusterFacts], side: VaultSide) -> None:
    """Listed clusters: ``clusters`` (plain facts by name) and ``clusterSecrets`` (kubeconfig, credential)."""
    from linkerd_vault_pki.linkerd import control_plane_values

    plain, secret = {}, {}
    for key, f in facts.items():
        credential = side.credentials[key]
        plain[key] = {
            "clusterIssuer": f.issuer,
            "linkerdNamespace": f.namespace,
            "trustRootsConfigMap": f.bundle,
            "issuerSecret": f.certificate,
            "vaultClusterAddress": f.vault_server,
            **credential.facts(),
            **({"vaultLogin": f.vault_login} if f.vault_login else {}),
        }
        secret[key] = {"kubeconfig": f.kubeconfig, **credential.secrets()}
    pulumi.export("clusters", plain)
    pulumi.export("clusterSecrets", pulumi.Output.secret(secret))
    pulumi.export("linkerdIdentityValues", control_plane_values())


def export_requirements(sign_path: pulumi.Input[str], cfg: StackConfig) -> None:
    """What a Vault made by hand must hold for this stack's cert-manager: the hand-off to a security team."""
    cred = cfg.credential
    login_ttl = {"approle": cred.approle_token_ttl, "kubernetes": cred.kubernetes_token_ttl}.get(
        cred.kind, cred.token_ttl
    )
    pulumi.export(
        "vaultRequirements",
        pulumi.Output.from_input(sign_path).apply(
            lambda path: vault_access.requirements(
                path, cred.kind, cfg.pki.issuer_duration.seconds, login_ttl.seconds, cfg.cert_manager.namespace
            )
        ),
    )


def export_anchors(anchors: dict[str, pulumi.Output[str]], signing: str) -> None:
    """Each anchor's fingerprint, expiry and PEM; the signing one's also flat; what the rotation deployed."""
    facts = {name: pem.apply(x509.anchor_facts) for name, pem in anchors.items()}
    pulumi.export(
        "trustAnchors", {name: anchor_output(anchors[name], facts[name], name == signing) for name in anchors}
    )
    pulumi.export("trustAnchorPem", anchors[signing])
    pulumi.export("trustAnchorSha256", facts[signing].apply(lambda f: f.sha256_fingerprint))
    pulumi.export("trustAnchorNotAfter", facts[signing].apply(lambda f: f.not_after))


def export_consumed_vault_side(side: VaultSide, cfg: StackConfig) -> None:
    """A cluster-only stack's view of the Vault side: where it signs, what it trusts, what Vault must allow."""
    pulumi.export("vaultSide", side.source)
    pulumi.export("vaultClusterAddress", side.cluster_address)
    pulumi.export("signPath", side.sign_path)
    # Read back by the next run: the anchors this cluster's bundle carried, and which one signed.
    pulumi.export(rotation.OUTPUT, Rotation(side.pki.anchors, side.pki.signing_anchor).as_output())
    export_anchors(side.anchors, side.pki.signing_anchor)
    pulumi.export("credentialKind", side.credentials[""].KIND)
    if side.source == "provided":
        export_requirements(side.sign_path, cfg)


def export_vault_side(endpoint: VaultEndpoint, pki: VaultPki, cfg: StackConfig) -> None:
    """What the cluster side (or another stack) consumes from Vault's side."""
    pulumi.export("vaultSide", "create")
    pulumi.export("vaultAddress", endpoint.address)
    pulumi.export("vaultClusterAddress", endpoint.cluster_address)
    pulumi.export("pkiMountPath", pki.mount_path)
    pulumi.export("signPath", pki.sign_path)
    pulumi.export("signerPolicy", pki.policy_name)
    # Read back by the next run (stack/rotation.py): what this `up` deployed.
    pulumi.export(rotation.OUTPUT, Rotation(cfg.pki.anchors, cfg.pki.signing_anchor).as_output())
    export_anchors({a.name: a.pem for a in pki.anchors.values()}, pki.signing.name)
    for anchor in pki.anchors.values():
        kept_as_generated(anchor, cfg)
    export_requirements(pki.sign_path, cfg)
    pulumi.export("credentialKind", cfg.credential.kind)
    if cfg.listed:
        return
    if cfg.consumers:
        # A Vault-only stack's consumers: one credential each, revocable alone (docs/design.md, "Consumers").
        pulumi.export("consumers", {key: c.facts() for key, c in pki.credentials.items()})
        if any(c.SECRET_KEYS for c in pki.credentials.values()):  # Kubernetes auth has none
            pulumi.export(
                "consumerSecrets", pulumi.Output.secret({key: c.secrets() for key, c in pki.credentials.items()})
            )
        return
    credential = pki.credentials[""]
    for key, value in {**credential.facts(), **credential.secrets()}.items():
        pulumi.export(key, value)


def anchor_output(
    pem: pulumi.Output[str], facts: pulumi.Output[x509.AnchorFacts], signing: bool
) -> pulumi.Output[dict]:
    """An anchor's fingerprint, expiry and PEM, and whether it signs the identity issuer."""

    def describe(v: list) -> dict:
        pem, facts = v
        return {"sha256": facts.sha256_fingerprint, "notAfter": facts.not_after, "signing": signing, "pem": pem}

    return pulumi.Output.all(pem, facts).apply(describe)


# Vault backdates notBefore (30 s by default): a lifetime this close to anchorTtl is anchorTtl.
_LIFETIME_SLACK_SECONDS = 300


def kept_as_generated(anchor: TrustAnchor, cfg: StackConfig) -> None:
    """Warn when the config describes anchors other than this one was generated as: it is kept as it is."""

    def compare(facts: x509.AnchorFacts) -> None:
        later = f"applies to anchors generated from now on; {anchor.name} keeps"
        how = '(rotating to a new anchor applies it: docs/operations.md, "Rotating the trust anchor")'
        if facts.subject_common_name != cfg.pki.anchor_common_name:
            pulumi.log.warn(f"anchorCommonName: {cfg.pki.anchor_common_name} {later} {facts.subject_common_name} {how}")
        if abs(facts.lifetime_seconds - cfg.pki.anchor_ttl.seconds) > _LIFETIME_SLACK_SECONDS:
            pulumi.log.warn(f"anchorTtl: {cfg.pki.anchor_ttl.text} {later} its lifetime, until {facts.not_after} {how}")

    anchor.facts.apply(compare)  # not run in a preview of an anchor not generated yet (its PEM is unknown)
