"""L0: `credential: kubernetes`, Kubernetes auth with a ServiceAccount: no secret anywhere, one binding each.

Rendered under mocks in every mode that uses it: the laptop (k3d, the Vault container reviewing tokens at
the k3d server on the Docker network), an existing cluster, listed clusters, a Vault-only stack's
consumers, and the cluster-only stacks. The L2 and L2.5 tests log in for real (tests/integration).
"""

from __future__ import annotations

import json

import pytest

from linkerd_vault_pki import names, vault_access
from tests.harness import (
    CLUSTER_CA_PEM,
    KUBERNETES_HOST,
    MODES,
    SECRET_KEYS,
    cfg,
    config_problems,
    make_ca,
    render,
    render_mode,
)

BACKEND = "vault:index/authBackend:AuthBackend"
CONFIG = "vault:kubernetes/authBackendConfig:AuthBackendConfig"
ROLE = "vault:kubernetes/authBackendRole:AuthBackendRole"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
RBAC_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
KUBERNETES_MODES = [m for m in MODES if m.endswith("kubernetes")]
WITH_A_CLUSTER = [m for m in KUBERNETES_MODES if not m.startswith("vault-only")]
MAKES_VAULT = [m for m in KUBERNETES_MODES if not m.startswith("cluster-only")]


@pytest.fixture(scope="module", params=KUBERNETES_MODES)
def mode(request):
    return request.param, render_mode(request.param)


def test_no_secret_credential_exists_in_state_or_on_the_cluster(mode):
    _, r = mode
    assert not r.of_type("kubernetes:core/v1:Secret"), "a credential Secret on the cluster"
    made = {x.type for x in r.resources}
    assert not made & {
        "vault:appRole/authBackendRole:AuthBackendRole",
        "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId",
        "vault:index/token:Token",
    }, "a secret_id or token in Pulumi state"
    # The only secret outputs are a cluster's kubeconfig: the login itself has no secret part.
    assert r.secret_outputs <= {"kubeconfig", "clusterSecrets"}, r.secret_outputs
    assert "consumerSecrets" not in r.outputs and "approleSecretId" not in r.outputs
    assert r.outputs["credentialKind"] == "kubernetes"


@pytest.mark.parametrize("name", MAKES_VAULT)
def test_each_role_binds_exactly_the_issuers_service_account_namespace_and_audience(name):
    r = render_mode(name)
    policy = r.one("vault:index/policy:Policy")
    roles = r.of_type(ROLE)
    assert roles
    for role in roles:
        i = role.inputs
        assert i["boundServiceAccountNames"] == [names.VAULT_SERVICE_ACCOUNT]
        assert i["boundServiceAccountNamespaces"] == ["cert-manager"]
        assert i["audience"] == names.VAULT_AUDIENCE
        assert i["tokenPolicies"] == [policy.inputs["name"]] and i["tokenNoDefaultPolicy"] is True
        assert i["tokenTtl"] == i["tokenMaxTtl"] == 600  # kubernetesTokenTtl's default, 10m
        assert r.waits_for(role, policy)


def test_the_laptops_vault_reviews_tokens_at_the_k3d_server_on_the_docker_network():
    r = render_mode("k3d+docker+kubernetes")
    config = r.one(CONFIG).inputs
    assert config["kubernetesHost"] == "https://k3d-pki-cluster-server-0:6443"
    assert config["kubernetesCaCert"] == CLUSTER_CA_PEM  # from k3d's kubeconfig
    assert config["disableLocalCaJwt"] is True
    assert "tokenReviewerJwt" not in config  # Vault reviews each login with the login's own token
    assert r.waits_for(r.one(CONFIG), r.one("command:local:Command"))
    assert not r.one(CONFIG).is_secret("kubernetesCaCert")  # a CA is public
    backend = next(b for b in r.of_type(BACKEND) if b.inputs["type"] == "kubernetes")
    assert backend.inputs["path"] == "linkerd-kubernetes"


def test_an_existing_clusters_ca_comes_from_its_kubeconfig_or_the_setting():
    from_kubeconfig = render_mode("existing+external+kubernetes").one(CONFIG).inputs
    assert from_kubeconfig["kubernetesHost"] == KUBERNETES_HOST
    assert from_kubeconfig["kubernetesCaCert"] == CLUSTER_CA_PEM
    other_ca = make_ca(common_name="another-api-ca")[0]
    given = render_mode("existing+external+kubernetes", kubernetesCaCert=other_ca).one(CONFIG).inputs
    assert given["kubernetesCaCert"] == other_ca


@pytest.mark.parametrize("name", WITH_A_CLUSTER)
def test_the_cluster_issuer_logs_in_as_the_service_account_with_the_roles_audience(name):
    r = render_mode(name)
    auth = r.custom_resource("ClusterIssuer").inputs["spec"]["vault"]["auth"]
    assert set(auth) == {"kubernetes"}
    login = auth["kubernetes"]
    mount = "kubernetes-east" if "provided" in name else "linkerd-kubernetes" + ("/east" if "reference" in name else "")
    assert login == {
        "mountPath": f"/v1/auth/{mount}",
        "role": "cert-manager",
        "serviceAccountRef": {
            "name": names.VAULT_SERVICE_ACCOUNT,
            # Ours, which Vault's role requires, and the API server's, which lets Vault review it with itself.
            "audiences": [names.VAULT_AUDIENCE, "https://kubernetes.default.svc.cluster.local"],
        },
    }
    assert r.waits_for(r.custom_resource("ClusterIssuer"), r.one(SERVICE_ACCOUNT))


@pytest.mark.parametrize("name", WITH_A_CLUSTER)
def test_the_rbac_names_exactly_one_service_account(name):
    r = render_mode(name)
    account = r.one(SERVICE_ACCOUNT).inputs
    assert account["metadata"] == {"name": names.VAULT_SERVICE_ACCOUNT, "namespace": "cert-manager"}
    assert account["automountServiceAccountToken"] is False
    role = r.one(RBAC_ROLE).inputs
    assert role["metadata"]["namespace"] == "cert-manager"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["serviceaccounts/token"],
            "verbs": ["create"],
            "resourceNames": [names.VAULT_SERVICE_ACCOUNT],
        }
    ]
    binding = r.one(ROLE_BINDING).inputs
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": names.TOKEN_REQUESTER,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cert-manager", "namespace": "cert-manager"}]
    reviewer = r.one(CLUSTER_ROLE_BINDING).inputs
    assert reviewer["roleRef"]["name"] == "system:auth-delegator"
    assert reviewer["subjects"] == [
        {"kind": "ServiceAccount", "name": names.VAULT_SERVICE_ACCOUNT, "namespace": "cert-manager"}
    ]


def test_the_api_servers_own_audience_is_the_clusters():
    r = render_mode("existing+external+kubernetes", kubernetesApiAudience="https://kubernetes.default.svc")
    ref = r.custom_resource("ClusterIssuer").inputs["spec"]["vault"]["auth"]["kubernetes"]["serviceAccountRef"]
    assert ref["audiences"] == [names.VAULT_AUDIENCE, "https://kubernetes.default.svc"]
    assert config_problems(**MODES["existing+external+kubernetes"], kubernetesApiAudience="a b") == [
        "kubernetesApiAudience: 'a b' is not a token audience such as https://kubernetes.default.svc"
    ]


def test_cert_managers_own_service_account_and_namespace_are_the_ones_bound():
    r = render_mode(
        "existing+external+kubernetes", trustNamespace="platform-certs", certManagerServiceAccount="cm-controller"
    )
    assert r.one(ROLE).inputs["boundServiceAccountNamespaces"] == ["platform-certs"]
    assert r.one(ROLE_BINDING).inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "cm-controller", "namespace": "platform-certs"}
    ]
    assert r.one(SERVICE_ACCOUNT).inputs["metadata"]["namespace"] == "platform-certs"


def test_listed_clusters_each_get_a_mount_of_their_own_revocable_alone():
    other_ca = make_ca(common_name="west-api-ca")[0]
    clusters = [
        {"name": "east", "clusterMode": "k3d", "k3dApiPort": 6551},
        {
            "name": "west",
            "clusterMode": "existing",
            "kubeconfig": MODES["existing+external+kubernetes"]["kubeconfig"],
            "kubernetesHost": "https://west.example.com:6443",
            "kubernetesCaCert": other_ca,
            "vaultClusterAddress": "http://192.168.1.20:8200",
        },
    ]
    r = render(cfg(credential="kubernetes", clusters=json.dumps(clusters)))
    mounts = {b.inputs["path"] for b in r.of_type(BACKEND) if b.inputs["type"] == "kubernetes"}
    assert mounts == {"linkerd-kubernetes/east", "linkerd-kubernetes/west"}
    configs = {c.name: c.inputs for c in r.of_type(CONFIG)}
    assert configs["linkerd-pki-east-kubernetes-config"]["kubernetesHost"] == "https://k3d-east-server-0:6443"
    assert configs["linkerd-pki-west-kubernetes-config"]["kubernetesHost"] == "https://west.example.com:6443"
    assert configs["linkerd-pki-west-kubernetes-config"]["kubernetesCaCert"] == other_ca
    facts = r.outputs["clusters"]
    assert facts["east"]["kubernetesAuthMount"] == "linkerd-kubernetes/east"
    assert facts["west"]["kubernetesAuthMount"] == "linkerd-kubernetes/west"
    assert len(r.of_type(SERVICE_ACCOUNT)) == 2


def test_a_vault_only_stack_outputs_each_consumers_mount_and_role_and_nothing_secret():
    r = render_mode("vault-only+kubernetes")
    assert r.outputs["consumers"] == {
        name: {
            "kubernetesAuthMount": f"linkerd-kubernetes/{name}",
            "kubernetesAuthRole": "cert-manager",
            "kubernetesNamespace": "cert-manager",
        }
        for name in ("east", "west")
    }
    hosts = {c.inputs["kubernetesHost"] for c in r.of_type(CONFIG)}
    assert hosts == {"https://east.k8s.example.com:6443", "https://west.k8s.example.com:6443"}


def test_the_hand_off_says_what_role_a_security_team_makes():
    r = render_mode("cluster-only+provided+kubernetes")
    needs = r.outputs["vaultRequirements"]
    assert needs["kubernetesRole"] == vault_access.kubernetes_role(
        needs["policy"]["name"], 600, names.VAULT_SERVICE_ACCOUNT, "cert-manager"
    )
    assert needs["kubernetesConfig"]["disable_local_ca_jwt"] is True
    assert "approleRole" not in needs and "token" not in needs
    # And the role this program makes itself is exactly that.
    made = render_mode("existing+external+kubernetes").one(ROLE).inputs
    wanted = needs["kubernetesRole"]
    assert made["boundServiceAccountNames"] == wanted["bound_service_account_names"]
    assert made["audience"] == wanted["audience"] and made["tokenTtl"] == wanted["token_ttl"]


EXISTING = MODES["existing+external+kubernetes"]
WITHOUT_HOST = {k: v for k, v in EXISTING.items() if k != "kubernetesHost"}
NO_CA = {**MODES["existing+external"], "credential": "kubernetes", "kubernetesHost": KUBERNETES_HOST}
VAULT_ONLY = {**MODES["vault-only+external"], "credential": "kubernetes"}
HOST = KUBERNETES_HOST
ONE_WITHOUT_CA = f"[{{name: east, kubernetesHost: '{HOST}'}}]"


@pytest.mark.parametrize(
    ("raw", "key", "says"),
    [
        ({**EXISTING, "kubernetesHost": "http://k8s.example.com"}, "kubernetesHost", "is not https"),
        ({**EXISTING, "kubernetesHost": "https://k8s.example.com/api"}, "kubernetesHost", "has a path"),
        (WITHOUT_HOST, "kubernetesHost", "is required when credential is kubernetes"),
        (NO_CA, "kubernetesCaCert", "no PEM certificate-authority-data"),
        ({**EXISTING, "kubernetesCaCert": "not a pem"}, "kubernetesCaCert", "is not"),
        ({**MODES["k3d+docker+kubernetes"], "kubernetesHost": HOST}, "kubernetesHost", "only used when"),
        ({**EXISTING, "kubernetesTokenTtl": "2h"}, "kubernetesTokenTtl", "longer than 1h"),
        ({**EXISTING, "kubernetesAuthMount": "sys/k8s"}, "kubernetesAuthMount", "Vault keeps for itself"),
        ({**EXISTING, "kubernetesAuthRole": "a/b"}, "kubernetesAuthRole", "not a Vault role name"),
        ({**MODES["existing+external"], "kubernetesHost": HOST}, "kubernetesHost", "only used when"),
        ({**MODES["existing+external"], "certManagerServiceAccount": "cm"}, "certManagerServiceAccount", "only used"),
        ({**VAULT_ONLY, "consumers": ONE_WITHOUT_CA}, "consumers[0].kubernetesCaCert", "is required"),
        ({**MODES["vault-only+kubernetes"], "kubernetesHost": HOST}, "kubernetesHost", "each consumer's own"),
        ({**VAULT_ONLY, "consumers": "[{name: east, secretIdVersion: 2}]"}, "consumers[0].secretIdVersion", "approle"),
        ({"credential": "kubernetes", "kubernetesHost": HOST, "clusters": "[{name: a}]"}, "kubernetesHost", "only"),
    ],
)  # fmt: skip
def test_bad_kubernetes_auth_config_names_the_key_once(raw, key, says):
    problems = config_problems(**raw)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}:") and says in problems[0], problems


def test_a_listed_existing_cluster_says_its_own_api_server():
    entry = {
        "name": "west",
        "clusterMode": "existing",
        "kubeconfig": MODES["existing+external+kubernetes"]["kubeconfig"],
    }
    raw = {k: v for k, v in MODES["existing+external"].items() if k not in ("clusterMode", "kubeconfig")}
    problems = config_problems(**{**raw, "credential": "kubernetes", "clusters": json.dumps([entry])})
    assert problems == [
        "clusters[0].kubernetesHost: is required when credential is kubernetes: the cluster's API server as Vault "
        "reaches it (Vault calls its TokenReview API), such as https://k8s.example.com:6443"
    ]


def test_a_cluster_stack_whose_cert_manager_runs_where_the_role_does_not_look_is_refused():
    problems = config_problems_of_render("cluster-only+reference+kubernetes", trustNamespace="platform-certs")
    assert problems == [
        "trustNamespace: platform-certs is not where organization/linkerd-vault-pki/pki-kubernetes's Kubernetes auth "
        "role expects cert-manager (cert-manager): set trustNamespace to cert-manager, or that consumer's "
        "trustNamespace to platform-certs"
    ]


def config_problems_of_render(mode: str, **overrides: str) -> list[str]:
    from stack.config import ConfigError

    with pytest.raises(ConfigError) as err:
        render_mode(mode, **overrides)
    return err.value.problems


def test_a_vault_container_cannot_review_at_this_hosts_loopback():
    problems = config_problems(
        **{
            **MODES["existing+docker"],
            "credential": "kubernetes",
            "kubernetesHost": "https://127.0.0.1:6443",
            "kubeconfig": EXISTING["kubeconfig"],
        }
    )
    assert len(problems) == 1 and problems[0].startswith(
        "kubernetesHost: https://127.0.0.1:6443 is this host's loopback"
    )


def test_the_settings_are_secret_free():
    """Nothing of Kubernetes auth is a secret: it adds no key to the secrets a stack must mark."""
    from stack import settings

    keys = [s for s in settings.SETTINGS if s.key.startswith("kubernetes") or s.key == "certManagerServiceAccount"]
    assert keys and not any(s.secret for s in keys) and not set(SECRET_KEYS) & {s.key for s in keys}
