"""The typed, frozen model of a stack's configuration: what `parse` returns, and its error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pulumi

from linkerd_vault_pki.pulls import Pulls
from linkerd_vault_pki.values import Duration, Secret
from linkerd_vault_pki.vault_access import Consumer, CredentialSettings, KubernetesApi
from stack import settings

# The settings that decide which others apply, in the order they decide each other, with their values (the
# table of settings says them once).
MODE_KEYS = {
    key: settings.BY_KEY[key].kind.values  # type: ignore[attr-defined] (each is a Choice)
    for key in ("clusterMode", "vaultSide", "vaultMode", "credential", "certManager", "linkerd")
}
CLUSTER_MODES = MODE_KEYS["clusterMode"]


BOOLEANS = {"true": True, "false": False}


class ConfigError(pulumi.RunError):
    """Bad stack configuration. A RunError ends the program without a traceback."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration:\n{lines}")


@dataclass(frozen=True)
class ClusterConfig:
    mode: str
    name: str
    network: str
    api_port: int
    kubeconfig: Secret | None
    context: str | None
    k3s_image: str


@dataclass(frozen=True)
class VaultConfig:
    mode: str
    token: Secret
    address: str | None
    cluster_address: str | None
    host_port: int
    pki_path: str
    max_lease_ttl: Duration
    ca_bundle_pem: str | None = None  # verifies an external Vault's TLS certificate
    namespace: str | None = None  # Vault Enterprise / OpenBao namespace
    # Pulumi `protect` on the mount and the signing anchor (deletionProtection; auto: all but the dev container).
    protect: bool = False


DEFAULT_ANCHOR = "linkerd-trust-anchor"


@dataclass(frozen=True)
class PkiConfig:
    anchor_common_name: str
    anchor_ttl: Duration
    anchor_key_type: str
    anchor_key_bits: int
    previous_anchor_pem: str | None
    issuer_duration: Duration
    issuer_renew_before: Duration
    # The anchors Vault holds in the mount (issuer names, oldest first), all in the trust bundle,
    # and the one that signs the identity issuer. A rotation is a change of these, one phase per `up`.
    anchors: tuple[str, ...]
    signing_anchor: str
    # The rotation's gates (linkerd_vault_pki/gates.py): enforce or override, and how long a workload certificate lives.
    anchor_expiry_lead: Duration | None  # None: a third of the signing anchor's lifetime
    expiry_alerts: bool  # prometheusRule: the PrometheusRule of linkerd_vault_pki/alerts.py on each cluster
    restart_workloads: bool  # restartMeshedWorkloads: linkerd_vault_pki/waves.py within the add and switch phases
    rotation_gates: str
    workload_cert_lifetime: Duration

    @property
    def expiry_lead_seconds(self) -> int | None:
        """anchorExpiryLead in seconds; None: the default, a third of the signing anchor's own lifetime."""
        return self.anchor_expiry_lead.seconds if self.anchor_expiry_lead else None


@dataclass(frozen=True)
class CertManagerConfig:
    install: bool  # False: the cluster runs cert-manager and trust-manager already
    # How long `up` waits for the ClusterIssuer and the Certificate to be Ready, the Bundle Synced.
    ready_timeout: Duration
    # cert-manager's cluster resource namespace (where a ClusterIssuer reads its Secret) and
    # trust-manager's trust namespace (where a Bundle reads its sources): one namespace.
    namespace: str
    # cert-manager's controller's ServiceAccount (in that namespace): the one allowed to request the token
    # of the ServiceAccount the Kubernetes auth credential logs in as.
    service_account: str


@dataclass(frozen=True)
class LinkerdConfig:
    install_gateway_api: bool
    install: bool  # False: another tool (Argo CD, Flux, the linkerd CLI) installs Linkerd


@dataclass(frozen=True)
class ClusterTarget:
    """One cluster the PKI serves: its own provider, Vault credential, identity issuer and bundle."""

    key: str  # "" for the stack's one cluster (top-level keys); the entry's name for a listed cluster
    cluster: ClusterConfig
    cert_manager: CertManagerConfig
    linkerd: LinkerdConfig
    vault_cluster_address: str | None  # None: the Vault container's or the external Vault's address
    secret_id_version: int
    kubernetes: KubernetesApi | None  # credential kubernetes, an existing cluster: how Vault reaches it
    # The API server's own audience: the Kubernetes auth login token carries it, so that it may review itself.
    api_audience: str


@dataclass(frozen=True)
class VaultSideConfig:
    """Where the Vault side comes from: made by this stack, read from a Vault-only stack, or handed over."""

    source: str = "create"  # create | reference | provided
    stack: str | None = None  # reference: the Vault-only stack
    consumer: str | None = None  # reference: which of its consumers this cluster is (None: its one credential)
    sign_path: str | None = None  # provided
    anchor_pems: tuple[tuple[str, str], ...] = ()  # provided: (name, PEM), in the order given
    role_id: str | None = None  # provided, approle
    secret_id: Secret | None = None  # provided, approle
    token: Secret | None = None  # provided, token

    @property
    def creates(self) -> bool:
        return self.source == "create"


@dataclass(frozen=True)
class StackConfig:
    cluster: ClusterConfig
    vault: VaultConfig
    pki: PkiConfig
    credential: CredentialSettings
    linkerd: LinkerdConfig
    cert_manager: CertManagerConfig
    warnings: tuple[str, ...]  # nothing wrong yet, but soon (a certificate about to expire)
    # Every cluster on the anchor: the top-level one, or the `clusters` list; none with clusterMode none.
    clusters: tuple[ClusterTarget, ...]
    vault_side: VaultSideConfig
    consumers: tuple[Consumer, ...]  # a Vault-only stack's declared consumers
    kubernetes: KubernetesApi | None  # a Vault-only stack's one credential, kubernetes: its cluster
    mirror: Pulls

    @property
    def listed(self) -> bool:
        """True when the clusters come from the `clusters` list (their resources and outputs are named)."""
        return any(t.key for t in self.clusters)

    @property
    def needs_docker_network(self) -> bool:
        return any(t.cluster.mode == "k3d" for t in self.clusters) or self.vault.mode == "docker"

    @property
    def logins(self) -> dict[str, Consumer]:
        """A credential for each consumer of the Vault side, by key ("" for the one): its secret_id version, and
        with Kubernetes auth its cluster's API server (None for a k3d cluster: the program reads it from k3d)."""
        if self.consumers:
            return {c.name: c for c in self.consumers}
        if self.clusters:
            return {t.key: Consumer(t.key, t.secret_id_version, t.kubernetes) for t in self.clusters}
        return {"": Consumer("", self.credential.secret_id_version, self.kubernetes)}
