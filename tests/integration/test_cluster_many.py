"""L2.5: two clusters on one anchor, two real API servers, cert-manager and trust-manager on each.

A Vault-only stack declares two consumers (`consumers: [east, west]`), each
with an AppRole role and secret_id of its own; the L2 applier makes its Vault
side in OpenBao, and its outputs are published on the backend. Each cluster
is a cluster-only stack of its own (`vaultSide: reference`, `vaultStack`,
`vaultConsumer`) under the real engine, reading the anchors, the sign path and
its credential (a secret output) through a StackReference. Both identity
issuers chain to the one anchor, both bundles hold it, `scripts/stack verify`
passes for each; revoking east's secret_id in Vault stops east's issuance only.
With Kubernetes auth, each consumer is a mount reviewing its own cluster's
tokens: a token of one cluster is refused at the other's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time

import pytest
from cryptography import x509

from linkerd_vault_pki import names
from tests.integration.cluster_only import (
    CERTIFICATE,
    ISSUER_SECRET,
    VaultSideMaker,
    cluster_settings,
    published,
    reviewed_at,
    run_verify,
)
from tests.integration.kube import CERT_MANAGER_NAMESPACE, LocalCluster, condition, is_true
from tests.integration.openbao import Client, VaultError
from tests.integration.stacks import new_stack

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
    vault_side = VaultSideMaker(openbao)
    try:
        vault = vault_side.apply(consumers="[east, west]")
        with contextlib.ExitStack() as stacks:
            pki = stacks.enter_context(published(engine, tmp_path, vault, vault_side.applier.secret_outputs))
            started = time.monotonic()
            out = {}
            for name, api_server in clusters.items():
                stack = stacks.enter_context(new_stack(engine, tmp_path, prefix=f"l25-{name}"))
                stack.configure(
                    cluster_settings(vaultSide="reference", vaultStack=pki.name, vaultConsumer=name),
                    {"kubeconfig": api_server.kubeconfig()},
                )
                out[name] = (stack, stack.up())
            print(f"\n[l2.5] up of two cluster stacks on one Vault-only stack: {time.monotonic() - started:.1f}s")
            check_two_clusters(clusters, vault, out, openbao)
    finally:
        vault_side.destroy()


def check_two_clusters(clusters: dict, vault: dict, out: dict, openbao) -> None:
    cluster, second_cluster = clusters["east"], clusters["west"]
    anchor = x509.load_pem_x509_certificate(vault["trustAnchorPem"].encode())
    secret_ids = {}
    for name, api_server in clusters.items():
        stack, outputs = out[name]
        assert outputs["vaultSide"] == "reference" and outputs["trustAnchorPem"] == vault["trustAnchorPem"]
        assert is_true("Ready")(api_server.api.get(CERTIFICATE)), name
        issuer_of(api_server).verify_directly_issued_by(anchor)
        roots = api_server.api.get(ROOTS)["data"][names.BUNDLE_KEY]
        assert x509.load_pem_x509_certificates(roots.encode()) == [anchor], name
        held = base64.b64decode(api_server.api.get(CREDENTIAL)["data"][names.APPROLE_SECRET_KEY]).decode()
        assert held == vault["consumerSecrets"][name]["approleSecretId"]
        secret_ids[name] = held
        issuer = api_server.api.get(f"/apis/cert-manager.io/v1/clusterissuers/{outputs['clusterIssuer']}")
        assert issuer["spec"]["vault"]["auth"]["appRole"]["roleId"] == vault["consumers"][name]["approleRoleId"]
        assert issuer["spec"]["vault"]["path"] == vault["signPath"]
        # What a plain `pulumi stack export` holds of the referenced credential: ciphertext only.
        assert held not in str(stack.cli("stack", "export").stdout)
        result = run_verify(stack, "--skip-linkerd-check")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "PASS  Certificate linkerd/linkerd-identity-issuer is Ready" in result.stdout, result.stdout
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
    assert secret_ids["east"] != secret_ids["west"]
    approle_mount = vault["consumers"]["east"]["approleMount"]

    # east's secret_id revoked in Vault: east can no longer sign; west renews as before.
    openbao.root().write(
        f"auth/{approle_mount}/role/cert-manager-east/secret-id/destroy",
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
    assert f"{approle_mount}/login" in condition(pending[0], "Ready")["message"]
    assert not is_true("Ready")(cluster.api.get(CERTIFICATE))


def test_with_kubernetes_auth_each_clusters_role_accepts_only_its_own_clusters_tokens(
    engine, openbao, cluster, second_cluster, tmp_path
):
    """Two consumers with Kubernetes auth: a mount each, reviewing tokens at its own cluster's API server."""
    clusters = {"east": cluster, "west": second_cluster}
    consumers = json.dumps([{"name": name, **reviewed_at(api)} for name, api in clusters.items()])
    vault_side = VaultSideMaker(openbao)
    try:
        vault = vault_side.apply(credential="kubernetes", consumers=consumers)
        assert "consumerSecrets" not in vault  # nothing secret to hand over
        with contextlib.ExitStack() as stacks:
            pki = stacks.enter_context(published(engine, tmp_path, vault, vault_side.applier.secret_outputs))
            for name, api_server in clusters.items():
                stack = stacks.enter_context(new_stack(engine, tmp_path, prefix=f"l25-k8s-{name}"))
                stack.configure(
                    cluster_settings(vaultSide="reference", vaultStack=pki.name, vaultConsumer=name),
                    {"kubeconfig": api_server.kubeconfig()},
                )
                outputs = stack.up()
                assert is_true("Ready")(api_server.api.get(CERTIFICATE)), name
                issuer_of(api_server).verify_directly_issued_by(
                    x509.load_pem_x509_certificate(vault["trustAnchorPem"].encode())
                )
                auth = api_server.api.get(f"/apis/cert-manager.io/v1/clusterissuers/{outputs['clusterIssuer']}")
                mount = auth["spec"]["vault"]["auth"]["kubernetes"]["mountPath"]
                assert mount == f"/v1/auth/{vault['consumers'][name]['kubernetesAuthMount']}"
                assert api_server.api.find(CREDENTIAL) is None  # no Secret
            # The same ServiceAccount name and namespace on both clusters: only the cluster's own mount accepts.
            tokens = {name: kubernetes_token(api) for name, api in clusters.items()}
            for name in clusters:
                for mount_of in clusters:
                    facts = vault["consumers"][mount_of]
                    attempt = lambda f=facts, n=name: Client(openbao.address).write(  # noqa: E731
                        f"auth/{f['kubernetesAuthMount']}/login", {"role": f["kubernetesAuthRole"], "jwt": tokens[n]}
                    )
                    if mount_of == name:
                        assert attempt()["auth"]["client_token"]
                    else:
                        with pytest.raises(VaultError) as err:
                            attempt()
                        assert err.value.status == 403, (name, mount_of, err.value)
            # east's role deleted in Vault: east can no longer sign; west renews as before.
            east = vault["consumers"]["east"]
            openbao.root().request("DELETE", f"auth/{east['kubernetesAuthMount']}/role/{east['kubernetesAuthRole']}")
            west_before = issuer_of(second_cluster).serial_number
            for api_server in clusters.values():
                api_server.api.delete(ISSUER_SECRET)
            second_cluster.api.wait(
                ISSUER_SECRET,
                lambda s: (
                    "tls.crt" in s.get("data", {})
                    and x509.load_pem_x509_certificate(base64.b64decode(s["data"]["tls.crt"])).serial_number
                    != west_before
                ),
                timeout=60,
                what="west's issuer renewed",
            )
            cluster.api.wait(
                REQUESTS,
                lambda found: any(
                    f"{east['kubernetesAuthMount']}/login" in (condition(r, "Ready") or {}).get("message", "")
                    for r in found["items"]
                ),
                timeout=60,
                what="east's CertificateRequest refused by Vault",
            )
            assert not is_true("Ready")(cluster.api.get(CERTIFICATE))
    finally:
        vault_side.destroy()


def kubernetes_token(api_server: LocalCluster) -> str:
    """A login token as cert-manager requests it on that cluster (TokenRequest, the ClusterIssuer's audiences)."""
    return api_server.api.create(
        f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/serviceaccounts/{names.VAULT_SERVICE_ACCOUNT}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [names.VAULT_AUDIENCE, "https://kubernetes.default.svc.cluster.local"],
                "expirationSeconds": 600,
            },
        },
    )["status"]["token"]
