"""What Linkerd's pods trust and when they started, read from the objects the API server returns.

Pure functions over the JSON of pods, the trust roots ConfigMap and events, shared by the rotation gates
(``gates.py``, before an `up` switches or retires an anchor) and ``scripts/verify.py`` (after it).
They read no SDK, so ``verify`` imports them without Pulumi.

How a pod comes by its roots, read from Linkerd's code (linkerd/linkerd2):

- **Injected workloads**: the proxy injector reads its mounted copy of ``linkerd-identity-trust-roots`` on
  every admission (``controller/proxy-injector/webhook.go``) and writes it into the proxy's
  ``LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS`` value, with ``linkerd.io/trust-root-sha256`` (the sha256sum of that
  PEM, ``charts/partials/templates/_metadata.tpl``). The pod keeps them until it is recreated.
- **The control plane's own pods** (identity, destination, proxy-injector) take the variable from the
  ConfigMap (``valueFrom.configMapKeyRef``, ``charts/partials/templates/_proxy.tpl`` with
  ``proxy.loadTrustBundleFromConfigMap``), resolved when the container starts; identity loads its roots once,
  at start, into the pool it verifies every new issuer against (``controller/cmd/identity``,
  ``pkg/identity/service.go``). Which roots such a pod holds is the ConfigMap's content at its start: the
  current one if it started after the ConfigMap last changed, or carries the digest of the current set that
  this stack stamps on the pods it rolls (``ROOTS_DIGEST_ANNOTATION``); otherwise unknown, and taken as stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

from linkerd_vault_pki.names import (
    BUNDLE_KEY,
    BUNDLE_NAME,
    COMPONENT_LABEL,
    INJECTED_ROOTS_SHA256,
    LINKERD_NAMESPACE,
    PROXY_CONTAINER,
    PROXY_TRUST_ENV,
    ROOTS_DIGEST_ANNOTATION,
)
from linkerd_vault_pki.x509 import sha256_fingerprint


def certificates(pem: str) -> list[x509.Certificate]:
    """The certificates in a PEM blob; none when it is empty or not PEM."""
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []


def roots_digest(pems: Iterable[str]) -> str:
    """The digest of a set of anchors: order, duplicates and PEM layout do not change it.

    The program computes it from the anchors it puts in the bundle; the gates and verify from what
    trust-manager wrote into the trust roots ConfigMap. Equal sets, equal digests.
    """
    prints = sorted({sha256_fingerprint(c) for pem in pems for c in certificates(pem)})
    return hashlib.sha256("\n".join(prints).encode()).hexdigest()


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Roots:
    """Linkerd's trust roots ConfigMap as it is now."""

    text: str
    fingerprints: frozenset[str]
    digest: str
    changed_at: dt.datetime | None
    """When its data last changed: the newest managedFields entry that owns data (whole seconds)."""

    @classmethod
    def from_configmap(cls, configmap: dict | None) -> Roots:
        configmap = configmap or {}
        text = (configmap.get("data") or {}).get(BUNDLE_KEY, "")
        changes = [
            parse_time(entry.get("time"))
            for entry in (configmap.get("metadata") or {}).get("managedFields") or []
            if "f:data" in (entry.get("fieldsV1") or {})
        ]
        changes = [c for c in changes if c is not None]
        return cls(
            text=text,
            fingerprints=frozenset(sha256_fingerprint(c) for c in certificates(text)),
            digest=roots_digest([text]),
            changed_at=max(changes) if changes else None,
        )


def pod_name(pod: dict) -> str:
    meta = pod.get("metadata", {})
    return f"{meta.get('namespace')}/{meta.get('name')}"


def started_at(pod: dict) -> dt.datetime | None:
    """When the pod started (the kubelet's startTime), or was created when it has not started yet."""
    return parse_time((pod.get("status") or {}).get("startTime")) or parse_time(
        pod.get("metadata", {}).get("creationTimestamp")
    )


def holds_current_roots(pod: dict, roots: Roots) -> bool:
    """A pod that read the roots ConfigMap at its start read the current set: it carries this stack's digest of
    that set, or it started after the ConfigMap last changed (a pod of the same second counts as before)."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    if annotations.get(ROOTS_DIGEST_ANNOTATION) == roots.digest:
        return True
    started = started_at(pod)
    return started is not None and roots.changed_at is not None and started > roots.changed_at


@dataclass(frozen=True)
class PodTrust:
    pod: str
    fingerprints: frozenset[str] | None
    """The anchors its proxy trusts; None when they cannot be known (read from the ConfigMap before it last
    changed): such a pod counts as trusting nothing new."""
    source: str
    """injected (the proxy's own value), configmap (read at start) or annotation (the injector's digest)."""
    started: dt.datetime | None


def _proxy(pod: dict) -> dict | None:
    spec = pod.get("spec", {})
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        if container.get("name") == PROXY_CONTAINER:
            return container
    return None


def is_meshed(pod: dict) -> bool:
    """The pod runs Linkerd's proxy (as a container, or a native sidecar)."""
    return _proxy(pod) is not None


def pod_trust(pod: dict, roots: Roots) -> PodTrust | None:
    """What a meshed pod's proxy trusts; None for a pod without Linkerd's proxy."""
    proxy = _proxy(pod)
    if proxy is None:
        return None
    name, started = pod_name(pod), started_at(pod)
    for env in proxy.get("env", []):
        if env.get("name") != PROXY_TRUST_ENV:
            continue
        if "value" in env:
            prints = frozenset(sha256_fingerprint(c) for c in certificates(env.get("value") or ""))
            return PodTrust(name, prints, "injected", started)
        ref = (env.get("valueFrom") or {}).get("configMapKeyRef") or {}
        if ref.get("name") == BUNDLE_NAME and ref.get("key", BUNDLE_KEY) == BUNDLE_KEY:
            current = holds_current_roots(pod, roots)
            return PodTrust(name, roots.fingerprints if current else None, "configmap", started)
    # No value to read: the injector's digest of the PEM it stamped in says whether it was the current set.
    stamped = (pod.get("metadata", {}).get("annotations") or {}).get(INJECTED_ROOTS_SHA256)
    if stamped and stamped == hashlib.sha256(roots.text.encode()).hexdigest():
        return PodTrust(name, roots.fingerprints, "annotation", started)
    return PodTrust(name, None, "annotation", started)


def meshed(pods: Iterable[dict], roots: Roots) -> list[PodTrust]:
    found = [pod_trust(pod, roots) for pod in pods if not pod.get("metadata", {}).get("deletionTimestamp")]
    return sorted((t for t in found if t is not None), key=lambda t: t.pod)


def identity_pods(pods: Iterable[dict], namespace: str = LINKERD_NAMESPACE) -> list[dict]:
    """The running (not terminating) pods of Linkerd's identity service."""
    return [
        p
        for p in pods
        if p.get("metadata", {}).get("namespace") == namespace
        and (p.get("metadata", {}).get("labels") or {}).get(COMPONENT_LABEL) == "identity"
        and not p.get("metadata", {}).get("deletionTimestamp")
    ]


def newest_issuer_event(events: Iterable[dict], reasons: tuple[str, ...]) -> dict | None:
    """The newest of identity's issuer events (IssuerUpdated, IssuerUpdateSkipped) on its Deployment."""
    found = [e for e in events if e.get("reason") in reasons]
    return max(found, key=event_time, default=None)


def event_time(event: dict) -> dt.datetime:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        when = parse_time(event.get(key)) if isinstance(event.get(key), str) else None
        if when is not None:
            return when
    created = parse_time(event.get("metadata", {}).get("creationTimestamp"))
    return created or dt.datetime.min.replace(tzinfo=dt.UTC)


def restart_hint(pods: Iterable[str]) -> str:
    """The command that restarts the workloads of these pods, namespace by namespace."""
    namespaces = sorted({p.split("/", 1)[0] for p in pods})
    return "; ".join(f"kubectl -n {ns} rollout restart deploy,statefulset,daemonset" for ns in namespaces)


def listed(names: list[str], most: int = 10) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
