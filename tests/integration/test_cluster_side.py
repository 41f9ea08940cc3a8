"""L2.5: the cluster side on a real API server, with cert-manager signing through OpenBao.

A cluster-only stack (`vaultSide: provided`, tests/integration/cluster_only.py)
runs under the real engine (the CLI and pulumi-kubernetes) with `clusterMode:
existing` against a local kube-apiserver, `certManager: existing`
(cert-manager's and trust-manager's controllers run as local processes) and
`linkerd: skip` (no pods can run here); its Vault side is the Vault-only
program applied to OpenBao by the L2 applier. What cert-manager and
trust-manager make of it is read back from the API server and checked as
Linkerd would use it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pulumi.automation.events import OpType

from linkerd_vault_pki import names
from linkerd_vault_pki.cert_manager import REQUIRED_CRDS
from tests.harness import make_ca
from tests.integration.cluster_only import (
    BUNDLE,
    CERTIFICATE,
    CLUSTER_ISSUER,
    ISSUER_SECRET,
    Deployed,
    cluster_stack,
    run_verify,
    up,
)
from tests.integration.kube import CERT_MANAGER_NAMESPACE, LocalCluster, condition, is_true
from tests.integration.openbao import VaultError, login_approle
from tests.integration.signing import leaf_name, workload_certificate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["approle", "token", "kubernetes"])
def deployed(request, engine, openbao, cluster, tmp_path_factory):
    with cluster_stack(engine, tmp_path_factory.mktemp(f"cluster-{request.param}"), openbao) as stack:
        result = up(stack, cluster, openbao, credential=request.param)
        print(f"\n[l2.5] up to a Ready issuer ({request.param}): {result.up_seconds:.1f}s", flush=True)
        yield result


def make_ca_pem(common_name: str) -> str:
    return make_ca(common_name=common_name)[0]


def issuer_secret(cluster: LocalCluster) -> dict[str, bytes]:
    data = cluster.api.get(ISSUER_SECRET)["data"]
    return {k: base64.b64decode(v) for k, v in data.items()}


def test_cert_manager_issues_linkerds_issuer_from_the_vault_anchor(deployed, cluster):
    assert is_true("Ready")(cluster.api.get(CLUSTER_ISSUER))
    assert is_true("Ready")(cluster.api.get(CERTIFICATE))
    secret = issuer_secret(cluster)
    issuer = x509.load_pem_x509_certificate(secret["tls.crt"])
    issuer.verify_directly_issued_by(deployed.anchor)
    assert issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    key = issuer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    lifetime = issuer.not_valid_after_utc - issuer.not_valid_before_utc
    assert dt.timedelta(hours=47, minutes=59) <= lifetime <= dt.timedelta(hours=48, minutes=1), lifetime
    assert x509.load_pem_x509_certificate(secret["ca.crt"]) == deployed.anchor


def test_trust_manager_writes_the_anchor_only_to_the_labelled_namespace(deployed, cluster):
    assert is_true("Synced")(cluster.api.get(BUNDLE))
    roots = cluster.api.get(f"/api/v1/namespaces/linkerd/configmaps/{names.BUNDLE_NAME}")["data"]
    assert x509.load_pem_x509_certificates(roots[names.BUNDLE_KEY].encode()) == [deployed.anchor]
    holders = cluster.api.get(f"/api/v1/configmaps?fieldSelector=metadata.name={names.BUNDLE_NAME}")["items"]
    assert {m["metadata"]["namespace"] for m in holders} == {"linkerd"}
    labels = cluster.api.get("/api/v1/namespaces/linkerd")["metadata"]["labels"]
    assert labels["linkerd.io/is-control-plane"] == "true"


def test_a_workload_certificate_signed_as_linkerds_identity_service_does_verifies_against_the_bundle(deployed, cluster):
    """Linkerd's own identity service runs only in L3 (its images and code are served by no registry): here a
    leaf is signed with the issuer Secret's key the way it signs a proxy's (24 h, the identity name of a
    ServiceAccount, P-256, server and client auth), and must verify, as a peer proxy verifies it, against the
    trust roots trust-manager wrote (ca-bundle.crt), with the issuer as the intermediate the proxy sends."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.verification import PolicyBuilder, Store

    secret = issuer_secret(cluster)
    issuer = x509.load_pem_x509_certificate(secret["tls.crt"])
    key = serialization.load_pem_private_key(secret["tls.key"], password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    leaf = workload_certificate(issuer, key)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(hours=24, minutes=1)
    assert leaf_name(leaf) == "default.default.serviceaccount.identity.linkerd.cluster.local"
    roots = cluster.api.get(f"/api/v1/namespaces/linkerd/configmaps/{names.BUNDLE_NAME}")["data"][names.BUNDLE_KEY]
    store = Store(x509.load_pem_x509_certificates(roots.encode()))
    chain = PolicyBuilder().store(store).build_client_verifier().verify(leaf, [issuer])
    assert chain.chain == [leaf, issuer, deployed.anchor]
    # A leaf from an issuer the bundle does not hold is refused the same way.
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = x509.load_pem_x509_certificate(make_ca(common_name="stranger", key=stranger_key)[0].encode())
    with pytest.raises(Exception, match="candidates exhausted"):
        PolicyBuilder().store(store).build_client_verifier().verify(workload_certificate(stranger, stranger_key), [])


def test_after_up_a_preview_changes_nothing_and_refresh_finds_no_drift(deployed):
    preview = deployed.stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
    # The CRDs of the existing cert-manager are read again at every preview: reads, not changes.
    assert set(preview.change_summary) <= {"same", "read"}, preview.change_summary
    # pulumi-kubernetes records a read resource's full object only at its first refresh: the three CRD
    # reads show as updated once, nothing else may, and from then on refresh finds nothing at all.
    updated: list[str] = []
    deployed.stack.stack.refresh(on_output=lambda _line: None, on_event=lambda e: updated.extend(refreshed(e)))
    assert sorted(updated) == sorted(f"cert-manager-requires-{crd.split('.')[0]}" for crd in REQUIRED_CRDS), updated
    deployed.stack.stack.refresh(expect_no_changes=True, on_output=lambda _line: None)


def refreshed(event) -> list[str]:
    """The names of resources a refresh changed, from its engine events."""
    outputs = event.res_outputs_event
    if outputs is None or outputs.metadata.op == OpType.SAME:
        return []
    return [outputs.metadata.urn.rsplit("::", 1)[-1]]


def test_the_credential_secret_holds_what_vault_issued(deployed, cluster, openbao):
    out = deployed.vault
    secrets = f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/secrets"
    if out["credentialKind"] == "approle":
        held = base64.b64decode(cluster.api.get(f"{secrets}/{names.APPROLE_SECRET}")["data"][names.APPROLE_SECRET_KEY])
        assert held.decode() == out["approleSecretId"]
        assert login_approle(openbao.root(), out["approleMount"], out["approleRoleId"], held.decode())["client_token"]
    elif out["credentialKind"] == "token":
        held = base64.b64decode(cluster.api.get(f"{secrets}/{names.TOKEN_SECRET}")["data"][names.TOKEN_SECRET_KEY])
        assert held.decode() == out["vaultToken"]
    else:
        # Kubernetes auth stores nothing: no credential Secret, no secret output, no secret in Vault's outputs.
        for name in (names.APPROLE_SECRET, names.TOKEN_SECRET):
            assert cluster.api.find(f"{secrets}/{name}") is None
        secret_outputs = {k for k, v in deployed.stack.stack.outputs().items() if v.secret}
        assert secret_outputs == {"kubeconfig"}, secret_outputs  # the cluster's own, nothing of the login
        cert_manager_may_request_the_login_token_of_that_service_account_only(cluster)


def may(
    cluster: LocalCluster,
    user: str,
    verb: str,
    resource: str,
    namespace: str,
    name: str,
    sub: str = "",
    group: str = "",
) -> bool:
    """What the real API server's RBAC authorizer says (SubjectAccessReview)."""
    review = cluster.api.create(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
                "resourceAttributes": {
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                    "subresource": sub,
                    "namespace": namespace,
                    "name": name,
                },
            },
        },
    )
    return review["status"].get("allowed", False)


def cert_manager_may_request_the_login_token_of_that_service_account_only(cluster: LocalCluster) -> None:
    """Kubernetes auth's RBAC, as the real API server's authorizer judges it."""
    ns = CERT_MANAGER_NAMESPACE
    assert cluster.api.find(f"/api/v1/namespaces/{ns}/serviceaccounts/{names.VAULT_SERVICE_ACCOUNT}")
    cert_manager = f"system:serviceaccount:{ns}:cert-manager"
    assert may(cluster, cert_manager, "create", "serviceaccounts", ns, names.VAULT_SERVICE_ACCOUNT, "token")
    assert not may(cluster, cert_manager, "create", "serviceaccounts", ns, "default", "token")
    assert not may(cluster, cert_manager, "get", "secrets", ns, "")
    login_account = f"system:serviceaccount:{ns}:{names.VAULT_SERVICE_ACCOUNT}"
    # Vault reviews each login with the login's own token: that token may call TokenReview.
    assert may(cluster, login_account, "create", "tokenreviews", "", "", group="authentication.k8s.io")
    assert not may(cluster, login_account, "create", "serviceaccounts", ns, names.VAULT_SERVICE_ACCOUNT, "token")
    assert not may(cluster, login_account, "get", "secrets", ns, "")


def test_verify_passes_and_catches_a_tampered_bundle(deployed, cluster):
    result = run_verify(deployed.stack, "--skip-linkerd-check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout

    # trust-manager repairs a tampered target at once: stop it to see what verify makes of one.
    cluster.stop_trust_manager()
    try:
        path = f"/api/v1/namespaces/linkerd/configmaps/{names.BUNDLE_NAME}"
        impostor = make_ca_pem("impostor.linkerd.cluster.local")
        cluster.api.request(
            "PATCH", path, {"data": {names.BUNDLE_KEY: impostor}}, content_type="application/merge-patch+json"
        )
        result = run_verify(deployed.stack, "--skip-linkerd-check")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "FAIL  the trust roots hold every Vault anchor" in result.stdout
    finally:
        cluster.start_trust_manager()
    cluster.api.wait(
        f"/api/v1/namespaces/linkerd/configmaps/{names.BUNDLE_NAME}",
        lambda cm: x509.load_pem_x509_certificates(cm["data"][names.BUNDLE_KEY].encode()) == [deployed.anchor],
        what="trust-manager restoring the bundle",
    )


def force_reissue(deployed: Deployed, cluster: LocalCluster) -> x509.Certificate:
    """Delete the issuer Secret, as `cmctl renew` would make cert-manager do; return the new issuer."""
    before = x509.load_pem_x509_certificate(issuer_secret(cluster)["tls.crt"])
    cluster.api.delete(ISSUER_SECRET)
    reissued = cluster.api.wait(
        ISSUER_SECRET,
        lambda s: (
            "tls.crt" in s.get("data", {})
            and x509.load_pem_x509_certificate(base64.b64decode(s["data"]["tls.crt"])).serial_number
            != before.serial_number
        ),
        timeout=60,
        what="cert-manager re-issuing the identity issuer",
    )
    cluster.api.wait(CERTIFICATE, is_true("Ready"), what="Certificate Ready again")
    issuer = x509.load_pem_x509_certificate(base64.b64decode(reissued["data"]["tls.crt"]))
    issuer.verify_directly_issued_by(deployed.anchor)
    return issuer


def test_a_forced_reissue_is_signed_again(deployed, cluster):
    force_reissue(deployed, cluster)


def test_rotating_the_credential_reaches_the_cluster_and_signs(deployed, cluster, openbao):
    """AppRole: bump secretIdVersion. Token: replace the token resource (the runbook's way). Then `up` the cluster."""
    stack, old = deployed.stack, deployed.vault
    if old["credentialKind"] == "approle":
        new = up(stack, cluster, openbao, secretIdVersion="2").vault
        secret, key, value = names.APPROLE_SECRET, names.APPROLE_SECRET_KEY, new["approleSecretId"]
        assert value != old["approleSecretId"]
        with pytest.raises(VaultError) as err:
            login_approle(openbao.root(), old["approleMount"], old["approleRoleId"], old["approleSecretId"])
        assert err.value.status == 400 and "invalid" in str(err.value).lower(), err.value
    elif old["credentialKind"] == "kubernetes":
        service_account_deleted_then_restored(deployed, cluster)
        return
    else:
        stack.vault_side.applier.replace("vault:index/token:Token")
        new = up(stack, cluster, openbao).vault
        secret, key, value = names.TOKEN_SECRET, names.TOKEN_SECRET_KEY, new["vaultToken"]
        assert value != old["vaultToken"]
        with pytest.raises(VaultError) as err:
            openbao.root().write("auth/token/lookup", {"token": old["vaultToken"]})
        assert err.value.status in (400, 403) and ("bad token" in str(err.value) or "invalid" in str(err.value)), err
    held = cluster.api.get(f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/secrets/{secret}")["data"][key]
    assert base64.b64decode(held).decode() == value
    deployed.vault = new
    force_reissue(deployed, cluster)


def certificate_request_message(cluster: LocalCluster) -> str:
    """The newest CertificateRequest's Ready condition: what cert-manager says of the last signing."""
    requests = cluster.api.get("/apis/cert-manager.io/v1/namespaces/linkerd/certificaterequests")["items"]
    newest = max(requests, key=lambda r: r["metadata"]["creationTimestamp"] + r["metadata"]["name"])
    cond = condition(newest, "Ready") or {}
    return f"{cond.get('reason')}: {cond.get('message')}"


def service_account_deleted_then_restored(deployed: Deployed, cluster: LocalCluster) -> None:
    """Kubernetes auth: without the ServiceAccount cert-manager cannot log in, and says so; refresh + up restore it."""
    path = f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/serviceaccounts/{names.VAULT_SERVICE_ACCOUNT}"
    cluster.api.delete(path)
    cluster.api.delete(ISSUER_SECRET)  # a re-issue now, as a renewal would be
    stuck = cluster.api.wait(
        CERTIFICATE,
        lambda c: (condition(c, "Ready") or {}).get("status") == "False",
        what="the Certificate not Ready without the ServiceAccount",
    )
    assert "does not exist" in condition(stuck, "Ready")["message"], condition(stuck, "Ready")
    deadline = time.monotonic() + 60
    while names.VAULT_SERVICE_ACCOUNT not in certificate_request_message(cluster) and time.monotonic() < deadline:
        time.sleep(0.5)
    message = certificate_request_message(cluster)
    # cert-manager's own words: the ServiceAccount it could not request a token for, and why.
    assert "while requesting a token for the service account" in message, message
    assert f'serviceaccounts "{names.VAULT_SERVICE_ACCOUNT}" not found' in message, message
    assert cluster.api.find(ISSUER_SECRET) is None
    checked = run_verify(deployed.stack, "--skip-linkerd-check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"FAIL  ServiceAccount {CERT_MANAGER_NAMESPACE}/{names.VAULT_SERVICE_ACCOUNT} exists" in checked.stdout
    # The runbook's recovery (docs/operations.md): refresh sees it gone, up makes it again.
    deployed.stack.stack.refresh(on_output=lambda _line: None)
    deployed.stack.up()
    assert cluster.api.find(path) is not None
    reissued = cluster.api.wait(ISSUER_SECRET, lambda s: "tls.crt" in s.get("data", {}), timeout=120, what="re-issue")
    checked = run_verify(deployed.stack, "--skip-linkerd-check")
    assert checked.returncode == 0 and "may create its tokens" in checked.stdout, checked.stdout + checked.stderr
    cluster.api.wait(CERTIFICATE, is_true("Ready"), what="Certificate Ready again")
    x509.load_pem_x509_certificate(base64.b64decode(reissued["data"]["tls.crt"])).verify_directly_issued_by(
        deployed.anchor
    )


def test_zz_destroy_leaves_nothing_of_ours(deployed, cluster, openbao):
    """Last of each group (pytest keeps definition order): the module's stack is destroyed here."""
    deployed.stack.stack.destroy(on_output=lambda _line: None)
    for path in (
        CLUSTER_ISSUER,
        BUNDLE,
        f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/secrets/{names.APPROLE_SECRET}",
        f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/secrets/{names.TOKEN_SECRET}",
        f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/configmaps/{names.ANCHOR_CONFIGMAP}",
        f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/serviceaccounts/{names.VAULT_SERVICE_ACCOUNT}",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{CERT_MANAGER_NAMESPACE}/roles/{names.TOKEN_REQUESTER}",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{CERT_MANAGER_NAMESPACE}/rolebindings/{names.TOKEN_REQUESTER}",
        f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{names.TOKEN_REVIEWER}",
    ):
        assert cluster.api.find(path) is None, path
    # The namespace goes through Terminating (kube-controller-manager empties it first).
    deadline = time.monotonic() + 60
    while cluster.api.find("/api/v1/namespaces/linkerd") is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cluster.api.find("/api/v1/namespaces/linkerd") is None
    # The Vault side is not the cluster stack's: its destroy leaves it (the security team's) as it was.
    root = openbao.root()
    assert f"{deployed.vault['pkiMountPath']}/" in root.read("sys/mounts")["data"]
    assert deployed.vault["signerPolicy"] in root.request("LIST", "sys/policies/acl")["data"]["keys"]
    # The CRDs were only read: destroy never touches another team's install.
    assert cluster.api.find("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io")
    assert cluster.api.find(f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}")


def listening_addresses(pids: list[int]) -> set[str]:
    """The host-namespace TCP addresses these processes listen on (from /proc)."""
    inodes = set()
    for pid in pids:
        if os.geteuid() != 0 and Path(f"/proc/{pid}/comm").read_text().strip() == "sudo":
            continue  # root's wrapper of trust-manager's namespace (tests/integration/kube.py): its children are ours
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:
                found.add(local.split(":")[0])
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (parents read from /proc/<pid>/stat)."""
    parent_of = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent_of[int(stat.parent.name)] = int(fields[1])
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parent_of.items() if parent in frontier]
        found += frontier
    return found


def test_every_server_of_the_cluster_listens_on_loopback_only(cluster):
    deadline = time.monotonic() + 15
    while True:
        pids = [pid for p in cluster.processes.values() if p.poll() is None for pid in descendants(p.pid)]
        if len(pids) > len(cluster.processes) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(pids) > len(cluster.processes)  # trust-manager runs under its namespace's relay
    addresses = listening_addresses(pids)
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    assert addresses, "found no listening socket at all: the check is not looking"
    assert addresses <= loopback, addresses
