"""L2: Kubernetes auth as the program registers it, applied to OpenBao, reviewing tokens at a real API server.

The Vault-only program with `credential: kubernetes` runs under the test applier
(tests/integration/vault_applier.py), its one credential's cluster being a local
kube-apiserver on loopback (tests/integration/kube.py). On that cluster this
test makes what the cluster side makes (the ServiceAccount and its
TokenReview binding, by the names of linkerd_vault_pki/names.py), requests tokens the way
cert-manager does (TokenRequest, with the ClusterIssuer's audiences), and logs
in to OpenBao, which reviews each token with the token itself. The L2.5 tests
(tests/integration/test_cluster_side.py) have cert-manager do all of it.
"""

from __future__ import annotations

import time

import pytest

from linkerd_vault_pki import names
from stack import config
from tests.integration.cluster_only import reviewed_at
from tests.integration.kube import CERT_MANAGER_NAMESPACE, LocalCluster
from tests.integration.openbao import Client, VaultError
from tests.integration.signing import sign_as_cert_manager
from tests.integration.vault_applier import OpenBaoApplier, vault_only

pytestmark = pytest.mark.integration
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"  # the local API server's service account issuer


def service_account(cluster: LocalCluster, name: str, namespace: str = CERT_MANAGER_NAMESPACE) -> None:
    """A ServiceAccount whose tokens may call TokenReview, as the cluster side makes ours."""
    if cluster.api.find(f"/api/v1/namespaces/{namespace}") is None:
        cluster.create_namespace(namespace)
    cluster.api.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )
    cluster.api.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"l2-{namespace}-{name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )


def token_for(
    cluster: LocalCluster,
    name: str = names.VAULT_SERVICE_ACCOUNT,
    namespace: str = CERT_MANAGER_NAMESPACE,
    audiences: tuple[str, ...] = (names.VAULT_AUDIENCE, API_AUDIENCE),
) -> str:
    """A token as cert-manager requests it for a ClusterIssuer's serviceAccountRef: 10 minutes, our audiences."""
    review = cluster.api.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": list(audiences), "expirationSeconds": 600},
        },
    )
    return review["status"]["token"]


def reviewing_at(openbao, cluster: LocalCluster) -> config.StackConfig:
    """A Vault-only stack with Kubernetes auth, its one credential's cluster the local API server."""
    return vault_only(openbao, credential="kubernetes", **reviewed_at(cluster))


@pytest.fixture(scope="module")
def applied(openbao, cluster):
    applier = OpenBaoApplier(openbao.root())
    rendered = applier.up(reviewing_at(openbao, cluster))
    service_account(cluster, names.VAULT_SERVICE_ACCOUNT)
    yield rendered.outputs, applier
    applier.destroy()


def login(openbao, outputs: dict, jwt: str) -> dict:
    return Client(openbao.address).write(
        f"auth/{outputs['kubernetesAuthMount']}/login", {"role": outputs["kubernetesAuthRole"], "jwt": jwt}
    )["auth"]


def test_the_mount_and_role_are_in_vault_as_registered(applied, openbao):
    outputs, _ = applied
    mount = outputs["kubernetesAuthMount"]
    assert openbao.root().read("sys/auth")["data"][f"{mount}/"]["type"] == "kubernetes"
    role = openbao.root().read(f"auth/{mount}/role/{outputs['kubernetesAuthRole']}")["data"]
    assert role["bound_service_account_names"] == [names.VAULT_SERVICE_ACCOUNT]
    assert role["bound_service_account_namespaces"] == [CERT_MANAGER_NAMESPACE]
    assert role["audience"] == names.VAULT_AUDIENCE
    assert role["token_policies"] == [outputs["signerPolicy"]] and role["token_ttl"] == 600
    cfg = openbao.root().read(f"auth/{mount}/config")["data"]
    assert cfg["disable_local_ca_jwt"] is True and not cfg.get("token_reviewer_jwt_set")


def test_a_token_of_the_bound_service_account_logs_in_and_signs_only_at_the_sign_path(applied, openbao, cluster):
    outputs, _ = applied
    auth = login(openbao, outputs, token_for(cluster))
    assert auth["policies"] == [outputs["signerPolicy"]]  # the signing policy alone, no default
    assert auth["lease_duration"] == 600
    assert auth["metadata"]["service_account_name"] == names.VAULT_SERVICE_ACCOUNT
    signer = Client(openbao.address, auth["client_token"])
    issuer, _key = sign_as_cert_manager(signer, outputs["signPath"])
    anchor = outputs["trustAnchorPem"]
    from cryptography import x509

    issuer.verify_directly_issued_by(x509.load_pem_x509_certificate(anchor.encode()))
    with pytest.raises(VaultError) as err:
        signer.write(f"{outputs['pkiMountPath']}/root/generate/internal", {"common_name": "evil"})
    assert err.value.status == 403


@pytest.mark.parametrize(
    ("case", "name", "namespace", "audiences"),
    [
        ("another ServiceAccount", "default-reader", CERT_MANAGER_NAMESPACE, None),
        ("another namespace", names.VAULT_SERVICE_ACCOUNT, "elsewhere", None),
        ("another audience", names.VAULT_SERVICE_ACCOUNT, CERT_MANAGER_NAMESPACE, ("vault://other", API_AUDIENCE)),
    ],
)
def test_a_token_that_is_not_the_bound_one_is_refused(applied, openbao, cluster, case, name, namespace, audiences):
    outputs, _ = applied
    if cluster.api.find(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}") is None:
        service_account(cluster, name, namespace)
    jwt = token_for(cluster, name, namespace, *([audiences] if audiences else []))
    with pytest.raises(VaultError) as err:
        login(openbao, outputs, jwt)
    assert err.value.status == 403, (case, err.value)


def test_a_token_whose_service_account_was_deleted_is_refused(applied, openbao, cluster):
    outputs, _ = applied
    service_account(cluster, "short-lived")
    applier: OpenBaoApplier = applied[1]
    # Bind the role to it for the length of this test, so that only the deletion can refuse it.
    role = f"auth/{outputs['kubernetesAuthMount']}/role/deleted-case"
    openbao.root().write(
        role,
        {
            "bound_service_account_names": ["short-lived"],
            "bound_service_account_namespaces": [CERT_MANAGER_NAMESPACE],
            "audience": names.VAULT_AUDIENCE,
            "token_policies": [outputs["signerPolicy"]],
            "token_ttl": 600,
        },
    )
    try:
        jwt = token_for(cluster, "short-lived")
        case = {**outputs, "kubernetesAuthRole": "deleted-case"}
        assert login(openbao, case, jwt)["client_token"]  # valid while the ServiceAccount exists
        cluster.api.delete(f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/serviceaccounts/short-lived")
        # kube-apiserver caches a token's successful authentication for 10 s (its token cache), TokenReview's
        # too: the deleted ServiceAccount's token is refused once that has passed, well before it expires.
        deadline = time.monotonic() + 30
        while True:
            try:
                login(openbao, case, jwt)
            except VaultError as exc:
                assert exc.status == 403, exc
                break
            assert time.monotonic() < deadline, "a deleted ServiceAccount's token still logs in after 30 s"
            time.sleep(1)
    finally:
        openbao.root().request("DELETE", role)
    assert applier.made  # the applier's own resources were left alone


def test_destroy_removes_the_mount(openbao, cluster):
    cfg = reviewing_at(openbao, cluster)
    applier = OpenBaoApplier(openbao.root())
    applier.up(cfg)
    assert f"{cfg.credential.kubernetes_mount}/" in openbao.root().read("sys/auth")["data"]
    applier.destroy()
    assert f"{cfg.credential.kubernetes_mount}/" not in openbao.root().read("sys/auth")["data"]
