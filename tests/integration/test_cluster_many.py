"""L2.5: two clusters on one anchor, two real API servers, cert-manager and trust-manager on each.

One stack lists both (`clusters`, each `existing` with its own kubeconfig,
`certManager: existing`, `linkerd: skip`) against OpenBao. Each cluster's
cert-manager signs with its own credential; both identity issuers chain to
the one anchor, both bundles hold it, and `scripts/stack verify` checks both.
Revoking one cluster's secret_id in Vault stops that cluster's issuance only.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography import x509

from lib import names
from tests.integration.kube import CERT_MANAGER_NAMESPACE, LocalCluster, condition, is_true
from tests.integration.stacks import new_stack
from tests.integration.test_cluster_side import CERTIFICATE, ISSUER_SECRET, run_verify, stack_settings

pytestmark = pytest.mark.integration

ROOTS = f"/api/v1/namespaces/linkerd/configmaps/{names.BUNDLE_NAME}"
CREDENTIAL = f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/secrets/{names.APPROLE_SECRET}"
REQUESTS = "/apis/cert-manager.io/v1/namespaces/linkerd/certificaterequests"


def issuer_of(cluster: LocalCluster) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(cluster.api.get(ISSUER_SECRET)["data"]["tls.crt"]))


def test_two_clusters_sign_with_their_own_credentials_under_the_one_anchor(
    engine, openbao, cluster, second_cluster, tmp_path
):
    clusters = {"east": cluster, "west": second_cluster}
    with new_stack(engine, tmp_path, prefix="l25-many") as stack:
        settings = stack_settings(cluster, openbao)
        stack.configure(
            settings,
            {
                "vaultToken": openbao.root_token,
                "clusters": json.dumps([{"name": n, "kubeconfig": c.kubeconfig()} for n, c in clusters.items()]),
            },
        )
        started = time.monotonic()
        out = stack.up()
        print(f"\n[l2.5] up of two clusters to two Ready issuers: {time.monotonic() - started:.1f}s")
        anchor = x509.load_pem_x509_certificate(out["trustAnchorPem"].encode())

        secret_ids = {}
        for name, api_server in clusters.items():
            assert is_true("Ready")(api_server.api.get(CERTIFICATE)), name
            issuer_of(api_server).verify_directly_issued_by(anchor)
            roots = api_server.api.get(ROOTS)["data"][names.BUNDLE_KEY]
            assert x509.load_pem_x509_certificates(roots.encode()) == [anchor], name
            held = base64.b64decode(api_server.api.get(CREDENTIAL)["data"][names.APPROLE_SECRET_KEY]).decode()
            assert held == out["clusterSecrets"][name]["approleSecretId"]
            secret_ids[name] = held
            issuer = api_server.api.get(
                f"/apis/cert-manager.io/v1/clusterissuers/{out['clusters'][name]['clusterIssuer']}"
            )
            assert issuer["spec"]["vault"]["auth"]["appRole"]["roleId"] == out["clusters"][name]["approleRoleId"]
        assert secret_ids["east"] != secret_ids["west"]
        assert out["clusters"]["east"]["approleRoleId"] != out["clusters"]["west"]["approleRoleId"]

        result = run_verify(stack, "--skip-linkerd-check")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "PASS  [east] Certificate linkerd/linkerd-identity-issuer is Ready" in result.stdout
        assert "PASS  [west] the issuer is signed by the signing anchor (linkerd-trust-anchor)" in result.stdout

        # east's secret_id revoked in Vault: east can no longer sign; west renews as before.
        openbao.root().write(
            f"auth/{settings['approleMount']}/role/cert-manager-east/secret-id/destroy",
            {"secret_id": secret_ids["east"]},
        )
        west_before = issuer_of(second_cluster).serial_number
        for api_server in clusters.values():
            api_server.api.delete(ISSUER_SECRET)  # both must sign now, as at a renewal
        renewed = second_cluster.api.wait(
            ISSUER_SECRET,
            lambda s: (
                "tls.crt" in s.get("data", {})
                and x509.load_pem_x509_certificate(base64.b64decode(s["data"]["tls.crt"])).serial_number != west_before
            ),
            timeout=60,
            what="west's issuer renewed",
        )
        x509.load_pem_x509_certificate(base64.b64decode(renewed["data"]["tls.crt"])).verify_directly_issued_by(anchor)
        refused = cluster.api.wait(
            REQUESTS,
            lambda found: any(
                "invalid role or secret ID" in (condition(r, "Ready") or {}).get("message", "") for r in found["items"]
            ),
            timeout=60,
            what="east's CertificateRequest refused by Vault",
        )
        pending = [r for r in refused["items"] if "invalid role or secret ID" in condition(r, "Ready")["message"]]
        assert condition(pending[0], "Ready")["reason"] == "Pending"  # cert-manager retries; nothing is issued
        assert f"{settings['approleMount']}/login" in condition(pending[0], "Ready")["message"]
        assert not is_true("Ready")(cluster.api.get(CERTIFICATE))
