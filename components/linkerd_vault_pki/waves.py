"""Opt-in restarts of the meshed workloads in waves (``restartMeshedWorkloads: true``), within a phase's `up`.

For teams that want one `up` per rotation phase and no hand steps. Off by default: restarting a team's
workloads is that team's call. Namespace by namespace (sorted, Linkerd's own left to the chart), every
Deployment, StatefulSet and DaemonSet that owns a meshed pod is restarted (`kubectl rollout restart`) and the
next namespace waits until each has rolled out (`kubectl rollout status`). A rollout that does not finish stops
the waves there, naming it: the namespaces not reached keep their pods, and the next phase's gate names them.

- After the **add** phase's control-plane roll (the injector then holds the new roots), so every proxy trusts the
  new anchor before the switch.
- After the **switch**, once Linkerd's identity has taken the new issuer (its ``IssuerUpdated`` event), the control
  plane first and then every meshed namespace, so every workload certificate comes from the new anchor's issuer
  before the retire.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from linkerd_vault_pki import gates, mesh
from linkerd_vault_pki.names import ISSUER_UPDATED, LINKERD_NAMESPACE

Kubectl = Callable[..., str]
Log = Callable[[str], None]
OWNER_KINDS = {"Deployment": "deployment", "StatefulSet": "statefulset", "DaemonSet": "daemonset"}


class WaveFailed(Exception):
    """A rollout did not finish: the message names it, and what was and was not restarted."""


@dataclass(frozen=True)
class Wave:
    namespace: str
    workloads: tuple[str, ...]  # kind/name, as kubectl names them


def plan(kubectl: Kubectl, control_plane: bool = False, namespace: str = LINKERD_NAMESPACE) -> list[Wave]:
    """The waves: each namespace with meshed pods and the workloads that own them. Linkerd's own namespace only
    with ``control_plane`` (after a switch its proxies hold old leaves too; after an add the chart rolled it), and
    then first."""
    pods = json.loads(kubectl("get", "pods", "-A", "-o", "json"))["items"]
    owners: dict[str, set[str]] = {}
    replica_sets: dict[str, dict[str, str]] = {}
    for pod in pods:
        meta = pod["metadata"]
        ns = meta["namespace"]
        if (ns == namespace and not control_plane) or meta.get("deletionTimestamp") or not mesh.is_meshed(pod):
            continue
        for ref in meta.get("ownerReferences") or []:
            if ref["kind"] in OWNER_KINDS:
                owners.setdefault(ns, set()).add(f"{OWNER_KINDS[ref['kind']]}/{ref['name']}")
            elif ref["kind"] == "ReplicaSet":
                if ns not in replica_sets:
                    listed = json.loads(kubectl("-n", ns, "get", "replicasets", "-o", "json"))["items"]
                    replica_sets[ns] = {
                        rs["metadata"]["name"]: o["name"]
                        for rs in listed
                        for o in rs["metadata"].get("ownerReferences") or []
                        if o["kind"] == "Deployment"
                    }
                if ref["name"] in replica_sets[ns]:
                    owners.setdefault(ns, set()).add(f"deployment/{replica_sets[ns][ref['name']]}")
    return [Wave(ns, tuple(sorted(owners[ns]))) for ns in sorted(owners, key=lambda n: (n != namespace, n))]


def restart(kubectl: Kubectl, waves: list[Wave], log: Log, timeout_seconds: int) -> None:
    """Each wave: restart its workloads, wait for every rollout, then the next."""
    for i, wave in enumerate(waves):
        for workload in wave.workloads:
            kubectl("-n", wave.namespace, "rollout", "restart", workload)
        for workload in wave.workloads:
            try:
                kubectl("-n", wave.namespace, "rollout", "status", workload, f"--timeout={timeout_seconds}s")
            except Exception as exc:
                left = [w.namespace for w in waves[i + 1 :]]
                raise WaveFailed(
                    f"restartMeshedWorkloads: {wave.namespace}/{workload} did not roll out within {timeout_seconds}s "
                    f"({exc}); not restarted: {', '.join(left) or 'nothing else'}. Fix it, restart the rest by hand "
                    f"(kubectl -n <namespace> rollout restart ...), then run the next phase"
                ) from exc
        log(f"restartMeshedWorkloads: {wave.namespace}: restarted {', '.join(wave.workloads)}")


def wait_for_identity(kubectl: Kubectl, issued_after: float, timeout_seconds: int, sleep=time.sleep) -> None:
    """Until Linkerd's identity reports it took an issuer issued after ``issued_after`` (a Unix time)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        taken = mesh.newest_issuer_event(gates.identity_events(kubectl), (ISSUER_UPDATED,))
        if taken is not None and mesh.event_time(taken).timestamp() >= issued_after:
            # Events and pod start times are whole seconds: restart from the next one, so that the retire gate
            # sees every restarted pod as started after identity took the issuer.
            sleep(max(0.0, mesh.event_time(taken).timestamp() + 1.5 - time.time()))
            return
        if time.monotonic() >= deadline:
            raise WaveFailed(
                f"restartMeshedWorkloads: Linkerd's identity reported no {ISSUER_UPDATED} within {timeout_seconds}s "
                "of the switch, so the workloads were not restarted (they would get certificates from the old "
                "issuer); scripts/stack verify says what identity did"
            )
        sleep(2)
