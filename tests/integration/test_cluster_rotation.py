"""L2.5: a trust-anchor rotation on a real API server, cert-manager signing through OpenBao.

Phase by phase (one `up` each), what trust-manager writes into the trust
bundle and what cert-manager issues as Linkerd's identity issuer, and what
`scripts/verify.py` says of it: add (both anchors in the bundle, the issuer
untouched), switch (the issuer re-issued under the new anchor, through the
ClusterIssuer named after it), retire (the old anchor out of the bundle, the
issuer untouched). `up` times per phase are printed (run with -s).
"""

from __future__ import annotations

import base64
import time

import pytest
from cryptography import x509

from linkerd_vault_pki import names
from tests.integration.cluster_only import CERTIFICATE, ISSUER_SECRET, cluster_stack, provided, run_verify, up
from tests.integration.kube import LocalCluster, is_true
from tests.integration.stacks import Stack

pytestmark = pytest.mark.integration

ROOTS = f"/api/v1/namespaces/linkerd/configmaps/{names.BUNDLE_NAME}"


def clusterissuer(anchor: str) -> str:
    return f"/apis/cert-manager.io/v1/clusterissuers/{names.cluster_issuer_name(anchor)}"


def pem_of(outputs: dict, anchor: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(outputs["trustAnchors"][anchor]["pem"].encode())


def issuer_now(cluster: LocalCluster) -> x509.Certificate:
    data = cluster.api.get(ISSUER_SECRET)["data"]
    return x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))


def bundle_holds(cluster: LocalCluster, anchors: list[x509.Certificate], what: str) -> None:
    """Wait for trust-manager to write exactly ``anchors`` into Linkerd's trust roots."""
    wanted = sorted(a.fingerprint(a.signature_hash_algorithm) for a in anchors)
    cluster.api.wait(
        ROOTS,
        lambda cm: (
            sorted(
                c.fingerprint(c.signature_hash_algorithm)
                for c in x509.load_pem_x509_certificates(cm["data"][names.BUNDLE_KEY].encode())
            )
            == wanted
        ),
        what=what,
    )


def chains_to(anchor: x509.Certificate):
    def check(secret: dict) -> bool:
        issuer = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
        try:
            issuer.verify_directly_issued_by(anchor)
        except Exception:
            return False
        return True

    return check


def verified(stack: Stack) -> str:
    """`scripts/stack verify` passes; what it printed."""
    result = run_verify(stack, "--skip-linkerd-check")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_each_phase_reaches_the_bundle_and_the_issuer(engine, openbao, cluster, tmp_path):
    timings: dict[str, float] = {}
    with cluster_stack(engine, tmp_path, openbao, prefix="l25-rot") as stack:
        first = up(stack, cluster, openbao, anchors="a1")
        timings["first up"] = first.up_seconds
        a1 = pem_of(first.outputs, "a1")
        bundle_holds(cluster, [a1], "the first bundle")
        issued_by_a1 = issuer_now(cluster)
        issued_by_a1.verify_directly_issued_by(a1)
        assert "PASS  the issuer is signed by the signing anchor (a1)" in verified(stack)

        slowest: dict[str, str] = {}

        def phase(name: str, **settings: str) -> dict:
            """The Vault-only stack's phase first (its `up`), then the cluster stack's, timed."""
            settings, secrets = provided(stack.vault_side.apply(**settings))
            stack.configure(settings, secrets)
            steps: dict[str, list[float]] = {}

            def seen(event) -> None:
                step = event.resource_pre_event or event.res_outputs_event
                if step is not None and "pulumi:pulumi:Stack" not in step.metadata.urn:
                    key = f"{step.metadata.urn.split('::')[-1]} {step.metadata.op}"
                    steps.setdefault(key, []).append(time.monotonic())

            started = time.monotonic()
            result = stack.stack.up(on_output=lambda _line: None, on_event=seen)
            timings[name] = time.monotonic() - started
            took = {urn: marks[-1] - marks[0] for urn, marks in steps.items()}
            slowest[name] = max(took, key=took.get, default="") + f" {max(took.values(), default=0):.1f}s"
            return {key: out.value for key, out in result.outputs.items()}

        # add: the bundle carries both; the issuer is the same certificate, from a1.
        added = phase("add", anchors="a1,a2")
        a2 = pem_of(added, "a2")
        bundle_holds(cluster, [a1, a2], "both anchors in the bundle")
        assert issuer_now(cluster).serial_number == issued_by_a1.serial_number
        assert cluster.api.find(clusterissuer("a2")) is None
        assert "PASS  the trust roots hold every Vault anchor" in verified(stack)

        # switch: a ClusterIssuer for a2; cert-manager re-issues the identity issuer under a2.
        switched = phase("switch", signingAnchor="a2")
        assert switched["clusterIssuer"] == "vault-a2"
        assert is_true("Ready")(cluster.api.get(clusterissuer("a2")))
        assert cluster.api.find(clusterissuer("a1")) is None  # replaced, not left behind
        reissued_by_up = chains_to(a2)(cluster.api.get(ISSUER_SECRET))
        started = time.monotonic()
        cluster.api.wait(ISSUER_SECRET, chains_to(a2), timeout=90, what="the issuer re-issued under a2")
        timings["switch: re-issued after up"] = time.monotonic() - started
        cluster.api.wait(CERTIFICATE, is_true("Ready"), what="the Certificate Ready again")
        bundle_holds(cluster, [a1, a2], "both anchors still in the bundle")
        assert "PASS  the issuer is signed by the signing anchor (a2)" in verified(stack)

        # retire: a1 leaves the bundle; the issuer (from a2) is untouched.
        serial = issuer_now(cluster).serial_number
        retired = phase("retire", anchors="a2")
        assert list(retired["trustAnchors"]) == ["a2"]
        bundle_holds(cluster, [a2], "only a2 in the bundle")
        assert issuer_now(cluster).serial_number == serial
        issuer_now(cluster).verify_directly_issued_by(a2)
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
    print(
        "\n[l2.5] rotation (seconds): "
        + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        + f"; issuer already re-issued when the switch's `up` returned: {reissued_by_up}; slowest step: {slowest}"
    )
