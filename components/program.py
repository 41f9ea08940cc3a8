"""The whole stack as one dependency graph: providers, components, outputs.

``run`` is the program; ``__main__.py`` calls it with the validated config, and
tests call it under mocks (and inline, under the real engine) the same way.

Each provider SDK costs 25-300 ms to import, at every preview and up, so each
is imported where its resources are made: Vault's only by a stack that makes
the Vault side (a cluster-only stack never imports it), Docker's (the
laptop's Vault and network) and Command's (k3d) only by a stack that makes
those, Kubernetes' only by a stack with a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi

from components import vault_side
from components.credential import VaultCredential
from components.vault_side import VaultSide
from lib import rotation, vault_access, versions, x509
from lib.config import ClusterTarget, ConfigError, StackConfig
from lib.rotation import Rotation

if TYPE_CHECKING:
    import pulumi_vault as vault

    from components.vault_pki import TrustAnchor, VaultPki


@dataclass
class VaultEndpoint:
    address: pulumi.Output[str]  # where Pulumi (the operator's machine) reaches Vault
    cluster_address: pulumi.Output[str]  # where the cluster's workloads reach it


def vault_provider(endpoint: VaultEndpoint, cfg: StackConfig) -> vault.Provider:
    """A Vault provider that never calls Vault while it is being configured.

    A first preview runs before the dev container exists: the address is still
    unknown then, and the provider must neither mint a child token nor ask for
    the server version (docs/design.md, "Preview on an empty stack").
    """
    import pulumi_vault as vault

    return vault.Provider(
        "vault",
        address=endpoint.address,
        token=cfg.vault.token.output(),
        skip_child_token=True,
        skip_get_vault_version=True,
        vault_version_override=versions.VAULT_VERSION,
        namespace=cfg.vault.namespace,
    )


def deployed_rotation() -> Rotation | None:
    """The anchors and signer the stack's last `up` deployed: its own ``anchorRotation`` output.

    Read with the engine's built-in ``readStackOutputs`` (what a StackReference reads), synchronously,
    so that a step that would break the mesh stops the program before anything is registered.
    """
    me = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    try:
        result = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": me})
    except Exception:
        # The SDK fails the run on a failed invoke whatever is caught here (no retry is possible): say why.
        pulumi.log.error(
            "could not read what this stack's last `up` deployed, which the anchor rotation check needs; run "
            "the command again. On a file:// backend of your own, add ?metadata=skip to its URL: without it the "
            "engine rewrites a state metadata file in place, and a read at that moment finds it empty (EOF)"
        )
        raise
    outputs = (result.value or {}).get("outputs") or {}
    return Rotation.from_output(outputs.get(rotation.OUTPUT))


def check_rotation(cfg: StackConfig) -> str:
    """The rotation phase this `up` carries out; raises ConfigError for a step that breaks the mesh."""
    wanted = Rotation(cfg.pki.anchors, cfg.pki.signing_anchor)
    deployed = deployed_rotation()
    problems = rotation.problems(deployed, wanted)
    if problems:
        raise ConfigError(problems)
    return rotation.phase(deployed, wanted)


def run(cfg: StackConfig) -> None:
    for warning in cfg.warnings:
        pulumi.log.warn(warning)
    # A rotation step that would break the mesh stops the program here, before anything is registered.
    if cfg.vault_side.creates:
        phase = check_rotation(cfg)
        if phase not in ("first", "none"):
            pulumi.log.info(
                f'anchor rotation: this update is the {phase} phase (docs/operations.md, "Rotating the trust anchor")'
            )
    else:
        consume = vault_side.referenced if cfg.vault_side.source == "reference" else vault_side.provided
        side = consume(cfg, deployed_rotation())
        export_consumed_vault_side(side, cfg)
    network = None
    if cfg.needs_docker_network:
        from components.network import local_network

        network = local_network("local-network", cfg.cluster.network)
    if cfg.vault_side.creates:
        side = create_vault_side(cfg, network)
    facts = {}
    for target in cfg.clusters:
        facts[target.key] = cluster_side(cfg, target, side, network)
    if cfg.listed:
        export_listed_clusters(facts, side)
    elif facts:
        export_cluster(facts[""], side.credentials[""])


def create_vault_side(cfg: StackConfig, network) -> VaultSide:
    """The mount, anchors, policy and credentials, made by this stack (and a Vault dev server, on a laptop)."""
    from components.vault_pki import VaultPki, VaultPkiArgs

    if cfg.vault.mode == "docker":
        from components.vault_server import VaultDevServer, VaultDevServerArgs

        server = VaultDevServer(
            "vault-dev",
            VaultDevServerArgs(
                network=network.name, root_token=cfg.vault.token.output(), host_port=cfg.vault.host_port
            ),
        )
        address = server.address
        cluster_address = server.cluster_address
    else:
        address = pulumi.Output.from_input(cfg.vault.address)
        cluster_address = address
    if cfg.vault.cluster_address:
        cluster_address = pulumi.Output.from_input(cfg.vault.cluster_address)
    endpoint = VaultEndpoint(address=address, cluster_address=cluster_address)

    pki = VaultPki(
        "linkerd-pki",
        VaultPkiArgs(
            pki_path=cfg.vault.pki_path,
            max_lease_ttl_seconds=cfg.vault.max_lease_ttl.seconds,
            cluster_address=endpoint.cluster_address,
            pki=cfg.pki,
            credential=cfg.credential,
            clusters=cfg.credential_keys,
        ),
        opts=pulumi.ResourceOptions(providers={"vault": vault_provider(endpoint, cfg)}),
    )
    export_vault_side(endpoint, pki, cfg)
    return VaultSide(
        source="create",
        cluster_address=endpoint.cluster_address,
        sign_path=pki.sign_path,
        anchors={a.name: a.pem for a in pki.anchors.values()},
        pki=cfg.pki,
        credentials=pki.credentials,
    )


@dataclass
class ClusterFacts:
    """What a cluster's part of the stack tells its operator (and another tool installing Linkerd)."""

    issuer: pulumi.Output[str]
    namespace: pulumi.Output[str]
    bundle: pulumi.Output[str]
    certificate: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    vault_server: pulumi.Output[str]  # where its cert-manager reaches Vault


def cluster_side(cfg: StackConfig, target: ClusterTarget, side: VaultSide, network) -> ClusterFacts:
    """One cluster (k3d, or one given), cert-manager, Linkerd's identity and Linkerd.

    A listed cluster's resources are named after it (``<name>-...``); the stack's one cluster keeps the
    plain names.
    """
    import pulumi_kubernetes as k8s

    from components.cert_manager import CertManager, CertManagerArgs, ExistingCertManager, ExistingCertManagerArgs
    from components.identity import LinkerdIdentity, LinkerdIdentityArgs
    from components.linkerd import LinkerdControlPlane, LinkerdControlPlaneArgs, linkerd_namespace

    prefix = f"{target.key}-" if target.key else ""
    cluster_cfg = target.cluster
    if cluster_cfg.mode == "k3d":
        from components.cluster import K3dCluster, K3dClusterArgs

        cluster = K3dCluster(
            f"{prefix}k3d",
            K3dClusterArgs(
                cluster_name=cluster_cfg.name,
                network=network.name,
                api_port=cluster_cfg.api_port,
                k3s_image=cluster_cfg.k3s_image,
            ),
        )
        kubeconfig = cluster.kubeconfig
    else:
        kubeconfig = cluster_cfg.kubeconfig.output()
    kubernetes = k8s.Provider(f"{prefix}kubernetes", kubeconfig=kubeconfig, context=cluster_cfg.context)
    on_cluster = pulumi.ResourceOptions(providers={"kubernetes": kubernetes})

    if target.cert_manager.install:
        cert_manager = CertManager(
            f"{prefix}cert-manager", CertManagerArgs(namespace=target.cert_manager.namespace), opts=on_cluster
        )
    else:
        cert_manager = ExistingCertManager(
            f"{prefix}cert-manager", ExistingCertManagerArgs(namespace=target.cert_manager.namespace), opts=on_cluster
        )
    # Nothing of ours lands on a cluster whose cert-manager or trust-manager is missing.
    namespace = linkerd_namespace(
        f"{prefix}linkerd-namespace", opts=on_cluster.merge(pulumi.ResourceOptions(depends_on=[cert_manager]))
    )
    vault_server = (
        pulumi.Output.from_input(target.vault_cluster_address) if target.vault_cluster_address else side.cluster_address
    )
    identity = LinkerdIdentity(
        f"{prefix}linkerd-identity",
        LinkerdIdentityArgs(
            cert_manager=cert_manager,
            linkerd_namespace=namespace,
            vault_server=vault_server,
            sign_path=side.sign_path,
            anchor_pems=side.anchors,
            pki=side.pki,
            credential=side.credentials[target.key],
            vault_ca_bundle_pem=cfg.vault.ca_bundle_pem,
            vault_namespace=cfg.vault.namespace,
            ready_timeout_seconds=target.cert_manager.ready_timeout.seconds,
        ),
        opts=on_cluster,
    )
    if target.linkerd.install:
        LinkerdControlPlane(
            f"{prefix}linkerd",
            LinkerdControlPlaneArgs(
                namespace=namespace.metadata.name,
                install_gateway_api=target.linkerd.install_gateway_api,
                wait_for=identity,
            ),
            opts=on_cluster,
        )
    return ClusterFacts(
        issuer=identity.issuer_name,
        namespace=namespace.metadata.name,
        bundle=identity.bundle_name,
        certificate=identity.certificate_name,
        kubeconfig=pulumi.Output.secret(kubeconfig),
        vault_server=vault_server,
    )


def export_cluster(facts: ClusterFacts, credential: VaultCredential) -> None:
    """The stack's one cluster: flat outputs."""
    from components.linkerd import control_plane_values

    pulumi.export("clusterIssuer", facts.issuer)
    # What a Linkerd installed by another tool (Argo CD, Flux, the linkerd CLI) must be given.
    pulumi.export("linkerdNamespace", facts.namespace)
    pulumi.export("linkerdIdentityValues", control_plane_values())
    pulumi.export("trustRootsConfigMap", facts.bundle)
    pulumi.export("issuerSecret", facts.certificate)
    pulumi.export("kubeconfig", facts.kubeconfig)


def export_listed_clusters(facts: dict[str, ClusterFacts], side: VaultSide) -> None:
    """Listed clusters: ``clusters`` (plain facts by name) and ``clusterSecrets`` (kubeconfig, credential)."""
    from components.linkerd import control_plane_values

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
        }
        secret[key] = {"kubeconfig": f.kubeconfig, **credential.secrets()}
    pulumi.export("clusters", plain)
    pulumi.export("clusterSecrets", pulumi.Output.secret(secret))
    pulumi.export("linkerdIdentityValues", control_plane_values())


def export_requirements(sign_path: pulumi.Input[str], cfg: StackConfig) -> None:
    """What a Vault made by hand must hold for this stack's cert-manager: the hand-off to a security team."""
    login_ttl = cfg.credential.approle_token_ttl if cfg.credential.kind == "approle" else cfg.credential.token_ttl
    pulumi.export(
        "vaultRequirements",
        pulumi.Output.from_input(sign_path).apply(
            lambda path: vault_access.requirements(
                path, cfg.credential.kind, cfg.pki.issuer_duration.seconds, login_ttl.seconds
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
    pulumi.export("credentialKind", "approle" if "appRole" in side.credentials[""].auth() else "token")
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
    # Read back by the next run (lib/rotation.py): what this `up` deployed.
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
        pulumi.export("consumerSecrets", pulumi.Output.secret({key: c.secrets() for key, c in pki.credentials.items()}))
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
