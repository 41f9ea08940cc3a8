"""L2.5: a trust-anchor rotation with Linkerd's control plane in the loop, through its doubles.

The real engine, API server, kube-controller-manager, cert-manager, trust-manager and OpenBao (through the L2
applier), with Linkerd's identity service, proxy injector and kubelet as doubles written from Linkerd's code
(tests/integration/linkerd_double.py): Linkerd's own images run only in L3.

- The failure the gates exist for: Linkerd installed elsewhere, the gates overridden, add then switch without
  restarting the control plane: identity skips the new issuer (IssuerUpdateSkipped) and verify says so.
- The phases hold the mesh: with the stand-in control-plane chart, each `up` rolls the control plane after the
  roots hold the new set; at every step a leaf identity certifies verifies against every pod's roots.
- Every gate refuses with its message, then passes once the pods restarted or the clock moved on.
"""

from __future__ import annotations

import pytest
from pulumi import automation as auto

from linkerd_vault_pki import gates, names
from tests.integration.cluster_only import cluster_stack, run_verify, up
from tests.integration.linkerd_double import (
    InjectorWebhook,
    create_control_plane,
    meshed_deployment,
    roll,
    rolled_out,
    stand_in_control_plane_chart,
)
from tests.integration.mesh_rotation import (
    Timings,
    issuer_now,
    kubelet_double,
    later,
    mesh_holds,
    pem_of,
    phase,
    rotate_with_control_plane,
    signed_by,
)

pytestmark = pytest.mark.integration


def refused(stack, timings: Timings, name: str, **settings: str) -> str:
    """The phase's `up`, refused by a gate: what it said."""
    with pytest.raises(auto.CommandError) as err:
        phase(stack, timings, name, **settings)
    text = str(err.value)
    assert "the anchor rotation cannot go on yet" in text, text[-3000:]
    return text


def test_without_a_restart_identity_skips_the_new_issuer_and_verify_fails(engine, openbao, cluster, tmp_path):
    """What the old runbook did: add, then switch, Linkerd's control plane never restarted (gates overridden)."""
    timings = Timings()
    with cluster_stack(engine, tmp_path, openbao, prefix="l25-skip") as stack, kubelet_double(cluster) as kubelet:
        first = up(stack, cluster, openbao, anchors="a1", rotationGates="override")
        create_control_plane(cluster.api)  # Linkerd installed by another tool
        kubelet.wait("identity runs", lambda: kubelet.identities)
        a1 = pem_of(first.outputs, "a1")
        added = phase(stack, timings, "add", anchors="a1,a2")
        a2 = pem_of(added, "a2")
        phase(stack, timings, "switch", signingAnchor="a2")
        cluster.api.wait(
            f"/api/v1/namespaces/linkerd/secrets/{names.CERTIFICATE_NAME}",
            lambda s: signed_by(issuer_now(cluster), a2),
            timeout=90,
            what="the issuer re-issued under a2",
        )
        kubelet.wait("identity to see the new issuer", lambda: kubelet.skips(), timeout=30)
        assert kubelet.skips() == [names.ISSUER_UPDATE_SKIPPED]
        assert signed_by(kubelet.identity.issuer, a1)  # still signing with a1's issuer, until it expires
        result = run_verify(stack, "--skip-linkerd-check")
        assert result.returncode == 1, result.stdout + result.stderr
        fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
        assert any("Linkerd's identity has taken the current issuer" in f and "IssuerUpdateSkipped" in f for f in fails)
        assert "PASS  the issuer is signed by the signing anchor (a2)" in result.stdout  # the Secret alone looks fine
        stack.stack.destroy(on_output=lambda _line: None)


def test_each_phase_rolls_the_control_plane_and_the_mesh_holds(engine, openbao, cluster, tmp_path, monkeypatch):
    folder = tmp_path / "charts"
    stand_in_control_plane_chart(folder)
    with (
        cluster_stack(engine, tmp_path / "stack", openbao, prefix="l25-mesh") as stack,
        kubelet_double(cluster) as kubelet,
    ):

        def move_clock(hours: float) -> None:
            # First the retire the gate refuses: the workload restarted after the add, before the switch.
            said = refused(stack, Timings(), "retire (refused)", anchors="a2")
            assert "shop/web" in said and "a1's issuer" in said
            monkeypatch.setattr(gates, "now", later(hours))

        timings, checked = rotate_with_control_plane(stack, cluster, openbao, kubelet, f"file://{folder}", move_clock)
        assert set(timings.roll) == {"add", "retire"}  # the switch changes no root: no roll
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
        result = run_verify(stack, "--skip-linkerd-check")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "PASS  Linkerd's identity has taken the current issuer" in result.stdout
        # verify --within, as a scheduled job runs it: the 48 h issuer within 72 h, the 90-day anchor within 100 days.
        soon = run_verify(stack, "--within", "72h")
        assert soon.returncode == 1 and "EXPIRING  identity issuer expires in" in soon.stdout, soon.stdout
        assert "trust anchor" not in soon.stdout
        later_on = run_verify(stack, "--within", "2400h")
        assert "EXPIRING  trust anchor a2 expires in" in later_on.stdout and "a1" not in later_on.stdout
        quiet = run_verify(stack, "--within", "1h")
        assert quiet.returncode == 0 and "nothing expires within" in quiet.stdout, quiet.stdout + quiet.stderr
    print(f"\n[l2.5] rotation with the control plane rolled: {timings.line()}; pods checked per step {checked}")


def test_every_gate_refuses_then_passes(engine, openbao, cluster, tmp_path, monkeypatch):
    timings = Timings()
    with cluster_stack(engine, tmp_path, openbao, prefix="l25-gates") as stack, kubelet_double(cluster) as kubelet:
        up(stack, cluster, openbao, anchors="a1")
        create_control_plane(cluster.api)  # installed elsewhere: the stack cannot roll it
        kubelet.wait("identity runs", lambda: kubelet.identities)
        web = kubelet.run_workload("shop", "web")
        phase(stack, timings, "add", anchors="a1,a2")

        said = refused(stack, timings, "switch (refused)", signingAnchor="a2")
        assert "Linkerd's identity (linkerd/linkerd-identity-" in said and "rollout restart" in said
        assert "shop/web" in said

        old = kubelet.identity
        for deployment in names.CONTROL_PLANE_DEPLOYMENTS:
            roll(cluster.api, deployment)
        kubelet.wait("the control plane rolled out", lambda: rolled_out(cluster.api) and kubelet.identity is not old)
        said = refused(stack, timings, "switch (refused)", signingAnchor="a2")
        assert "Linkerd's identity (" not in said  # restarted after the roots held a2
        assert "1 meshed pod(s) do not trust a2 yet: shop/web-" in said

        web = kubelet.restart_workload(web)
        phase(stack, timings, "switch", signingAnchor="a2")

        said = refused(stack, timings, "retire (refused)", anchors="a2")
        assert "may hold a workload certificate from a1's issuer" in said
        assert "linkerd/linkerd-identity-" in said and "shop/web" in said  # started before the switch
        monkeypatch.setattr(gates, "now", later(25))
        phase(stack, timings, "retire", anchors="a2")
        assert kubelet.skips() == []
    print(f"\n[l2.5] gates: {timings.line()}")


def test_restarts_in_waves_make_each_phase_one_up(engine, openbao, cluster, tmp_path):
    """restartMeshedWorkloads: the add and switch phases restart the meshed workloads namespace by namespace
    (injected by the injector double behind a real admission webhook), so no gate has anything to refuse and
    no hand step is left: add, switch, retire are three `up`s."""
    folder = tmp_path / "charts"
    stand_in_control_plane_chart(folder)
    timings = Timings()
    teams = ("team-a", "team-b")
    with (
        cluster_stack(engine, tmp_path / "stack", openbao, prefix="l25-waves") as stack,
        kubelet_double(cluster, workloads=teams) as kubelet,
    ):
        webhook = InjectorWebhook(cluster.api, kubelet.injector)
        try:
            up(
                stack, cluster, openbao, anchors="a1", linkerd="install", chartRepository=f"file://{folder}",
                restartMeshedWorkloads="true",
            )  # fmt: skip
            kubelet.wait("identity runs", lambda: kubelet.identities)
            for team in teams:
                meshed_deployment(cluster.api, team, "web")
            kubelet.wait("the workloads run", lambda: all(rolled_out(cluster.api, ("web",), t) for t in teams))

            added = phase(stack, timings, "add", anchors="a1,a2")
            assert added["workloadRestarts"] == {"": ["team-a: deployment/web", "team-b: deployment/web"]}
            a2 = pem_of(added, "a2")
            for team in teams:
                mesh_holds(cluster, kubelet, team, "default")

            switched = phase(stack, timings, "switch", signingAnchor="a2")  # no refusal: every proxy trusts a2
            assert switched["workloadRestarts"] == {
                "": [
                    "linkerd: " + ", ".join(f"deployment/{d}" for d in sorted(names.CONTROL_PLANE_DEPLOYMENTS)),
                    *added["workloadRestarts"][""],
                ]
            }
            assert signed_by(kubelet.identity.issuer, a2)

            retired = phase(stack, timings, "retire", anchors="a2")  # no clock moved: every leaf is a2's issuer's
            assert "workloadRestarts" not in retired
            for team in teams:
                mesh_holds(cluster, kubelet, team, "default")
            assert kubelet.skips() == []
        finally:
            webhook.close()
    print(f"\n[l2.5] restarts in waves: {timings.line()}")
