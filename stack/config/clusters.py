"""The clusters a stack serves: the top-level one, or a `clusters` list whose entries default to the
top-level keys; and a Vault-only stack's consumers."""

from __future__ import annotations

import difflib

from linkerd_vault_pki import x509
from linkerd_vault_pki.vault_access import Consumer, KubernetesApi
from linkerd_vault_pki.x509 import kubeconfig_ca
from stack import settings
from stack.config.across import check_plain_http
from stack.config.model import (
    CLUSTER_MODES,
    CertManagerConfig,
    ClusterConfig,
    ClusterTarget,
    LinkerdConfig,
)
from stack.config.reader import EntryReader, Reader, scalar
from stack.config.rules import address_problem, is_loopback, kubeconfig_problem
from stack.kinds import DNS_LABEL


def read_cluster_target(
    r: Reader, key: str, vault_mode: str, vault_address: str | None, insecure_http: bool, network: str, login: str
) -> ClusterTarget:
    """One cluster's settings, from the top-level keys (``key`` "") or a `clusters` entry's reader."""
    mode = r.choice("clusterMode", CLUSTER_MODES if not key else ("k3d", "existing"))
    cluster = ClusterConfig(
        mode=mode,
        name=key or r.get("clusterName"),
        network=network,
        api_port=r.get("k3dApiPort"),
        kubeconfig=r.get("kubeconfig"),
        context=r.get("kubeContext"),
        k3s_image=r.get("k3sImage"),
    )
    if cluster.kubeconfig is not None and (problem := kubeconfig_problem(cluster.kubeconfig.value, cluster.context)):
        r.fail(problem)
    if mode == "existing" and cluster.kubeconfig is None:
        r.require(
            "kubeconfig",
            "is required when clusterMode is existing; set it with "
            "`pulumi config set --secret kubeconfig < ~/.kube/config` (and kubeContext to pick a context)",
        )

    cluster_address = r.get("vaultClusterAddress")
    if vault_mode == "docker" and mode == "existing" and cluster_address is None and "vaultClusterAddress" not in r.raw:
        r.require(
            "vaultClusterAddress",
            "is required when clusterMode is existing and vaultMode is docker: "
            "say how the cluster reaches the Vault container, such as http://192.168.1.20:8200",
        )
    if vault_mode != "docker" and not insecure_http:
        check_plain_http(r, "vaultClusterAddress", cluster_address)
    reach = cluster_address or (vault_address if vault_mode == "external" else None)
    if reach and is_loopback(reach) and mode == "k3d":
        where = "vaultClusterAddress" if cluster_address else "vaultAddress"
        r.fail(
            f"{where}",
            f"{reach} is this host's loopback, which k3d's nodes (containers) cannot reach; "
            "set vaultClusterAddress to an address the cluster reaches",
        )
    if reach and is_loopback(reach) and mode == "existing" and cluster_address is None:
        r.fail(
            "vaultAddress",
            f"{reach} is this host's loopback, which a cluster's pods cannot reach; set "
            "vaultClusterAddress to an address the cluster reaches (or to this one, if the cluster runs on this host)",
        )

    linkerd = LinkerdConfig(
        install_gateway_api=r.get("installGatewayApi"),
        install=r.get("linkerd") == "install",
    )
    cert_manager = CertManagerConfig(
        install=r.get("certManager") == "install",
        namespace=r.get("trustNamespace"),
        ready_timeout=r.get("readyTimeout"),
        service_account=r.get("certManagerServiceAccount"),
    )
    if r.sound("readyTimeout") and not 10 <= cert_manager.ready_timeout.seconds <= 7200:
        r.fail("readyTimeout", f"{cert_manager.ready_timeout.text} is not from 10s to 2h")
    kubernetes = None
    if vault_mode != "none" and mode in ("existing", "none") and login == "kubernetes":
        if mode == "none" and ("consumers" in r.raw or "consumers" in r.failed):  # each consumer: its own
            for own in NOT_INHERITED:
                if own in r.raw:
                    r.fail(own, "is each consumer's own when consumers are declared: set it in each entry")
        else:
            kubernetes = _kubernetes_api(r, cluster, cert_manager.namespace, in_docker=vault_mode == "docker")
    return ClusterTarget(
        key=key,
        cluster=cluster,
        cert_manager=cert_manager,
        linkerd=linkerd,
        vault_cluster_address=cluster_address,
        secret_id_version=r.get("secretIdVersion"),
        kubernetes=kubernetes,
        api_audience=r.get("kubernetesApiAudience"),
    )


def _kubernetes_api(
    r: Reader, cluster: ClusterConfig | None, namespace: str, in_docker: bool = False
) -> KubernetesApi | None:
    """The API server Vault's Kubernetes auth reviews tokens at: ``kubernetesHost``, and its CA from
    ``kubernetesCaCert`` or the cluster's kubeconfig (``cluster`` None: a consumer, which has none)."""
    host = r.raw.get("kubernetesHost")
    if host is None:
        r.require(
            "kubernetesHost",
            "is required when credential is kubernetes: the cluster's API server as Vault reaches it (Vault calls "
            "its TokenReview API), such as https://k8s.example.com:6443",
        )
    elif (problem := address_problem(host)) or not host.startswith("https://"):
        r.fail(
            "kubernetesHost",
            f"{host!r} {problem or 'is not https'}; write https://, the host and an optional port only, such as "
            "https://k8s.example.com:6443 (a Kubernetes API server serves TLS only)",
        )
        host = None
    if host is not None and in_docker and is_loopback(host):
        r.fail(
            "kubernetesHost",
            f"{host} is this host's loopback, which the Vault container cannot reach; give an address of the API "
            "server that a container on the Docker network reaches (this host's LAN address, for one on this host)",
        )
        host = None
    ca = r.get("kubernetesCaCert")
    if ca is not None:
        if problem := x509.check_ca_bundle_pem(ca):
            r.fail("kubernetesCaCert", f"{problem}")
            ca = None
    elif cluster is not None and cluster.mode == "existing":
        if cluster.kubeconfig is None or not r.sound("kubeconfig", "kubeContext"):
            return None  # the kubeconfig's own problem is reported
        ca = kubeconfig_ca(cluster.kubeconfig.value, cluster.context)
        if ca is None or x509.check_ca_bundle_pem(ca):
            ca = None
            r.require(
                "kubernetesCaCert",
                "is required when credential is kubernetes and the kubeconfig's cluster has no PEM "
                "certificate-authority-data: the CA certificate that verifies the cluster's API server for Vault",
            )
    else:
        r.require(
            "kubernetesCaCert",
            "is required when credential is kubernetes and there is no kubeconfig to read it from: the PEM CA "
            "certificate that verifies the cluster's API server for Vault",
        )
    if host is None or ca is None:
        return None
    return KubernetesApi(host=host.rstrip("/"), ca_pem=ca, namespace=namespace)


# What a `clusters` entry may set; every other cluster setting is the stack's (top-level) one.
CLUSTER_ENTRY_KEYS = (
    "name",
    "clusterMode",
    "k3dApiPort",
    "k3sImage",
    "kubeconfig",
    "kubeContext",
    "vaultClusterAddress",
    "certManager",
    "trustNamespace",
    "linkerd",
    "installGatewayApi",
    "readyTimeout",
    "secretIdVersion",
    "kubernetesHost",
    "kubernetesCaCert",
    "certManagerServiceAccount",
    "kubernetesApiAudience",
)
# An entry's own, never the top-level value: each cluster's API server is its own.
NOT_INHERITED = ("kubernetesHost", "kubernetesCaCert")


MAX_CLUSTERS = 200


def read_listed_clusters(
    r: Reader, vault_mode: str, vault_address: str | None, insecure_http: bool, network: str, login: str
) -> tuple[ClusterTarget, ...]:
    """The `clusters` list: each entry a cluster of its own, the top-level keys its defaults."""
    entries = r.structured("clusters")
    if entries is None and "clusters" in r.raw and r.sound("clusters"):
        # A bare `clusters:` in a stack file: YAML's null.
        r.fail("clusters", "is empty; list the clusters, or remove the key for the stack's one cluster")
    if entries is None:
        return ()
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        r.fail(
            "clusters",
            "is not a list of clusters; give one entry per cluster, such as "
            "[{name: east, clusterMode: k3d, k3dApiPort: 6551}, {name: west, clusterMode: k3d, k3dApiPort: 6552}]",
        )
        return ()
    if len(entries) > MAX_CLUSTERS:
        r.fail("clusters", f"lists {len(entries)} clusters; at most {MAX_CLUSTERS}")
        return ()
    if "clusterName" in r.raw:
        r.fail("clusterName", "is not used when clusters are listed (each entry has its own name); remove it")
    for key in NOT_INHERITED:
        if key in r.raw:
            r.fail(key, "is each cluster's own when clusters are listed: set it in each entry that needs it")
    inherited = {k: v for k, v in r.raw.items() if k in CLUSTER_ENTRY_KEYS and k not in NOT_INHERITED}
    targets: list[ClusterTarget] = []
    seen: set[str] = set()
    for i, raw_entry in enumerate(entries):
        label = f"clusters[{i}]"
        entry = {str(k): scalar(v) for k, v in raw_entry.items()}
        for key in sorted(set(entry) - set(CLUSTER_ENTRY_KEYS)):
            close = difflib.get_close_matches(key, CLUSTER_ENTRY_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"an entry takes {', '.join(CLUSTER_ENTRY_KEYS)}"
            r.fail(f"{label}.{key}", f"is not a setting of a cluster entry; {hint}")
        name = entry.get("name")
        if name is None or not DNS_LABEL.match(name):
            r.fail(
                f"{label}.name",
                f"{name!r} is not a lowercase DNS label of at most 32 characters (each entry needs one)",
            )
            continue
        if name in seen:
            r.fail(f"{label}.name", f"{name} is listed twice; each cluster needs a name of its own")
            continue
        seen.add(name)
        sub = EntryReader(
            {k: v for k, v in entry.items() if k in CLUSTER_ENTRY_KEYS and k != "name"},
            inherited,
            label,
            secret="clusters" in r.secret_keys,
        )
        # Whether an entry's key is used depends on the entry's own modes and the stack's (credential, ...).
        for problem in settings.unused_settings({**r.raw, **sub.raw}):
            if problem.key in sub.entry:
                sub.fail(problem)
        targets.append(read_cluster_target(sub, name, vault_mode, vault_address, insecure_http, network, login))
        r.problems.extend(sub.problems)
        r.failed |= sub.failed
    return tuple(targets)


def read_consumers(r: Reader, credential: str) -> tuple[Consumer, ...]:
    """A Vault-only stack's consumers: each a credential of its own, revocable alone."""
    if "consumers" not in r.raw:
        return ()
    entries = r.structured("consumers")
    if not isinstance(entries, list) or not entries:
        r.fail(
            "consumers", "is not a list of consumer names, such as [east, west] or [{name: east, secretIdVersion: 2}]"
        )
        return ()
    takes = {
        "approle": ("name", "secretIdVersion"),
        "token": ("name",),
        "kubernetes": ("name", "kubernetesHost", "kubernetesCaCert", "trustNamespace"),
    }.get(credential, ("name",))
    found: list[Consumer] = []
    for i, entry in enumerate(entries):
        item = entry if isinstance(entry, dict) else {"name": entry}
        name = scalar(item.get("name"))
        unknown = sorted(set(map(str, item)) - set(takes))
        if unknown == ["secretIdVersion"]:
            r.fail(f"consumers[{i}].secretIdVersion", f"is only used when credential is approle (it is {credential})")
            continue
        if unknown:
            r.fail(
                f"consumers[{i}].{unknown[0]}",
                f"is not a setting of a consumer when credential is {credential}; a consumer takes {', '.join(takes)}",
            )
            continue
        if not DNS_LABEL.match(name):
            r.fail(f"consumers[{i}].name", f"{name!r} is not a lowercase DNS label of at most 32 characters")
            continue
        if any(c.name == name for c in found):
            r.fail(f"consumers[{i}].name", f"{name} is listed twice; each consumer needs a name of its own")
            continue
        version = 1
        if "secretIdVersion" in item:
            text = scalar(item["secretIdVersion"])
            if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
                r.fail(f"consumers[{i}].secretIdVersion", f"{text!r} is not a whole number from 1 to 1000000")
                continue
            version = int(text)
        kubernetes = None
        if credential == "kubernetes":
            sub = EntryReader({str(k): scalar(v) for k, v in item.items() if k != "name"}, {}, f"consumers[{i}]", False)
            namespace = sub.get("trustNamespace")
            kubernetes = _kubernetes_api(sub, None, namespace)
            r.problems.extend(sub.problems)
            if kubernetes is None:
                continue
        found.append(Consumer(name, version, kubernetes))
    if len(found) > MAX_CLUSTERS:
        r.fail("consumers", f"lists {len(found)} consumers; at most {MAX_CLUSTERS}")
    return tuple(found)
