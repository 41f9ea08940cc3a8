"""The whole stack as one dependency graph: providers, components, outputs.

``run`` is the program; ``__main__.py`` calls it with the validated config, and
tests call it under mocks (and inline, under the real engine) the same way.

Each provider SDK costs 25-300 ms to import, at every preview and up. Only
the Vault side is in every stack, so the modules of Docker (the laptop's
Vault and network), k3d and Kubernetes are imported where their resources are
made, and a stack that makes none of them never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_vault as vault

from components.vault_pki import AppRoleLogin, TrustAnchor, VaultCredential, VaultPki, VaultPkiArgs
from lib import rotation, versions, x509
from lib.config import ClusterTarget, ConfigError, StackConfig
from lib.rotation import Rotation


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
    phase = check_rotation(cfg)
    for warning in cfg.warnings:
        pulumi.log.warn(warning)
    if phase not in ("first", "none"):
        pulumi.log.info(f'anchor rotation: this update is the {phase} phase (README, "Rotating the trust anchor")')
    network = None
    if cfg.needs_docker_network:
        from components.cluster import local_network

        network = local_network("local-network", cfg.cluster.network)

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
            clusters={t.key: t.secret_id_version for t in cfg.clusters} or {"": cfg.credential.secret_id_version},
        ),
        opts=pulumi.ResourceOptions(providers={"vault": vault_provider(endpoint, cfg)}),
    )
    export_vault_side(endpoint, pki, cfg)
    facts = {}
    for target in cfg.clusters:
        facts[target.key] = cluster_side(cfg, target, endpoint, pki, network)
    if cfg.listed:
        export_listed_clusters(facts, pki)
    elif facts:
        export_cluster(facts[""], pki.credentials[""])


@dataclass
class ClusterFacts:
    """What a cluster's part of the stack tells its operator (and another tool installing Linkerd)."""

    issuer: pulumi.Output[str]
    namespace: pulumi.Output[str]
    bundle: pulumi.Output[str]
    certificate: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    vault_server: pulumi.Output[str]  # where its cert-manager reaches Vault


def cluster_side(
    cfg: StackConfig, target: ClusterTarget, endpoint: VaultEndpoint, pki: VaultPki, network
) -> ClusterFacts:
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
        pulumi.Output.from_input(target.vault_cluster_address)
        if target.vault_cluster_address
        else endpoint.cluster_address
    )
    identity = LinkerdIdentity(
        f"{prefix}linkerd-identity",
        LinkerdIdentityArgs(
            cert_manager=cert_manager,
            linkerd_namespace=namespace,
            vault_server=vault_server,
            sign_path=pki.sign_path,
            anchor_pems={a.name: a.pem for a in pki.anchors.values()},
            pki=cfg.pki,
            credential=pki.credentials[target.key],
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


def export_listed_clusters(facts: dict[str, ClusterFacts], pki: VaultPki) -> None:
    """Listed clusters: ``clusters`` (plain facts by name) and ``clusterSecrets`` (kubeconfig, credential)."""
    from components.linkerd import control_plane_values

    plain, secret = {}, {}
    for key, f in facts.items():
        credential = pki.credentials[key]
        plain[key] = {
            "clusterIssuer": f.issuer,
            "linkerdNamespace": f.namespace,
            "trustRootsConfigMap": f.bundle,
            "issuerSecret": f.certificate,
            "vaultClusterAddress": f.vault_server,
            **credential_facts(credential),
        }
        secret[key] = {"kubeconfig": f.kubeconfig, **credential_secrets(credential)}
    pulumi.export("clusters", plain)
    pulumi.export("clusterSecrets", pulumi.Output.secret(secret))
    pulumi.export("linkerdIdentityValues", control_plane_values())


def credential_facts(credential: VaultCredential) -> dict[str, pulumi.Output[str]]:
    if isinstance(credential, AppRoleLogin):
        return {"approleMount": credential.mount, "approleRoleId": credential.role_id}
    return {"vaultTokenExpiresAt": credential.expires_at}


def credential_secrets(credential: VaultCredential) -> dict[str, pulumi.Output[str]]:
    if isinstance(credential, AppRoleLogin):
        return {"approleSecretId": credential.secret_id}
    return {"vaultToken": credential.token}


def export_vault_side(endpoint: VaultEndpoint, pki: VaultPki, cfg: StackConfig) -> None:
    """What the cluster side (or another stack) consumes from Vault's side."""
    pulumi.export("vaultAddress", endpoint.address)
    pulumi.export("vaultClusterAddress", endpoint.cluster_address)
    pulumi.export("pkiMountPath", pki.mount_path)
    pulumi.export("signPath", pki.sign_path)
    pulumi.export("signerPolicy", pki.policy_name)
    # Read back by the next run (lib/rotation.py): what this `up` deployed.
    pulumi.export(rotation.OUTPUT, Rotation(cfg.pki.anchors, cfg.pki.signing_anchor).as_output())
    pulumi.export(
        "trustAnchors",
        {a.name: anchor_output(a, a is pki.signing) for a in pki.anchors.values()},
    )
    signing = pki.signing.facts
    pulumi.export("trustAnchorPem", pki.signing.pem)
    pulumi.export("trustAnchorSha256", signing.apply(lambda f: f.sha256_fingerprint))
    pulumi.export("trustAnchorNotAfter", signing.apply(lambda f: f.not_after))
    for anchor in pki.anchors.values():
        kept_as_generated(anchor, cfg)
    credentials = pki.credentials
    pulumi.export("credentialKind", cfg.credential.kind)
    if cfg.listed:
        return
    credential = credentials[""]
    if isinstance(credential, AppRoleLogin):
        pulumi.export("approleMount", credential.mount)
        pulumi.export("approleRoleId", credential.role_id)
        pulumi.export("approleSecretId", credential.secret_id)
    else:
        pulumi.export("vaultToken", credential.token)
        pulumi.export("vaultTokenExpiresAt", credential.expires_at)


def anchor_output(anchor: TrustAnchor, signing: bool) -> pulumi.Output[dict]:
    """An anchor's fingerprint, expiry and PEM, and whether it signs the identity issuer."""

    def describe(v: list) -> dict:
        pem, facts = v
        return {"sha256": facts.sha256_fingerprint, "notAfter": facts.not_after, "signing": signing, "pem": pem}

    return pulumi.Output.all(anchor.pem, anchor.facts).apply(describe)


# Vault backdates notBefore (30 s by default): a lifetime this close to anchorTtl is anchorTtl.
_LIFETIME_SLACK_SECONDS = 300


def kept_as_generated(anchor: TrustAnchor, cfg: StackConfig) -> None:
    """Warn when the config describes anchors other than this one was generated as: it is kept as it is."""

    def compare(facts: x509.AnchorFacts) -> None:
        later = f"applies to anchors generated from now on; {anchor.name} keeps"
        how = '(rotating to a new anchor applies it: README, "Rotating the trust anchor")'
        if facts.subject_common_name != cfg.pki.anchor_common_name:
            pulumi.log.warn(f"anchorCommonName: {cfg.pki.anchor_common_name} {later} {facts.subject_common_name} {how}")
        if abs(facts.lifetime_seconds - cfg.pki.anchor_ttl.seconds) > _LIFETIME_SLACK_SECONDS:
            pulumi.log.warn(f"anchorTtl: {cfg.pki.anchor_ttl.text} {later} its lifetime, until {facts.not_after} {how}")

    anchor.facts.apply(compare)  # not run in a preview of an anchor not generated yet (its PEM is unknown)
