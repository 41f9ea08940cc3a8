"""The clusters a stack serves: the top-level one, or a `clusters` list whose entries default to the
top-level keys; and a Vault-only stack's consumers."""

from __future__ import annotations

import difflib

from lib import settings, versions
from lib.config.model import (
    CERT_MANAGER_MODES,
    CLUSTER_MODES,
    LINKERD_MODES,
    CertManagerConfig,
    ClusterConfig,
    ClusterTarget,
    Consumer,
    LinkerdConfig,
)
from lib.config.reader import _EntryReader, _Reader, _scalar, _structured
from lib.config.rules import _DNS_LABEL, _PINNED_IMAGE, _check_plain_http, is_loopback, kubeconfig_problem


def _cluster_target(
    r: _Reader, key: str, vault_mode: str, vault_address: str | None, insecure_http: bool, network: str
) -> ClusterTarget:
    """One cluster's settings, from the top-level keys (``key`` "") or a `clusters` entry's reader."""
    mode = r.choice("clusterMode", CLUSTER_MODES if not key else ("k3d", "existing"))
    cluster = ClusterConfig(
        mode=mode,
        name=key or r.pattern("clusterName", _DNS_LABEL, "a lowercase DNS label of at most 32 characters"),
        network=network,
        api_port=r.integer("k3dApiPort", 1024, 65535),
        kubeconfig=r.secret("kubeconfig"),
        context=r.text("kubeContext"),
        k3s_image=r.pattern(
            "k3sImage",
            _PINNED_IMAGE,
            f"a pinned container image reference (a tag or a digest, at most 255 characters) such as "
            f"{versions.K3S_IMAGE}",
        ),
    )
    if cluster.kubeconfig is not None and (problem := kubeconfig_problem(cluster.kubeconfig.value, cluster.context)):
        r.fail(problem)
    if mode == "existing" and cluster.kubeconfig is None:
        r.require(
            "kubeconfig",
            "is required when clusterMode is existing; set it with "
            "`pulumi config set --secret kubeconfig < ~/.kube/config` (and kubeContext to pick a context)",
        )

    cluster_address = r.url("vaultClusterAddress")
    if vault_mode == "docker" and mode == "existing" and cluster_address is None and "vaultClusterAddress" not in r.raw:
        r.require(
            "vaultClusterAddress",
            "is required when clusterMode is existing and vaultMode is docker: "
            "say how the cluster reaches the Vault container, such as http://192.168.1.20:8200",
        )
    if vault_mode != "docker" and not insecure_http:
        _check_plain_http(r, "vaultClusterAddress", cluster_address)
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
        install_gateway_api=r.boolean("installGatewayApi"),
        install=r.choice("linkerd", LINKERD_MODES) == "install",
    )
    cert_manager = CertManagerConfig(
        install=r.choice("certManager", CERT_MANAGER_MODES) == "install",
        namespace=r.pattern("trustNamespace", _DNS_LABEL, "a namespace name (a lowercase DNS label)"),
        ready_timeout=r.duration("readyTimeout"),
    )
    if r.sound("readyTimeout") and not 10 <= cert_manager.ready_timeout.seconds <= 7200:
        r.fail("readyTimeout", f"{cert_manager.ready_timeout.text} is not from 10s to 2h")
    return ClusterTarget(
        key=key,
        cluster=cluster,
        cert_manager=cert_manager,
        linkerd=linkerd,
        vault_cluster_address=cluster_address,
        secret_id_version=r.integer("secretIdVersion", 1, 1_000_000),
    )


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
)


MAX_CLUSTERS = 200


def _listed_clusters(
    r: _Reader, vault_mode: str, vault_address: str | None, insecure_http: bool, network: str
) -> tuple[ClusterTarget, ...]:
    """The `clusters` list: each entry a cluster of its own, the top-level keys its defaults."""
    entries = _structured(r, "clusters")
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
    inherited = {k: v for k, v in r.raw.items() if k in CLUSTER_ENTRY_KEYS}
    targets: list[ClusterTarget] = []
    seen: set[str] = set()
    for i, raw_entry in enumerate(entries):
        label = f"clusters[{i}]"
        entry = {str(k): _scalar(v) for k, v in raw_entry.items()}
        for key in sorted(set(entry) - set(CLUSTER_ENTRY_KEYS)):
            close = difflib.get_close_matches(key, CLUSTER_ENTRY_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"an entry takes {', '.join(CLUSTER_ENTRY_KEYS)}"
            r.fail(f"{label}.{key}", f"is not a setting of a cluster entry; {hint}")
        name = entry.get("name")
        if name is None or not _DNS_LABEL.match(name):
            r.fail(
                f"{label}.name",
                f"{name!r} is not a lowercase DNS label of at most 32 characters (each entry needs one)",
            )
            continue
        if name in seen:
            r.fail(f"{label}.name", f"{name} is listed twice; each cluster needs a name of its own")
            continue
        seen.add(name)
        sub = _EntryReader(
            {k: v for k, v in entry.items() if k in CLUSTER_ENTRY_KEYS and k != "name"},
            inherited,
            label,
            secret="clusters" in r.secret_keys,
        )
        # Whether an entry's key is used depends on the entry's own modes and the stack's (credential, ...).
        for problem in settings.unused_settings({**r.raw, **sub.raw}):
            if problem.key in sub.entry:
                sub.fail(problem)
        targets.append(_cluster_target(sub, name, vault_mode, vault_address, insecure_http, network))
        r.problems.extend(sub.problems)
        r.failed |= sub.failed
    return tuple(targets)


def _consumers(r: _Reader, credential: str) -> tuple[Consumer, ...]:
    """A Vault-only stack's consumers: each a credential of its own, revocable alone."""
    if "consumers" not in r.raw:
        return ()
    entries = _structured(r, "consumers")
    if not isinstance(entries, list) or not entries:
        r.fail(
            "consumers", "is not a list of consumer names, such as [east, west] or [{name: east, secretIdVersion: 2}]"
        )
        return ()
    found: list[Consumer] = []
    for i, entry in enumerate(entries):
        item = entry if isinstance(entry, dict) else {"name": entry}
        name = _scalar(item.get("name"))
        unknown = sorted(set(map(str, item)) - {"name", "secretIdVersion"})
        if unknown:
            r.fail(
                f"consumers[{i}].{unknown[0]}", "is not a setting of a consumer; a consumer takes name, secretIdVersion"
            )
            continue
        if not _DNS_LABEL.match(name):
            r.fail(f"consumers[{i}].name", f"{name!r} is not a lowercase DNS label of at most 32 characters")
            continue
        if any(c.name == name for c in found):
            r.fail(f"consumers[{i}].name", f"{name} is listed twice; each consumer needs a name of its own")
            continue
        version = 1
        if "secretIdVersion" in item:
            if credential != "approle":
                r.fail(
                    f"consumers[{i}].secretIdVersion", f"is only used when credential is approle (it is {credential})"
                )
                continue
            text = _scalar(item["secretIdVersion"])
            if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
                r.fail(f"consumers[{i}].secretIdVersion", f"{text!r} is not a whole number from 1 to 1000000")
                continue
            version = int(text)
        found.append(Consumer(name, version))
    if len(found) > MAX_CLUSTERS:
        r.fail("consumers", f"lists {len(found)} consumers; at most {MAX_CLUSTERS}")
    return tuple(found)
