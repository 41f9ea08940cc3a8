"""The rotation's gates: what the live cluster must show before an `up` switches or retires an anchor.

A phase changes config; whether the mesh can take it is a fact of the cluster, so each gate reads the
cluster (with the stack's own kubeconfig) before anything is registered, at preview and at up:

- **switch** to anchor N: Linkerd's identity must have started with N among its roots, or it refuses the
  issuer signed by N (``IssuerUpdateSkipped``) and signs with the old issuer until it expires; and every
  meshed pod's proxy must trust N, or it cannot verify peers whose certificates come from N's issuer.
- **retire** anchor O: the identity issuer must come from the signing anchor, and no meshed pod may still
  hold a workload certificate from O's issuer: a pod started before the switch holds one until the switch
  is a workload certificate's lifetime (Linkerd's ``issuanceLifetime``, 24 h) ago.

Each refusal names the cluster, up to 10 pods and the command that restarts them. ``rotationGates:
override`` turns refusals into warnings that say what breaks (an emergency: a leaked anchor).
Pure but for ``read_cluster`` (kubectl with the stack's kubeconfig) and ``now``, which tests replace.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography import x509

from linkerd_vault_pki import mesh
from linkerd_vault_pki.names import (
    BUNDLE_NAME,
    CERTIFICATE_NAME,
    IDENTITY_DEPLOYMENT,
    ISSUER_UPDATED,
    LINKERD_NAMESPACE,
    RFC3339,
)
from linkerd_vault_pki.problems import Problem
from linkerd_vault_pki.x509 import issued_by, sha256_fingerprint

# The identity issuer is in use from a little after its notBefore: Vault backdates notBefore by 30 s
# (the sign endpoints' not_before_duration), and the kubelet refreshes identity's mounted Secret within
# its sync period plus its cache TTL (about a minute; Kubernetes docs, "Mounted Secrets are updated
# automatically"). Pods started before this much after notBefore may hold a leaf from the old issuer.
ISSUER_TAKE_OVER = dt.timedelta(minutes=2)
MOST_NAMED = 10


def now() -> dt.datetime:
    """The gates' clock (the retire gate compares it with the switch); an L2.5 test moves it forward."""
    return dt.datetime.now(dt.UTC)


class CannotRead(Exception):
    """The cluster could not be read: a gate never passes on a cluster it cannot see."""


@dataclass
class ClusterView:
    """What the gates read of one cluster."""

    pods: list[dict]
    roots: mesh.Roots
    issuer: x509.Certificate | None
    events: list[dict] = field(default_factory=list)  # identity's, on its Deployment (IssuerUpdated ...)


Kubectl = Callable[..., str]


@contextlib.contextmanager
def kubeconfig_env(kubeconfig: str) -> Iterator[dict[str, str]]:
    """The environment for kubectl (or the linkerd CLI) on a cluster: its kubeconfig in a 0600 file, removed
    afterwards, never on a command line."""
    with tempfile.TemporaryDirectory(prefix="lvp-kube-") as tmp:
        path = os.path.join(tmp, "kubeconfig")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(kubeconfig)
        yield {**os.environ, "KUBECONFIG": path}


@contextlib.contextmanager
def kubectl_for(kubeconfig: str, context: str | None = None) -> Iterator[Kubectl]:
    """``kubectl`` on a cluster through ``kubeconfig_env``; a failure is CannotRead."""
    binary = shutil.which("kubectl")
    if binary is None:
        raise CannotRead("kubectl is not installed (it reads the cluster for the rotation's gates and verify)")
    with kubeconfig_env(kubeconfig) as env:
        extra = [f"--context={context}"] if context else []

        def kubectl(*args: str) -> str:
            try:
                out = subprocess.run(
                    [binary, *extra, *args], capture_output=True, text=True, timeout=120, env=env, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise CannotRead(f"`kubectl {' '.join(args[:3])}` did not answer within 120 s") from exc
            if out.returncode != 0:
                raise CannotRead(f"`kubectl {' '.join(args[:3])} ...` failed: {out.stderr.strip()[-400:]}")
            return out.stdout

        yield kubectl


def view_of(kubectl: Kubectl, namespace: str = LINKERD_NAMESPACE) -> ClusterView:
    """Every pod, Linkerd's trust roots ConfigMap and the identity issuer's certificate (never its key)."""
    pods = json.loads(kubectl("get", "pods", "-A", "-o", "json"))["items"]
    found = kubectl(
        "-n", namespace, "get", "configmap", BUNDLE_NAME, "--ignore-not-found", "--show-managed-fields", "-o", "json"
    ).strip()
    roots = mesh.Roots.from_configmap(json.loads(found) if found else None)
    crt = kubectl(
        "-n", namespace, "get", "secret", CERTIFICATE_NAME, "--ignore-not-found", "-o", r"jsonpath={.data.tls\.crt}"
    ).strip()  # fmt: skip
    issuers = mesh.certificates(base64.b64decode(crt).decode()) if crt else []
    return ClusterView(
        pods=pods, roots=roots, issuer=issuers[0] if issuers else None, events=identity_events(kubectl, namespace)
    )


def identity_events(kubectl: Kubectl, namespace: str = LINKERD_NAMESPACE) -> list[dict]:
    """The events Linkerd's identity records on its Deployment (IssuerUpdated, IssuerUpdateSkipped, ...)."""
    selector = f"involvedObject.name={IDENTITY_DEPLOYMENT}"
    return json.loads(kubectl("-n", namespace, "get", "events", "--field-selector", selector, "-o", "json"))["items"]


def read_cluster(kubeconfig: str, context: str | None) -> ClusterView:
    with kubectl_for(kubeconfig, context) as kubectl:
        return view_of(kubectl)


def _restart_identity() -> str:
    return f"kubectl -n {LINKERD_NAMESPACE} rollout restart deploy/linkerd-identity deploy/linkerd-destination " \
        "deploy/linkerd-proxy-injector"  # fmt: skip


def switch_problems(view: ClusterView, anchor: str, pem: str, where: str) -> list[Problem]:
    """Why switching the identity issuer to ``anchor`` would break the mesh on this cluster now."""
    wanted = {sha256_fingerprint(c) for c in mesh.certificates(pem)}
    found: list[Problem] = []
    if not wanted <= view.roots.fingerprints:
        found.append(
            Problem(
                "signingAnchor",
                f"{where}Linkerd's trust roots ({LINKERD_NAMESPACE}/{BUNDLE_NAME}) do not hold {anchor} yet: the "
                f"add phase's `up` puts it there (trust-manager writes it); run it, or wait for trust-manager",
            )
        )
        return found
    stale = [
        mesh.pod_name(pod) for pod in mesh.identity_pods(view.pods) if not mesh.holds_current_roots(pod, view.roots)
    ]
    if stale:
        found.append(
            Problem(
                "signingAnchor",
                f"{where}Linkerd's identity ({mesh.listed(stale)}) started before its trust roots held {anchor}: "
                f"it would refuse the issuer {anchor} signs (IssuerUpdateSkipped) and sign with the old one until "
                f"it expires; restart the control plane first: {_restart_identity()}",
            )
        )
    behind = [
        t.pod
        for t in mesh.meshed(view.pods, view.roots)
        if (t.fingerprints is None or not wanted <= t.fingerprints) and t.pod not in stale
    ]
    if behind:
        found.append(
            Problem(
                "signingAnchor",
                f"{where}{len(behind)} meshed pod(s) do not trust {anchor} yet: {mesh.listed(behind)}; they could "
                f"not verify peers certified under {anchor}. Once the proxy injector holds the new roots (restart "
                f"it first, or wait a minute after the add phase), restart them: {mesh.restart_hint(behind)}",
            )
        )
    return found


def retire_problems(
    view: ClusterView, retired: str, signing: str, signing_pem: str, lifetime: dt.timedelta, at: dt.datetime, where: str
) -> list[Problem]:
    """Why taking ``retired`` out of the bundle would break the mesh on this cluster now."""
    signer = mesh.certificates(signing_pem)
    if view.issuer is None or not signer or not issued_by(view.issuer, signer[0]):
        return [
            Problem(
                "anchors",
                f"{where}the identity issuer ({LINKERD_NAMESPACE}/{CERTIFICATE_NAME}) is not signed by {signing} "
                f"yet, so certificates from {retired}'s issuer are still being handed out; wait for cert-manager to "
                "re-issue it after the switch (scripts/stack verify says when)",
            )
        ]
    # When identity took the issuer: its IssuerUpdated event since the issuer's notBefore, or else that plus the
    # time a Secret takes to reach its pod. Pods started before then may hold a leaf from the old issuer.
    issued = view.issuer.not_valid_before_utc
    taken = mesh.newest_issuer_event(view.events, (ISSUER_UPDATED,))
    since = mesh.event_time(taken) if taken and mesh.event_time(taken) >= issued else issued + ISSUER_TAKE_OVER
    safe_at = since + lifetime
    if at >= safe_at:
        return []
    older = [t.pod for t in mesh.meshed(view.pods, view.roots) if t.started is None or t.started <= since]
    if not older:
        return []
    return [
        Problem(
            "anchors",
            f"{where}{len(older)} meshed pod(s) started before the switch to {signing} took effect "
            f"({since.strftime(RFC3339)}) and may hold a workload certificate from {retired}'s issuer until "
            f"{safe_at.strftime(RFC3339)}: {mesh.listed(older)}; once {retired} leaves their peers' roots those "
            f"peers reject them. Restart them ({mesh.restart_hint(older)}), or retire after "
            f"{safe_at.strftime(RFC3339)}",
        )
    ]


SWITCH_OVERRIDDEN = (
    "rotationGates: override: the switch goes ahead anyway. What breaks: Linkerd's identity keeps the issuer it "
    "holds when the new one does not verify against its roots, and cannot issue certificates once that one expires "
    "(issuerDuration); proxies that do not trust the new anchor reject peers certified under it. Restart the "
    "control plane, then the meshed workloads, as soon as you can"
)
RETIRE_OVERRIDDEN = (
    "rotationGates: override: the retire goes ahead anyway. What breaks: pods holding a workload certificate "
    "from the retired anchor's issuer are rejected by every proxy that no longer trusts it, until they restart "
    "or renew"
)
