"""The rotation's gates (linkerd_vault_pki/gates.py) on fake clusters; the program refuses a phase before it
registers anything."""

from __future__ import annotations

import datetime as dt

import pytest

from linkerd_vault_pki import gates, mesh, names
from stack import rotation
from tests import harness
from tests.harness import cfg, issued_by, make_ca, render
from tests.helpers import control_plane_pod, meshed_pod, stamp

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
A1, A1_KEY = make_ca(common_name="root1.linkerd.cluster.local", start=NOW - dt.timedelta(days=30))
A2, A2_KEY = make_ca(common_name="root2.linkerd.cluster.local", start=NOW - dt.timedelta(days=1))
DAY = dt.timedelta(hours=24)


def roots(*pems: str, changed: dt.datetime) -> mesh.Roots:
    managed = [{"manager": "trust-manager", "time": stamp(changed), "fieldsV1": {"f:data": {}}}]
    return mesh.Roots.from_configmap(
        {"metadata": {"managedFields": managed}, "data": {names.BUNDLE_KEY: "".join(pems)}}
    )


def started(pod: dict, when: dt.datetime) -> dict:
    pod["metadata"]["creationTimestamp"] = stamp(when)
    pod.setdefault("status", {})["startTime"] = stamp(when)
    return pod


def after_add(identity_started: dt.datetime, workloads: list[dict]) -> gates.ClusterView:
    """The add phase's bundle (a1 and a2, written an hour ago), identity started when said, a1's issuer."""
    view_roots = roots(A1, A2, changed=NOW - dt.timedelta(hours=1))
    identity = control_plane_pod("identity", identity_started)
    issuer = issued_by(A1, A1_KEY)
    return gates.ClusterView([identity, *workloads], view_roots, mesh.certificates(issuer)[0])


# --- switch -------------------------------------------------------------------------------------------------


def test_switch_is_refused_while_identity_runs_on_roots_without_the_new_anchor():
    view = after_add(NOW - dt.timedelta(hours=2), [])
    (problem,) = gates.switch_problems(view, "a2", A2, "")
    assert problem.key == "signingAnchor"
    assert "linkerd/linkerd-identity-5d8f7" in problem and "IssuerUpdateSkipped" in problem
    assert "kubectl -n linkerd rollout restart deploy/linkerd-identity" in problem


def test_switch_passes_once_identity_restarted_after_the_roots_held_the_anchor():
    assert gates.switch_problems(after_add(NOW - dt.timedelta(minutes=30), []), "a2", A2, "") == []


def test_a_pod_this_stack_rolled_carries_the_digest_and_passes_even_in_the_same_second():
    view = after_add(NOW - dt.timedelta(hours=1), [])  # the same second as the roots' change: ambiguous by time
    view.pods[0]["metadata"]["annotations"] = {names.ROOTS_DIGEST_ANNOTATION: mesh.roots_digest([A1, A2])}
    assert gates.switch_problems(view, "a2", A2, "") == []
    view.pods[0]["metadata"]["annotations"] = {names.ROOTS_DIGEST_ANNOTATION: mesh.roots_digest([A1])}
    assert len(gates.switch_problems(view, "a2", A2, "")) == 1  # the digest of the set before the add


def test_switch_names_meshed_pods_without_the_new_anchor_at_most_ten():
    old = [started(meshed_pod(f"web-{i:02}", A1), NOW - dt.timedelta(hours=5)) for i in range(12)]
    new = [started(meshed_pod("api", A1 + A2), NOW - dt.timedelta(minutes=5))]
    (problem,) = gates.switch_problems(after_add(NOW - dt.timedelta(minutes=30), old + new), "a2", A2, "cluster east: ")
    assert problem.startswith("signingAnchor: cluster east: 12 meshed pod(s) do not trust a2")
    assert "shop/web-09" in problem and "shop/web-10" not in problem and "and 2 more" in problem
    assert "shop/api" not in problem
    assert "kubectl -n shop rollout restart" in problem


def test_switch_is_refused_while_the_roots_lack_the_anchor():
    view = gates.ClusterView([], roots(A1, changed=NOW), None)
    (problem,) = gates.switch_problems(view, "a2", A2, "")
    assert "do not hold a2 yet" in problem


# --- retire -------------------------------------------------------------------------------------------------


def after_switch(pods: list[dict]) -> gates.ClusterView:
    """The switch done an hour ago: a2's issuer (notBefore an hour ago), both anchors in the roots."""
    issuer = mesh.certificates(issued_by(A2, A2_KEY))[0]
    return gates.ClusterView(pods, roots(A1, A2, changed=NOW - dt.timedelta(hours=3)), issuer)


def test_retire_is_refused_while_pods_started_before_the_switch_may_hold_old_leaves():
    # a2 was made a day ago, and its issuer (issued_by) starts when a2 does.
    old = started(meshed_pod("web", A1 + A2), NOW - dt.timedelta(days=2))
    view = after_switch([old])
    switched = view.issuer.not_valid_before_utc
    (problem,) = gates.retire_problems(view, "a1", "a2", A2, DAY, switched + dt.timedelta(hours=3), "")
    assert problem.key == "anchors" and "shop/web" in problem and "a1's issuer" in problem
    safe = switched + gates.ISSUER_TAKE_OVER + DAY
    assert safe.strftime(names.RFC3339) in problem
    # The same pods, a workload certificate's lifetime after the switch took effect: every leaf is a2's.
    assert gates.retire_problems(view, "a1", "a2", A2, DAY, safe, "") == []


def test_retire_passes_once_the_pods_restarted_after_the_switch():
    view = after_switch([])
    switched = view.issuer.not_valid_before_utc
    view.pods = [started(meshed_pod("web", A1 + A2), switched + dt.timedelta(minutes=10))]
    assert gates.retire_problems(view, "a1", "a2", A2, DAY, switched + dt.timedelta(hours=1), "") == []


def test_retire_is_refused_while_the_issuer_still_comes_from_the_old_anchor():
    view = gates.ClusterView([], roots(A1, A2, changed=NOW), mesh.certificates(issued_by(A1, A1_KEY))[0])
    (problem,) = gates.retire_problems(view, "a1", "a2", A2, DAY, NOW, "")
    assert "not signed by a2" in problem


# --- the program: refused before anything is registered ------------------------------------------------------

SWITCHED = {"anchors": "[a1, a2]", "signingAnchor": "a2"}


def deployed_after_add() -> dict:
    return {
        rotation.OUTPUT: {"anchors": ["a1", "a2"], "signing": "a1"},
        "trustAnchors": {"a1": {"pem": A1, "signing": True}, "a2": {"pem": A2, "signing": False}},
        "kubeconfig": harness.FAKE_KUBECONFIG,
    }


def stale_identity(_kubeconfig: str, _context: str | None) -> gates.ClusterView:
    return after_add(NOW - dt.timedelta(hours=2), [])


def test_the_program_refuses_a_switch_the_cluster_cannot_take_before_registering_anything():
    from stack.program import RotationBlocked

    partial = harness.Rendered()
    with pytest.raises(RotationBlocked) as err:
        render(cfg(**SWITCHED), deployed=deployed_after_add(), partial=partial, cluster=stale_identity)
    assert "signingAnchor: Linkerd's identity (linkerd/linkerd-identity-5d8f7)" in str(err.value)
    assert partial.resources == []


def test_override_goes_ahead_and_warns_what_breaks(monkeypatch):
    from stack import program

    said: list[str] = []
    monkeypatch.setattr(program.pulumi.log, "warn", said.append)
    rendered = render(cfg(**SWITCHED, rotationGates="override"), deployed=deployed_after_add(), cluster=stale_identity)
    assert rendered.custom_resource("ClusterIssuer").inputs["metadata"]["name"] == "vault-a2"
    assert any("[overridden]" in w and "linkerd-identity" in w for w in said)
    assert gates.SWITCH_OVERRIDDEN in said


def test_a_cluster_that_cannot_be_read_is_a_refusal_naming_it_not_a_pass():
    from stack.program import RotationBlocked

    def unreachable(_kubeconfig: str, _context: str | None) -> gates.ClusterView:
        raise gates.CannotRead("`kubectl get pods -A ...` failed: connection refused")

    with pytest.raises(RotationBlocked) as err:
        render(cfg(**SWITCHED), deployed=deployed_after_add(), cluster=unreachable)
    assert "kubeconfig: could not read the cluster" in str(err.value) and "connection refused" in str(err.value)


def test_the_gates_read_an_existing_cluster_with_its_kubeconfig_and_context():
    seen: list[tuple[str, str | None]] = []

    def record(kubeconfig: str, context: str | None) -> gates.ClusterView:
        seen.append((kubeconfig, context))
        return after_add(NOW - dt.timedelta(minutes=30), [])

    existing = {**harness.MODES["existing+external"], **SWITCHED, "kubeContext": "prod-admin"}
    render(cfg(**existing), deployed=deployed_after_add(), cluster=record)
    assert seen == [(cfg(**existing).clusters[0].cluster.kubeconfig.value, "prod-admin")]


def test_bad_gate_settings_are_refused_by_key():
    assert harness.config_problems(rotationGates="skip") == ["rotationGates: 'skip' is not one of enforce, override"]
    assert harness.config_problems(workloadCertLifetime="10m") == [
        "workloadCertLifetime: 10m is not from 1h to 720h (30 days)"
    ]
