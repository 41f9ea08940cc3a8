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

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from linkerd_vault_pki import expiry, gates, versions
from linkerd_vault_pki.pulls import Pulls
from stack import rotation, vault_side
from stack.config import ClusterTarget, ConfigError, StackConfig
from stack.outputs import (
    ClusterFacts,
    export_cluster,
    export_consumed_vault_side,
    export_listed_clusters,
    export_vault_side,
)
from stack.rotation import Rotation
from stack.vault_side import VaultEndpoint, VaultSide

if TYPE_CHECKING:
    import pulumi_vault as vault

    from linkerd_vault_pki.cluster import K3dCluster
    from linkerd_vault_pki.vault_credentials import ReviewedCluster


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


def last_outputs() -> dict[str, Any]:
    """The outputs of this stack's last `up` (empty for a new stack): its own ``anchorRotation``, and the
    kubeconfig of a cluster it made, which the rotation's gates read.

    Read with the engine's built-in ``readStackOutputs`` (what a StackReference reads), synchronously,
    so that a step that would break the mesh stops the program before anything is registered.
    """
    me = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    try:
        return vault_side.read_stack_outputs(me)
    except Exception:
        # The SDK fails the run on a failed invoke whatever is caught here (no retry is possible): say why.
        pulumi.log.error(
            "could not read what this stack's last `up` deployed, which the anchor rotation check needs; run "
            "the command again. On a file:// backend of your own, add ?metadata=skip to its URL: without it the "
            "engine rewrites a state metadata file in place, and a read at that moment finds it empty (EOF)"
        )
        raise


class RotationBlocked(pulumi.RunError):
    """A rotation phase the live cluster cannot take yet (linkerd_vault_pki/gates.py). A RunError: no traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"the anchor rotation cannot go on yet (nothing was changed):\n{lines}\n"
            'docs/operations.md, "Rotating the trust anchor", says what each phase waits for'
        )


def run(cfg: StackConfig) -> None:
    for warning in cfg.warnings:
        pulumi.log.warn(warning)
    last = last_outputs()
    deployed = Rotation.from_output(last.get(rotation.OUTPUT))
    # A rotation step that would break the mesh stops the program here, before anything is registered: checked
    # by vault_side.check_rotation, for a consumed side as soon as its anchors are known (before its reference).
    if cfg.vault_side.creates:
        wanted = Rotation(cfg.pki.anchors, cfg.pki.signing_anchor)
        phase = vault_side.check_rotation(deployed, wanted, "")
    else:
        consume = vault_side.referenced if cfg.vault_side.source == "reference" else vault_side.provided
        side = consume(cfg, deployed)
        wanted = Rotation(side.pki.anchors, side.pki.signing_anchor)
        phase = rotation.phase(deployed, wanted)
    if phase not in ("first", "none"):
        pulumi.log.info(
            f'anchor rotation: this update is the {phase} phase (docs/operations.md, "Rotating the trust anchor")'
        )
    if phase in ("switch", "retire") and deployed is not None:
        gate_rotation(cfg, phase, deployed, wanted, last)
    known = vault_side.anchor_pems_of(last.get("trustAnchors")) if cfg.vault_side.creates else side.known_pems
    check_expiry(cfg, phase, wanted.signing, known.get(wanted.signing))
    if not cfg.vault_side.creates:
        export_consumed_vault_side(side, cfg)
    network = None
    if cfg.needs_docker_network:
        from linkerd_vault_pki.network import local_network

        network = local_network("local-network", cfg.cluster.network)
    # The clusters first: with Kubernetes auth, Vault's side is configured with each one's API server.
    access = {target.key: connect(target, network, cfg.mirror) for target in cfg.clusters}
    if cfg.vault_side.creates:
        side = create_vault_side(cfg, network, access)
    facts = {}
    restarts = {}
    for target in cfg.clusters:
        facts[target.key], restarts[target.key] = cluster_side(cfg, target, side, access[target.key], phase)
    if any(r is not None for r in restarts.values()):
        # Exported, so that the program waits for the waves (linkerd_vault_pki/waves.py): what each cluster restarted.
        pulumi.export("workloadRestarts", {k: r for k, r in restarts.items() if r is not None})
    if cfg.listed:
        export_listed_clusters(facts, side)
    elif facts:
        export_cluster(facts[""], side.credentials[""])


def check_expiry(cfg: StackConfig, phase: str, signing: str, pem: str | None) -> None:
    """Warn when the signing anchor nears its end; refuse an issuerDuration it cannot cover
    (linkerd_vault_pki/expiry.py).

    A rotation's phases are the way out, so during one the refusal is a warning. An anchor this `up`
    generates (no PEM yet) has its whole life ahead."""
    if not pem:
        return
    warnings, problems = expiry.signing_anchor_expiry(
        signing,
        pem,
        (cfg.pki.issuer_duration.text, cfg.pki.issuer_duration.seconds),
        cfg.pki.expiry_lead_seconds,
        dt.datetime.now(dt.UTC),
    )
    for warning in warnings:
        pulumi.log.warn(warning)
    if problems and phase in ("first", "none"):
        raise ConfigError(problems)
    for problem in problems:
        pulumi.log.warn(problem)


def gate_rotation(cfg: StackConfig, phase: str, deployed: Rotation, wanted: Rotation, last: dict[str, Any]) -> None:
    """The rotation's gates on every cluster of the stack (linkerd_vault_pki/gates.py), read live before anything is
    registered.

    Refused with every cluster's reasons at once; with ``rotationGates: override``, warned instead.
    """
    pems = {name: str((a or {}).get("pem", "")) for name, a in (last.get("trustAnchors") or {}).items()}
    found: list[str] = []
    for target in cfg.clusters:
        where = f"cluster {target.key}: " if target.key else ""
        kubeconfig = cluster_kubeconfig(target, last)
        try:
            if kubeconfig is None:
                raise gates.CannotRead("this stack's last `up` left no kubeconfig output for it")
            view = gates.read_cluster(kubeconfig, target.cluster.context)
        except gates.CannotRead as exc:
            found.append(
                f"kubeconfig: {where}could not read the cluster, which the {phase} phase's gates check before "
                f"anything changes (a cluster that cannot be read does not pass): {exc}"
            )
            continue
        if phase == "switch":
            found += gates.switch_problems(view, wanted.signing, pems.get(wanted.signing, ""), where)
        else:
            (retired,) = set(deployed.anchors) - set(wanted.anchors)
            found += gates.retire_problems(
                view,
                retired,
                wanted.signing,
                pems.get(wanted.signing, ""),
                dt.timedelta(seconds=cfg.pki.workload_cert_lifetime.seconds),
                gates.now(),
                where,
            )
    if not found:
        return
    if cfg.pki.rotation_gates == "override":
        for problem in found:
            pulumi.log.warn(f"{problem} [overridden]")
        pulumi.log.warn(gates.SWITCH_OVERRIDDEN if phase == "switch" else gates.RETIRE_OVERRIDDEN)
        return
    raise RotationBlocked(found)


def cluster_kubeconfig(target: ClusterTarget, last: dict[str, Any]) -> str | None:
    """How the gates reach a cluster: an existing one's kubeconfig from config, a k3d one's from the last `up`."""
    if target.cluster.kubeconfig is not None:
        return target.cluster.kubeconfig.value
    if target.key:
        value = ((last.get("clusterSecrets") or {}).get(target.key) or {}).get("kubeconfig")
    else:
        value = last.get("kubeconfig")
    if isinstance(value, dict):  # a secret as the engine may hand it over: {<secret signature>: ..., value: ...}
        value = value.get("value")
    return str(value) if value else None


@dataclass
class ClusterAccess:
    """How this stack reaches one cluster, and how the laptop's Vault does (a k3d cluster's, on the network)."""

    kubeconfig: pulumi.Output[str]
    k3d: K3dCluster | None = None


def connect(target: ClusterTarget, network, mirror: Pulls) -> ClusterAccess:
    """A k3d cluster made here, or an existing one's kubeconfig."""
    if target.cluster.mode != "k3d":
        assert target.cluster.kubeconfig is not None  # required by the config rules
        return ClusterAccess(kubeconfig=target.cluster.kubeconfig.output())
    from linkerd_vault_pki.cluster import K3dCluster, K3dClusterArgs

    cluster = K3dCluster(
        f"{target.key}-k3d" if target.key else "k3d",
        K3dClusterArgs(
            cluster_name=target.cluster.name,
            network=network.name,
            api_port=target.cluster.api_port,
            k3s_image=mirror.images.reference(target.cluster.k3s_image),
            mirror=mirror,
        ),
    )
    return ClusterAccess(kubeconfig=cluster.kubeconfig, k3d=cluster)


def reviewed_clusters(cfg: StackConfig, access: dict[str, ClusterAccess]) -> dict[str, ReviewedCluster]:
    """With Kubernetes auth, each login's cluster as Vault reaches it: the config's, or a k3d cluster's."""
    from linkerd_vault_pki.vault_credentials import ReviewedCluster

    reviewed = {}
    for key, login in cfg.logins.items():
        if login.kubernetes is not None:
            api = login.kubernetes
            reviewed[key] = ReviewedCluster(host=api.host, ca_pem=api.ca_pem, namespace=api.namespace)
        else:
            k3d = access[key].k3d
            assert k3d is not None  # an existing cluster's or a consumer's is required by the config rules
            namespace = next(t.cert_manager.namespace for t in cfg.clusters if t.key == key)
            reviewed[key] = ReviewedCluster(host=k3d.in_network_server, ca_pem=k3d.ca_pem, namespace=namespace)
    return reviewed


def create_vault_side(cfg: StackConfig, network, access: dict[str, ClusterAccess]) -> VaultSide:
    """The mount, anchors, policy and credentials, made by this stack (and a Vault dev server, on a laptop)."""
    from linkerd_vault_pki.vault_pki import AnchorSpec, VaultPki, VaultPkiArgs

    if cfg.vault.mode == "docker":
        from linkerd_vault_pki.vault_server import VaultDevServer, VaultDevServerArgs, registry_provider

        pull_provider = None
        if registry_auths := cfg.mirror.registry_auths():
            # The image's pull with the mirror's credentials. The provider was the component's child until the
            # component stopped making providers: the alias keeps a deployed stack's (and its image's) as is.
            was = (
                f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::"
                f"{VaultDevServer.TYPE}$pulumi:providers:docker::vault-dev-registry"
            )
            pull_provider = registry_provider(
                "vault-dev-registry", registry_auths, pulumi.ResourceOptions(aliases=[was])
            )
        server = VaultDevServer(
            "vault-dev",
            VaultDevServerArgs(
                network=network.name,
                root_token=cfg.vault.token.output(),
                host_port=cfg.vault.host_port,
                image=cfg.mirror.images.reference(versions.VAULT_IMAGE),
                pull_provider=pull_provider,
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
            anchors=cfg.pki.anchors,
            signing_anchor=cfg.pki.signing_anchor,
            new_anchors=AnchorSpec(
                cfg.pki.anchor_common_name, cfg.pki.anchor_ttl, cfg.pki.anchor_key_type, cfg.pki.anchor_key_bits
            ),
            credential=cfg.credential,
            clusters=cfg.logins,
            reviewed=reviewed_clusters(cfg, access) if cfg.credential.kind == "kubernetes" else {},
            protect=cfg.vault.protect,
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


def cluster_side(
    cfg: StackConfig, target: ClusterTarget, side: VaultSide, access: ClusterAccess, phase: str = "none"
) -> tuple[ClusterFacts, pulumi.Output[list[str]] | None]:
    """One cluster (k3d, or one given), cert-manager, Linkerd's identity and Linkerd.

    A listed cluster's resources are named after it (``<name>-...``); the stack's one cluster keeps the
    plain names.
    """
    import pulumi_kubernetes as k8s

    from linkerd_vault_pki.cert_manager import (
        CertManager,
        CertManagerArgs,
        ExistingCertManager,
        ExistingCertManagerArgs,
    )
    from linkerd_vault_pki.issuer import IdentityIssuer, IdentityIssuerArgs
    from linkerd_vault_pki.linkerd import LinkerdControlPlane, LinkerdControlPlaneArgs, linkerd_namespace
    from linkerd_vault_pki.trust_bundle import TrustBundle, TrustBundleArgs

    prefix = f"{target.key}-" if target.key else ""
    kubeconfig = access.kubeconfig
    kubernetes = k8s.Provider(f"{prefix}kubernetes", kubeconfig=kubeconfig, context=target.cluster.context)
    on_cluster = pulumi.ResourceOptions(providers={"kubernetes": kubernetes})

    if target.cert_manager.install:
        cert_manager = CertManager(
            f"{prefix}cert-manager",
            CertManagerArgs(namespace=target.cert_manager.namespace, mirror=cfg.mirror),
            opts=on_cluster,
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
    ready = target.cert_manager.ready_timeout.seconds
    issuer = IdentityIssuer(
        f"{prefix}identity-issuer",
        IdentityIssuerArgs(
            cert_manager_namespace=cert_manager.namespace,
            linkerd_namespace=namespace.metadata.name,
            vault_server=vault_server,
            sign_path=side.sign_path,
            signing_anchor=side.pki.signing_anchor,
            credential=side.credentials[target.key],
            duration=side.pki.issuer_duration,
            renew_before=side.pki.issuer_renew_before,
            vault_ca_bundle_pem=cfg.vault.ca_bundle_pem,
            vault_namespace=cfg.vault.namespace,
            ready_timeout_seconds=ready,
            cert_manager_service_account=target.cert_manager.service_account,
            api_audience=target.api_audience,
        ),
        opts=on_cluster,
    )
    bundle = TrustBundle(
        f"{prefix}trust-bundle",
        TrustBundleArgs(
            trust_namespace=cert_manager.trust_namespace,
            linkerd_namespace=namespace.metadata.name,
            anchor_pems=side.anchors,
            previous_anchor_pem=side.pki.previous_anchor_pem,
            ready_timeout_seconds=ready,
        ),
        opts=on_cluster,
    )
    if side.pki.expiry_alerts:
        expiry_alerts(f"{prefix}expiry-alerts", cfg, side, namespace, on_cluster)
    if target.linkerd.install:
        pulls = []
        if cfg.mirror.pull_secret:
            from linkerd_vault_pki.cert_manager import pull_secret

            pulls.append(pull_secret(f"{prefix}linkerd-pull-secret", namespace.metadata.name, cfg.mirror, on_cluster))
        control_plane = LinkerdControlPlane(
            f"{prefix}linkerd",
            LinkerdControlPlaneArgs(
                namespace=namespace.metadata.name,
                install_gateway_api=target.linkerd.install_gateway_api,
                wait_for=[issuer, bundle, *pulls],
                mirror=cfg.mirror,
                roots_digest=bundle.roots_digest,
            ),
            opts=on_cluster,
        )
    restarted = None
    if side.pki.restart_workloads and target.linkerd.install and phase in ("add", "switch"):
        restarted = restart_waves(
            kubeconfig, target.cluster.context, phase, [control_plane.release_name, issuer.certificate_name]
        )
    return ClusterFacts(
        issuer=issuer.issuer_name,
        namespace=namespace.metadata.name,
        bundle=bundle.bundle_name,
        certificate=issuer.certificate_name,
        kubeconfig=pulumi.Output.secret(kubeconfig),
        vault_server=vault_server,
        vault_login=vault_login(target, side.credentials[target.key].service_account()),
    ), restarted


def restart_waves(
    kubeconfig: pulumi.Output[str], context: str | None, phase: str, after: list[pulumi.Output[str]]
) -> pulumi.Output[list[str]]:
    """``restartMeshedWorkloads`` (linkerd_vault_pki/waves.py): once the control plane rolled (add) or identity took
    the new
    issuer (switch), restart the meshed workloads namespace by namespace. Not at preview: nothing is touched."""
    started = time.time()

    def waves(values: list) -> list[str]:
        if pulumi.runtime.is_dry_run():
            return []
        from linkerd_vault_pki import waves as lib_waves

        with gates.kubectl_for(values[0], context) as kubectl:
            if phase == "switch":  # an IssuerUpdated since this `up` began is identity taking the new issuer
                lib_waves.wait_for_identity(kubectl, started - 1, timeout_seconds=300)
            planned = lib_waves.plan(kubectl, control_plane=phase == "switch")
            lib_waves.restart(kubectl, planned, pulumi.log.info, timeout_seconds=600)
        return [f"{w.namespace}: {', '.join(w.workloads)}" for w in planned]

    return pulumi.Output.all(kubeconfig, *after).apply(waves)


def expiry_alerts(name: str, cfg: StackConfig, side: VaultSide, namespace, on_cluster: pulumi.ResourceOptions) -> None:
    """The opt-in PrometheusRule (linkerd_vault_pki/alerts.py): each anchor's notAfter is written in at every `up`."""
    import pulumi_kubernetes as k8s

    from linkerd_vault_pki import alerts

    renew, lead = side.pki.issuer_renew_before.seconds, cfg.pki.expiry_lead_seconds
    groups = pulumi.Output.all(**side.anchors).apply(lambda pems: alerts.rule_groups(pems, renew, lead))
    k8s.apiextensions.CustomResource(
        name,
        api_version="monitoring.coreos.com/v1",
        kind="PrometheusRule",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=alerts.RULE_NAME, namespace=namespace.metadata.name),
        spec={"groups": groups},
        opts=on_cluster,
    )


def vault_login(target: ClusterTarget, account: str | None) -> dict[str, str] | None:
    """Kubernetes auth's two ServiceAccounts on the cluster, as `<namespace>/<name>` (None: a stored secret)."""
    if account is None:
        return None
    namespace = target.cert_manager.namespace
    return {
        "serviceAccount": f"{namespace}/{account}",
        "tokenRequester": f"{namespace}/{target.cert_manager.service_account}",
    }
