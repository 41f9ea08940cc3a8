"""L2.5: Linkerd's own identity controller issues workload certificates from the Vault-rooted issuer.

After `up` on the local cluster, the issuer Secret cert-manager got from
OpenBao and the trust roots trust-manager wrote are handed to Linkerd's
identity controller (edge-26.8.3) exactly as its pod would get them. A proxy's
request, a ServiceAccount token for `identity.l5d.io` and a CSR, must come back
as a leaf that chains leaf -> issuer -> the anchor Vault holds; every request a
proxy must not get through is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from lib import names
from tests.harness import make_ca
from tests.integration.linkerd_identity import AUDIENCE, IdentityController, csr_for, workload_name
from tests.integration.stacks import new_stack
from tests.integration.test_cluster_side import ISSUER_SECRET, force_reissue, issuer_secret, up

pytestmark = pytest.mark.integration

NAMESPACE = "emojivoto"  # unlabelled: made by the cluster fixture


def token_for(cluster, service_account: str, audience: str = AUDIENCE) -> bytes:
    """A projected ServiceAccount token, as the kubelet mounts one into a meshed pod."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"audiences": [audience], "expirationSeconds": 600},
    }
    path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{service_account}/token"
    return cluster.api.create(path, request)["status"]["token"].encode()


@pytest.fixture(scope="module")
def mesh(engine, openbao, cluster, tmp_path_factory):
    with new_stack(engine, tmp_path_factory.mktemp("identity"), prefix="l25-identity") as stack:
        deployed = up(stack, cluster, openbao)
        for account in ("web", "voting", "doomed"):
            cluster.api.create(
                f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}},
            )
        deployed.up_finished = time.monotonic()
        yield deployed


def trust_roots(cluster) -> bytes:
    path = f"/api/v1/namespaces/{names.LINKERD_NAMESPACE}/configmaps/{names.BUNDLE_NAME}"
    return cluster.api.get(path)["data"][names.BUNDLE_KEY].encode()


@pytest.fixture(scope="module")
def identity(mesh, cluster):
    controller = IdentityController(cluster.binaries["linkerd-identity"], cluster.kubeconfig_path)
    secret = issuer_secret(cluster)
    controller.write_issuer(secret["tls.crt"], secret["tls.key"])
    try:
        controller.start(trust_roots(cluster))
        yield controller
    finally:
        controller.stop()


def verify_chain(certified, anchor: x509.Certificate, name: str) -> list[x509.Certificate]:
    verifier = PolicyBuilder().store(Store([anchor])).build_server_verifier(x509.DNSName(name))
    return verifier.verify(certified.leaf, certified.intermediates)


def test_a_workload_gets_a_certificate_that_chains_to_the_vault_anchor(mesh, identity, cluster):
    name = workload_name("web", NAMESPACE)
    csr, _key = csr_for(name)
    certified = identity.certify(name, token_for(cluster, "web"), csr)
    print(f"\n[l2.5] from `up` done to the first workload certificate: {time.monotonic() - mesh.up_finished:.1f}s")

    issuer = x509.load_pem_x509_certificate(issuer_secret(cluster)["tls.crt"])
    assert certified.intermediates == [issuer]
    chain = verify_chain(certified, mesh.anchor, name)
    assert chain == [certified.leaf, issuer, mesh.anchor]
    sans = certified.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [name]
    usages = certified.leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
    # identity-issuance-lifetime (24h here), plus Linkerd's clock-skew allowance (seconds).
    lifetime = certified.leaf.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23, minutes=59) < lifetime <= dt.timedelta(hours=24, minutes=1), lifetime
    assert abs((certified.valid_until - certified.leaf.not_valid_after_utc).total_seconds()) < 1


def refused(identity, name: str, token: bytes, csr_name: str | None = None) -> grpc.StatusCode:
    csr, _key = csr_for(csr_name or name)
    with pytest.raises(grpc.RpcError) as err:
        identity.certify(name, token, csr)
    return err.value.code()


def test_a_token_of_another_service_account_is_refused(identity, cluster):
    code = refused(identity, workload_name("web", NAMESPACE), token_for(cluster, "voting"))
    assert code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT), code


def test_a_forged_token_is_refused(identity, cluster):
    token = token_for(cluster, "web").decode()
    header, claims, _signature = token.split(".")
    forged = f"{header}.{claims}.{base64.urlsafe_b64encode(secrets.token_bytes(256)).decode().rstrip('=')}"
    assert refused(identity, workload_name("web", NAMESPACE), forged.encode()) != grpc.StatusCode.OK


def test_a_token_for_a_third_audience_is_refused(identity, cluster):
    # Linkerd reviews the token for identity.l5d.io, then falls back to the API server's own
    # audience (older proxies send the pod's default token): a token for anything else fails both.
    token = token_for(cluster, "web", audience="https://vault.example.com")
    assert refused(identity, workload_name("web", NAMESPACE), token) != grpc.StatusCode.OK


def test_a_token_whose_service_account_is_gone_is_refused(identity, cluster):
    """What an expired token comes to: the API server no longer vouches for it."""
    token = token_for(cluster, "doomed")
    cluster.api.delete(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/doomed")
    assert refused(identity, workload_name("doomed", NAMESPACE), token) != grpc.StatusCode.OK


def test_a_csr_for_a_name_outside_the_trust_domain_is_refused(identity, cluster):
    name = workload_name("web", NAMESPACE)
    outside = "web.emojivoto.serviceaccount.identity.linkerd.example.org"
    assert refused(identity, name, token_for(cluster, "web"), csr_name=outside) != grpc.StatusCode.OK
    assert refused(identity, outside, token_for(cluster, "web")) != grpc.StatusCode.OK


def test_a_renewed_issuer_is_picked_up_and_chains_to_the_same_anchor(mesh, identity, cluster):
    old = x509.load_pem_x509_certificate(issuer_secret(cluster)["tls.crt"])
    renewed = force_reissue(mesh, cluster)
    assert renewed.serial_number != old.serial_number
    secret = issuer_secret(cluster)
    identity.write_issuer(secret["tls.crt"], secret["tls.key"])  # the kubelet's volume update

    name = workload_name("web", NAMESPACE)
    deadline = time.monotonic() + 30
    while True:
        csr, _key = csr_for(name)
        certified = identity.certify(name, token_for(cluster, "web"), csr)
        if certified.intermediates == [renewed] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert certified.intermediates == [renewed], "the identity controller kept the old issuer"
    assert verify_chain(certified, mesh.anchor, name)[-1] == mesh.anchor


def test_an_issuer_from_another_anchor_stops_the_controller_with_linkerds_message(mesh, cluster):
    """What `linkerd check` would catch: trust roots that do not hold the issuer's anchor."""
    controller = IdentityController(cluster.binaries["linkerd-identity"], cluster.kubeconfig_path)
    secret = issuer_secret(cluster)
    controller.write_issuer(secret["tls.crt"], secret["tls.key"])
    try:
        controller.start(make_ca("another.anchor.example")[0].encode(), wait=False)
        assert controller.exit_code() != 0
        assert (
            f"failed to verify issuer credentials for '{names.IDENTITY_NAME}' with trust anchors" in controller.log
        ), controller.log[-2000:]
    finally:
        controller.stop()


def test_the_issuer_secret_is_what_the_controller_reads(mesh, cluster):
    """The Secret has the kubernetes.io/tls shape the controller's issuer scheme expects."""
    secret = cluster.api.get(ISSUER_SECRET)
    assert secret["type"] == "kubernetes.io/tls"
    assert {"tls.crt", "tls.key", "ca.crt"} <= set(secret["data"])
