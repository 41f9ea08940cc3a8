"""A rotation with Linkerd's control plane in the loop (its doubles), phase by phase: the L2.5 tests and the
benchmark (benchmarks/mesh_rotation.py) run the same steps.

Each phase is the Vault side's `up` (the L2 applier in OpenBao) and then the cluster-only stack's, timed, with
the time the linkerd-control-plane release took (Helm's roll of the control plane and its wait) recorded.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography import x509

from linkerd_vault_pki import names
from linkerd_vault_pki.x509 import issued_by
from tests.integration.cluster_only import ISSUER_SECRET, provided
from tests.integration.kube import LocalCluster
from tests.integration.linkerd_double import ROOTS, KubeletDouble, proxy_roots, verifies
from tests.integration.stacks import Stack

CONTROL_PLANE_RELEASE = "linkerd-control-plane"


@dataclass
class Timings:
    up: dict[str, float] = field(default_factory=dict)  # each phase's `up`, gates and rolls included
    roll: dict[str, float] = field(default_factory=dict)  # of which the control plane's release update

    def line(self) -> str:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.up.items())
        rolls = ", ".join(f"{k} {v:.1f}s" for k, v in self.roll.items())
        return f"up per phase: {phases}; the control plane's roll within it: {rolls or 'none'}"


def phase(stack: Stack, timings: Timings, name: str, **settings: str) -> dict:
    """The Vault side's phase (its `up`), then the cluster stack's `up`, timed; its outputs."""
    vault_settings = {k: v for k, v in settings.items() if k in ("anchors", "signingAnchor")}
    cluster_settings, secrets = provided(stack.vault_side.apply(**vault_settings))
    cluster_settings.update({k: v for k, v in settings.items() if k not in vault_settings})
    stack.configure(cluster_settings, secrets)
    marks: dict[str, list[float]] = {}

    def seen(event) -> None:
        step = event.resource_pre_event or event.res_outputs_event
        if (
            step is not None
            and step.metadata.urn.endswith(f"::{CONTROL_PLANE_RELEASE}")
            and str(step.metadata.op).lower().rsplit(".", 1)[-1] not in ("same", "read")
        ):
            marks.setdefault(step.metadata.urn, []).append(time.monotonic())

    started = time.monotonic()
    result = stack.stack.up(on_output=lambda _line: None, on_event=seen)
    timings.up[name] = time.monotonic() - started
    for stamps in marks.values():
        if len(stamps) >= 2:
            timings.roll[name] = stamps[-1] - stamps[0]
    return {key: out.value for key, out in result.outputs.items()}


def pem_of(outputs: dict, anchor: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(outputs["trustAnchors"][anchor]["pem"].encode())


def issuer_now(cluster: LocalCluster) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(cluster.api.get(ISSUER_SECRET)["data"]["tls.crt"]))


signed_by = issued_by  # the tests' word for it


def mesh_holds(cluster: LocalCluster, kubelet: KubeletDouble, namespace: str, account: str) -> int:
    """A leaf identity certifies now verifies against the roots of every meshed pod that exists, old and new.

    Returns how many pods were checked."""
    chain = kubelet.leaf(namespace, account)
    pods = [
        p
        for p in cluster.api.get("/api/v1/pods")["items"]
        if not p["metadata"].get("deletionTimestamp")
        and any(c["name"] == names.PROXY_CONTAINER for c in p["spec"]["containers"])
        and p["metadata"]["uid"] in kubelet.roots_at_start
    ]
    refused = {
        p["metadata"]["name"]: _prints(proxy_roots(p, kubelet.roots_at_start))
        for p in pods
        if not verifies(chain, proxy_roots(p, kubelet.roots_at_start))
    }
    if refused:
        now = x509.load_pem_x509_certificates(cluster.api.get(ROOTS)["data"][names.BUNDLE_KEY].encode())
        raise AssertionError(
            f"these proxies (and the roots they hold) would reject a leaf whose issuer chains to "
            f"{_prints([chain[1]], issuer=True)}: {refused}; the roots ConfigMap holds {_prints(now)} now"
        )
    return len(pods)


def _prints(certs: list[x509.Certificate], issuer: bool = False) -> list[str]:
    """Short fingerprints (or, for issuer=True, authority key ids) to tell same-named anchors apart."""
    if issuer:
        aki = certs[0].extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        return [aki.hex()[:12] if aki else "?"]
    return [c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()[:12] for c in certs]


@contextlib.contextmanager
def kubelet_double(
    cluster: LocalCluster, workloads: tuple[str, ...] = ("shop",), injector_sync_seconds: float = 60.0
) -> Iterator[KubeletDouble]:
    """The kubelet double for one test; its workloads' namespaces are deleted afterwards."""
    kubelet = KubeletDouble(cluster.api, injector_sync_seconds).start()
    try:
        yield kubelet
    finally:
        try:
            for namespace in workloads:
                kubelet.delete_namespace(namespace)
        finally:
            kubelet.stop()


def later(hours: float):
    """A clock for the gates ``hours`` ahead of now (what time would do to the retire gate)."""
    return lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)


def rotate_with_control_plane(
    stack: Stack, cluster: LocalCluster, openbao, kubelet: KubeletDouble, charts: str, move_clock
) -> tuple[Timings, dict[str, int]]:
    """add, switch, retire with the stand-in control-plane chart (``charts``, a file:// URL) installed by the
    stack and one meshed workload; asserts at each step that the mesh holds. ``move_clock(hours)`` moves the
    gates' clock forward. Returns the timings and how many pods each step checked."""
    from tests.integration.cluster_only import up

    timings = Timings()
    first = up(stack, cluster, openbao, anchors="a1", linkerd="install", chartRepository=charts)
    timings.up["first"] = first.up_seconds
    kubelet.wait("identity runs", lambda: kubelet.identities)
    web = kubelet.run_workload("shop", "web")
    checked = {"first": mesh_holds(cluster, kubelet, "shop", "web")}
    first_identity = kubelet.identity

    added = phase(stack, timings, "add", anchors="a1,a2")
    a2 = pem_of(added, "a2")
    # The control plane rolled within the `up`, after the roots held a2: a new identity, holding a2.
    assert kubelet.identity is not first_identity and a2 in kubelet.identity.roots
    checked["add"] = mesh_holds(cluster, kubelet, "shop", "web")  # the old workload pod too
    kubelet.restart_workload(web)  # the injector restarted with the roots: a new pod trusts a2

    phase(stack, timings, "switch", signingAnchor="a2")
    kubelet.wait("identity to take a2's issuer", lambda: signed_by(kubelet.identity.issuer, a2), timeout=90)
    checked["switch"] = mesh_holds(cluster, kubelet, "shop", "web")

    move_clock(25)  # a workload certificate's lifetime after the switch
    before = kubelet.identity
    phase(stack, timings, "retire", anchors="a2")
    assert kubelet.identity is not before and kubelet.identity.roots == [a2]
    checked["retire"] = mesh_holds(cluster, kubelet, "shop", "web")  # old pods (a1, a2) and new (a2)
    assert kubelet.skips() == [], "identity skipped an issuer"
    return timings, checked
