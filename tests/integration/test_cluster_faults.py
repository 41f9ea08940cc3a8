"""L2.5 faults: Vault down when cert-manager must sign, the API server restarted during `up`.

Each runs on a cluster of this module's own (the `cluster` fixture is per
module) and a stack that is destroyed afterwards.
"""

from __future__ import annotations

import base64
import threading
import time

import pytest
from cryptography import x509

from linkerd_vault_pki import names
from tests.integration.cluster_only import (
    CERTIFICATE,
    CLUSTER_ISSUER,
    ISSUER_SECRET,
    cluster_stack,
    prepare,
    run_verify,
    up,
)
from tests.integration.kube import condition, is_true

pytestmark = pytest.mark.integration


def renew(cluster) -> None:
    """What `cmctl renew` does: mark the Certificate Issuing, which cert-manager acts on at once."""
    certificate = cluster.api.get(CERTIFICATE)
    conditions = [c for c in certificate["status"].get("conditions", []) if c["type"] != "Issuing"]
    conditions.append(
        {
            "type": "Issuing",
            "status": "True",
            "reason": "ManuallyTriggered",
            "message": "Certificate re-issuance manually triggered",
            "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    certificate["status"]["conditions"] = conditions
    cluster.api.request("PUT", f"{CERTIFICATE}/status", certificate)


def test_vault_down_when_cert_manager_must_sign(engine, own_openbao, cluster, tmp_path):
    """Issuance fails naming Vault, verify names the Certificate; Vault back: its side made again, up, renew."""
    with cluster_stack(engine, tmp_path, own_openbao, prefix="l25-vault-down") as stack:
        deployed = up(stack, cluster, own_openbao, readyTimeout="20s")
        own_openbao.stop()
        cluster.api.delete(ISSUER_SECRET)  # cert-manager must sign now (as at a renewal)
        requests = "/apis/cert-manager.io/v1/namespaces/linkerd/certificaterequests"
        failed = cluster.api.wait(
            requests,
            lambda found: any(
                (condition(r, "Ready") or {}).get("reason") == "Failed"
                or "connection refused" in (condition(r, "Ready") or {}).get("message", "")
                for r in found["items"]
            ),
            timeout=60,
            what="a failed CertificateRequest",
        )
        messages = " ".join((condition(r, "Ready") or {}).get("message", "") for r in failed["items"])
        assert own_openbao.address.removeprefix("http://") in messages, messages
        assert not is_true("Ready")(cluster.api.get(CERTIFICATE))

        # The cluster-only stack never calls Vault: its `up` changes nothing and passes; `verify` is what
        # says the issuer cannot be renewed, naming the Certificate.
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
        result = run_verify(stack, "--skip-linkerd-check")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "FAIL  Certificate linkerd/linkerd-identity-issuer is Ready" in result.stdout, result.stdout

        # Back, but empty (a dev server): the Vault side's refresh finds it gone and its `up` makes it again
        # (a new anchor, a new credential); the cluster stack's `up` takes them. cert-manager backs off a
        # failed issuance for an hour, so the issuer is renewed by hand, as the runbook says.
        own_openbao.start()
        stack.vault_side.applier.forget()
        deployed = up(stack, cluster, own_openbao, readyTimeout="20s")
        assert is_true("Ready")(cluster.api.get(CLUSTER_ISSUER))
        renew(cluster)
        issued = cluster.api.wait(ISSUER_SECRET, lambda s: "tls.crt" in s.get("data", {}), what="the issuer re-issued")
        cluster.api.wait(CERTIFICATE, is_true("Ready"), what="Certificate Ready again")
        issuer = x509.load_pem_x509_certificate(base64.b64decode(issued["data"]["tls.crt"]))
        issuer.verify_directly_issued_by(deployed.anchor)  # the new anchor
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)


def test_an_api_server_restart_during_up_is_converged_by_the_next_up(engine, openbao, cluster, tmp_path):
    from pulumi import automation as auto

    with cluster_stack(engine, tmp_path, openbao, prefix="l25-apiserver") as stack:
        outcome: dict[str, object] = {}

        prepare(stack, cluster)

        def first_up() -> None:
            try:
                outcome["outputs"] = stack.up()
            except auto.CommandError as exc:
                outcome["error"] = exc

        running = threading.Thread(target=first_up)
        running.start()
        # Wait until `up` has reached the cluster (the linkerd namespace exists), then pull the API server.
        deadline = time.monotonic() + 60
        while cluster.api.find("/api/v1/namespaces/linkerd") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.stop_apiserver()
        time.sleep(3)
        cluster.start_apiserver()
        running.join(timeout=600)
        print(f"\n[l2.5] up across an API server restart: {'failed' if 'error' in outcome else 'succeeded'}")

        deployed_outputs = stack.up()
        assert deployed_outputs["clusterIssuer"] == "vault-linkerd-trust-anchor"
        assert is_true("Ready")(cluster.api.get(CERTIFICATE))
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)


def test_an_existing_cert_manager_without_a_crd_we_need_stops_up_naming_it(engine, openbao, cluster, tmp_path):
    """certManager: existing on a cluster where trust-manager is missing (last: it removes a CRD of this cluster)."""
    from pulumi import automation as auto

    crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/bundles.trust.cert-manager.io"
    cluster.api.delete(crd)
    deadline = time.monotonic() + 30
    while cluster.api.find(crd) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    with cluster_stack(engine, tmp_path, openbao, prefix="l25-no-crd") as stack:
        with pytest.raises(auto.CommandError) as err:
            up(stack, cluster, openbao)
        message = str(err.value)
        assert "bundles.trust.cert-manager.io" in message and "cert-manager-requires-bundles" in message, message[
            -3000:
        ]
        # Nothing of ours reached the cluster: every cluster resource waits for the CRD reads.
        assert cluster.api.find("/api/v1/namespaces/linkerd") is None
        assert cluster.api.find(f"/api/v1/namespaces/cert-manager/secrets/{names.APPROLE_SECRET}") is None
        assert cluster.api.find(f"/api/v1/namespaces/cert-manager/configmaps/{names.ANCHOR_CONFIGMAP}") is None
