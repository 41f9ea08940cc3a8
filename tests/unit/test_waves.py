"""restartMeshedWorkloads (linkerd_vault_pki/waves.py) against a fake kubectl: which workloads, in which order, and
what a
rollout that does not finish says. The real thing runs at L2.5 (tests/integration/test_cluster_mesh_rotation.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from linkerd_vault_pki import waves
from tests.helpers import control_plane_pod, issuer_event, meshed_pod


def owned(pod: dict, kind: str, name: str, namespace: str) -> dict:
    pod["metadata"]["namespace"] = namespace
    pod["metadata"]["ownerReferences"] = [{"kind": kind, "name": name}]
    return pod


class FakeKubectl:
    def __init__(self, pods: list[dict], replica_sets: dict[str, list[dict]], stuck: set[str] = frozenset()):
        self.pods, self.replica_sets, self.stuck = pods, replica_sets, stuck
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str) -> str:
        self.calls.append(args)
        if args[:2] == ("get", "pods"):
            return json.dumps({"items": self.pods})
        if "replicasets" in args:
            return json.dumps({"items": self.replica_sets.get(args[1], [])})
        if "status" in args and args[4] in self.stuck:
            raise RuntimeError(f"error: timed out waiting for the condition on {args[4]}")
        return ""


UNMESHED = {"metadata": {"name": "plain"}, "spec": {"containers": [{"name": "app"}]}}


def replica_set(name: str, deployment: str) -> dict:
    return {"metadata": {"name": name, "ownerReferences": [{"kind": "Deployment", "name": deployment}]}}


def cluster() -> FakeKubectl:
    now = dt.datetime.now(dt.UTC)
    pods = [
        owned(meshed_pod("web-1", "pem"), "ReplicaSet", "web-5d8f7", "shop"),
        owned(meshed_pod("web-2", "pem"), "ReplicaSet", "web-5d8f7", "shop"),
        owned(meshed_pod("db-0", "pem"), "StatefulSet", "db", "data"),
        owned(
            {"metadata": {"name": "plain"}, "spec": {"containers": [{"name": "app"}]}}, "ReplicaSet", "plain-1", "other"
        ),
        owned(control_plane_pod("identity", now), "ReplicaSet", "linkerd-identity-1", "linkerd"),
    ]
    sets = {
        "shop": [replica_set("web-5d8f7", "web")],
        "linkerd": [
            {
                "metadata": {
                    "name": "linkerd-identity-1",
                    "ownerReferences": [{"kind": "Deployment", "name": "linkerd-identity"}],
                }
            }
        ],
    }
    return FakeKubectl(pods, sets)


def test_each_namespace_with_meshed_pods_is_a_wave_of_the_workloads_that_own_them():
    planned = waves.plan(cluster())
    assert planned == [waves.Wave("data", ("statefulset/db",)), waves.Wave("shop", ("deployment/web",))]


def test_after_a_switch_the_control_plane_goes_first():
    planned = waves.plan(cluster(), control_plane=True)
    assert [w.namespace for w in planned] == ["linkerd", "data", "shop"]
    assert planned[0].workloads == ("deployment/linkerd-identity",)


def test_a_wave_waits_for_its_rollouts_before_the_next_starts():
    kubectl = cluster()
    said: list[str] = []
    waves.restart(kubectl, waves.plan(kubectl), said.append, timeout_seconds=60)
    steps = [c for c in kubectl.calls if "rollout" in c]
    assert steps == [
        ("-n", "data", "rollout", "restart", "statefulset/db"),
        ("-n", "data", "rollout", "status", "statefulset/db", "--timeout=60s"),
        ("-n", "shop", "rollout", "restart", "deployment/web"),
        ("-n", "shop", "rollout", "status", "deployment/web", "--timeout=60s"),
    ]
    assert said == [
        "restartMeshedWorkloads: data: restarted statefulset/db",
        "restartMeshedWorkloads: shop: restarted deployment/web",
    ]


def test_a_rollout_that_does_not_finish_stops_the_waves_naming_it_and_what_is_left():
    kubectl = cluster()
    kubectl.stuck = {"statefulset/db"}
    with pytest.raises(waves.WaveFailed) as err:
        waves.restart(kubectl, waves.plan(kubectl), lambda _line: None, timeout_seconds=60)
    assert "data/statefulset/db did not roll out within 60s" in str(err.value)
    assert "not restarted: shop" in str(err.value)
    assert not [c for c in kubectl.calls if c[:2] == ("-n", "shop") and "rollout" in c]


def test_the_switch_waits_for_identity_to_take_the_issuer():
    now = dt.datetime.now(dt.UTC)
    events: list[dict] = []

    def kubectl(*args: str) -> str:
        return json.dumps({"items": events})

    slept: list[float] = []
    with pytest.raises(waves.WaveFailed, match="reported no IssuerUpdated within 0s"):
        waves.wait_for_identity(kubectl, now.timestamp(), timeout_seconds=0, sleep=slept.append)
    events.append(issuer_event("IssuerUpdateSkipped", now))
    with pytest.raises(waves.WaveFailed):
        waves.wait_for_identity(kubectl, now.timestamp() - 1, timeout_seconds=0, sleep=slept.append)
    events.append(issuer_event("IssuerUpdated", now))
    waves.wait_for_identity(kubectl, now.timestamp() - 1, timeout_seconds=0, sleep=slept.append)
    assert slept and slept[-1] > 0  # restarts begin in the second after identity's event
