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

from components.vault_pki import AppRoleLogin, VaultPki, VaultPkiArgs
from lib import versions, x509
from lib.config import StackConfig


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


def run(cfg: StackConfig) -> None:
    for warning in cfg.warnings:
        pulumi.log.warn(warning)
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
        ),
        opts=pulumi.ResourceOptions(providers={"vault": vault_provider(endpoint, cfg)}),
    )
    export_vault_side(endpoint, pki)
    if cfg.has_cluster:
        cluster_side(cfg, endpoint, pki, network)


def cluster_side(cfg: StackConfig, endpoint: VaultEndpoint, pki: VaultPki, network) -> None:
    """The cluster (k3d, or the one given), cert-manager, Linkerd's identity and Linkerd."""
    import pulumi_kubernetes as k8s

    from components.cert_manager import CertManager, CertManagerArgs, ExistingCertManager, ExistingCertManagerArgs
    from components.identity import LinkerdIdentity, LinkerdIdentityArgs
    from components.linkerd import LinkerdControlPlane, LinkerdControlPlaneArgs, control_plane_values, linkerd_namespace

    if cfg.cluster.mode == "k3d":
        from components.cluster import K3dCluster, K3dClusterArgs

        cluster = K3dCluster(
            "k3d",
            K3dClusterArgs(
                cluster_name=cfg.cluster.name,
                network=network.name,
                api_port=cfg.cluster.api_port,
                k3s_image=cfg.cluster.k3s_image,
            ),
        )
        kubeconfig = cluster.kubeconfig
    else:
        kubeconfig = cfg.cluster.kubeconfig.output()
    kubernetes = k8s.Provider("kubernetes", kubeconfig=kubeconfig, context=cfg.cluster.context)
    on_cluster = pulumi.ResourceOptions(providers={"kubernetes": kubernetes})

    if cfg.cert_manager.install:
        cert_manager = CertManager(
            "cert-manager", CertManagerArgs(namespace=cfg.cert_manager.namespace), opts=on_cluster
        )
    else:
        cert_manager = ExistingCertManager(
            "cert-manager", ExistingCertManagerArgs(namespace=cfg.cert_manager.namespace), opts=on_cluster
        )
    # Nothing of ours lands on a cluster whose cert-manager or trust-manager is missing.
    namespace = linkerd_namespace(
        "linkerd-namespace", opts=on_cluster.merge(pulumi.ResourceOptions(depends_on=[cert_manager]))
    )
    identity = LinkerdIdentity(
        "linkerd-identity",
        LinkerdIdentityArgs(
            cert_manager=cert_manager,
            linkerd_namespace=namespace,
            vault_server=endpoint.cluster_address,
            sign_path=pki.sign_path,
            anchor_pem=pki.anchor_pem,
            pki=cfg.pki,
            credential=pki.credential,
            vault_ca_bundle_pem=cfg.vault.ca_bundle_pem,
            vault_namespace=cfg.vault.namespace,
            ready_timeout_seconds=cfg.cert_manager.ready_timeout.seconds,
        ),
        opts=on_cluster,
    )
    if cfg.linkerd.install:
        LinkerdControlPlane(
            "linkerd",
            LinkerdControlPlaneArgs(
                namespace=namespace.metadata.name,
                install_gateway_api=cfg.linkerd.install_gateway_api,
                wait_for=identity,
            ),
            opts=on_cluster,
        )

    pulumi.export("clusterIssuer", identity.issuer_name)
    # What a Linkerd installed by another tool (Argo CD, Flux, the linkerd CLI) must be given.
    pulumi.export("linkerdNamespace", namespace.metadata.name)
    pulumi.export("linkerdIdentityValues", control_plane_values())
    pulumi.export("trustRootsConfigMap", identity.bundle_name)
    pulumi.export("issuerSecret", identity.certificate_name)
    pulumi.export("kubeconfig", pulumi.Output.secret(kubeconfig))


def export_vault_side(endpoint: VaultEndpoint, pki: VaultPki) -> None:
    """What the cluster side (or another stack) consumes from Vault's side."""
    facts = pki.anchor_pem.apply(x509.anchor_facts)
    pulumi.export("vaultAddress", endpoint.address)
    pulumi.export("vaultClusterAddress", endpoint.cluster_address)
    pulumi.export("pkiMountPath", pki.mount_path)
    pulumi.export("signPath", pki.sign_path)
    pulumi.export("signerPolicy", pki.policy_name)
    pulumi.export("trustAnchorPem", pki.anchor_pem)
    pulumi.export("trustAnchorSha256", facts.apply(lambda f: f.sha256_fingerprint))
    pulumi.export("trustAnchorNotAfter", facts.apply(lambda f: f.not_after))
    credential = pki.credential
    pulumi.export("credentialKind", credential.kind)
    if isinstance(credential, AppRoleLogin):
        pulumi.export("approleMount", credential.mount)
        pulumi.export("approleRoleId", credential.role_id)
        pulumi.export("approleSecretId", credential.secret_id)
    else:
        pulumi.export("vaultToken", credential.token)
        pulumi.export("vaultTokenExpiresAt", credential.expires_at)
