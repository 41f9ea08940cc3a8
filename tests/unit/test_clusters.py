"""Many clusters on one anchor, under mocks: each its own provider, credential and identity issuer, one anchor."""

from __future__ import annotations

import json

import pytest

from tests import harness
from tests.harness import EXISTING_KUBECONFIG, cfg, render

ROLE = "vault:appRole/authBackendRole:AuthBackendRole"
SECRET_ID = "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId"
TOKEN = "vault:index/token:Token"
ROOT_CERT = "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert"
EXTERNAL = {"vaultMode": "external", "vaultAddress": "https://vault.example.com"}

THREE = [
    {"name": "east", "clusterMode": "k3d", "k3dApiPort": 6551},
    {"name": "west", "clusterMode": "k3d", "k3dApiPort": 6552, "linkerd": "skip"},
    {
        "name": "prod",
        "clusterMode": "existing",
        "kubeconfig": EXISTING_KUBECONFIG,
        "vaultClusterAddress": "https://vault.prod.example.com",
        "certManager": "existing",
        "trustNamespace": "platform-certs",
    },
]


def listed(entries: list[dict], **top: str):
    return cfg(clusters=json.dumps(entries), **top)


@pytest.fixture(scope="module", params=["approle", "token"])
def three(request):
    return request.param, render(listed(THREE, credential=request.param))


def on_cluster(rendered, provider_name: str) -> list:
    return [r for r in rendered.resources if r.provider and f"::{provider_name}::" in r.provider]


def test_each_cluster_has_its_own_provider_and_everything_of_it_uses_that_provider(three):
    _, rendered = three
    providers = {r.name for r in rendered.of_type("pulumi:providers:kubernetes")}
    assert providers == {"east-kubernetes", "west-kubernetes", "prod-kubernetes"}
    for name in ("east", "west", "prod"):
        mine = on_cluster(rendered, f"{name}-kubernetes")
        assert mine and all(r.name.startswith(f"{name}-") for r in mine), [r.name for r in mine]
    # Every Kubernetes resource is on one of the listed clusters' providers.
    kube = [r for r in rendered.resources if r.type.startswith("kubernetes:")]
    assert all(any(f"::{p}::" in (r.provider or "") for p in providers) for r in kube)
    urns = [r.urn for r in rendered.resources]
    assert len(urns) == len(set(urns))


def test_each_cluster_has_a_credential_of_its_own_under_the_one_policy(three):
    kind, rendered = three
    policy = rendered.one("vault:index/policy:Policy")
    if kind == "approle":
        roles = {r.inputs["roleName"]: r for r in rendered.of_type(ROLE)}
        assert sorted(roles) == ["cert-manager-east", "cert-manager-prod", "cert-manager-west"]
        assert all(r.inputs["tokenPolicies"] == [policy.inputs["name"]] for r in roles.values())
        assert sorted(s.inputs["roleName"] for s in rendered.of_type(SECRET_ID)) == sorted(roles)
        assert len(rendered.of_type("vault:index/authBackend:AuthBackend")) == 1  # one mount, a role each
    else:
        tokens = rendered.of_type(TOKEN)
        assert sorted(t.name for t in tokens) == [f"linkerd-pki-{n}-token" for n in ("east", "prod", "west")]
        assert all(t.inputs["policies"] == [policy.inputs["name"]] for t in tokens)
    # Each cluster's cert-manager reads its own credential.
    secrets = {r.name.split("-")[0]: r for r in rendered.of_type("kubernetes:core/v1:Secret")}
    values = {name: next(iter(s.inputs["stringData"].values())) for name, s in secrets.items()}
    assert len(set(values.values())) == 3 and all(s.is_secret("stringData") for s in secrets.values())
    issuers = {r.name.split("-")[0]: r for r in rendered.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")}
    if kind == "approle":
        role_ids = {name: i.inputs["spec"]["vault"]["auth"]["appRole"]["roleId"] for name, i in issuers.items()}
        assert role_ids == {n: f"{harness.ROLE_ID}-cert-manager-{n}" for n in ("east", "west", "prod")}


def test_every_cluster_trusts_the_one_anchor_and_signs_at_the_one_path(three):
    _, rendered = three
    assert len(rendered.of_type(ROOT_CERT)) == 1
    sources = [r.inputs["data"] for r in rendered.of_type("kubernetes:core/v1:ConfigMap")]
    assert sources == [{"linkerd-trust-anchor.crt": harness.ANCHOR_PEM}] * 3
    issuers = rendered.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")
    assert {i.inputs["spec"]["vault"]["path"] for i in issuers} == {rendered.outputs["signPath"]}
    servers = {i.name.split("-")[0]: i.inputs["spec"]["vault"]["server"] for i in issuers}
    assert servers == {
        "east": f"http://{harness.CONTAINER_IP}:8200",
        "west": f"http://{harness.CONTAINER_IP}:8200",
        "prod": "https://vault.prod.example.com",
    }


def test_each_cluster_keeps_its_own_settings(three):
    _, rendered = three
    k3d = {r.name: r.inputs["create"] for r in rendered.of_type("command:local:Command")}
    assert sorted(k3d) == ["east-k3d-k3d", "west-k3d-k3d"]
    assert "--api-port 127.0.0.1:6551" in k3d["east-k3d-k3d"] and "k3d cluster create east" in k3d["east-k3d-k3d"]
    releases = {r.name for r in rendered.of_type("kubernetes:helm.sh/v3:Release")}
    assert {"east-linkerd-crds", "east-linkerd-control-plane"} <= releases
    assert not {r for r in releases if r.startswith("west-linkerd")}  # linkerd: skip
    assert {r for r in releases if r.startswith("prod-")} == {"prod-linkerd-crds", "prod-linkerd-control-plane"}
    assert len(rendered.of_type("docker:index/network:Network")) == 1  # one network for both k3d clusters
    prod_bundle = next(r for r in rendered.of_type("kubernetes:core/v1:ConfigMap") if r.name.startswith("prod-"))
    assert prod_bundle.inputs["metadata"]["namespace"] == "platform-certs"


def test_outputs_are_per_cluster_and_secrets_stay_in_the_secret_one(three):
    kind, rendered = three
    out = rendered.outputs
    assert sorted(out["clusters"]) == ["east", "prod", "west"]
    assert sorted(out["clusterSecrets"]) == ["east", "prod", "west"]
    assert rendered.secret_outputs == {"clusterSecrets"}
    assert "kubeconfig" not in out and "approleSecretId" not in out and "vaultToken" not in out
    secret_key = "approleSecretId" if kind == "approle" else "vaultToken"
    assert all(set(s) == {"kubeconfig", secret_key} for s in out["clusterSecrets"].values())
    assert out["clusterSecrets"]["prod"]["kubeconfig"] == EXISTING_KUBECONFIG
    plain = json.dumps(out["clusters"])
    assert harness.SECRET_ID not in plain and harness.CLIENT_TOKEN not in plain and "client-key-data" not in plain
    assert out["clusters"]["prod"]["vaultClusterAddress"] == "https://vault.prod.example.com"


@pytest.mark.parametrize("credential", ["approle", "token"])
def test_one_listed_cluster_is_named_and_no_list_is_the_stacks_one_cluster(credential):
    one = render(listed([{"name": "solo"}], credential=credential))
    plain = render(cfg(credential=credential))
    if credential == "approle":
        assert one.one(ROLE).inputs["roleName"] == "cert-manager-solo"
        assert plain.one(ROLE).inputs["roleName"] == "cert-manager"
    else:
        assert [t.name for t in one.of_type(TOKEN)] == ["linkerd-pki-solo-token"]
        assert [t.name for t in plain.of_type(TOKEN)] == ["linkerd-pki-token"]
    assert [r.name for r in one.of_type("pulumi:providers:kubernetes")] == ["solo-kubernetes"]
    assert list(one.outputs["clusters"]) == ["solo"] and "kubeconfig" not in one.outputs
    assert [r.name for r in plain.of_type("pulumi:providers:kubernetes")] == ["kubernetes"]
    assert "clusters" not in plain.outputs and "kubeconfig" in plain.outputs
    # The same graph but for the names: as many resources of each type.
    assert one.type_counts == plain.type_counts


def test_the_top_level_vault_cluster_address_is_the_entries_default_and_the_urls_address():
    rendered = render(
        listed(
            [
                {"name": "a", "k3dApiPort": 6551},
                {"name": "b", "k3dApiPort": 6552, "vaultClusterAddress": "http://10.0.0.9:8200"},
            ],
            vaultClusterAddress="http://10.0.0.5:8200",
        )
    )
    assert rendered.outputs["clusters"]["a"]["vaultClusterAddress"] == "http://10.0.0.5:8200"
    assert rendered.outputs["clusters"]["b"]["vaultClusterAddress"] == "http://10.0.0.9:8200"
    urls = rendered.one("vault:pkiSecret/secretBackendConfigUrls:SecretBackendConfigUrls")
    assert urls.inputs["issuingCertificates"] == ["http://10.0.0.5:8200/v1/pki/ca"]


def test_adding_or_removing_a_cluster_leaves_the_others_as_they_were():
    three, two = render(listed(THREE)), render(listed(THREE[:2]))
    before = {r.urn: r.inputs for r in three.resources}
    after = {r.urn: r.inputs for r in two.resources}
    assert set(after) < set(before)
    assert all(after[urn] == before[urn] for urn in after)  # nothing of east or west changes
    gone = {urn.rsplit("::", 1)[1] for urn in set(before) - set(after)}
    assert gone and all(name.startswith(("prod-", "linkerd-pki-prod-")) for name in gone), gone


def test_top_level_keys_are_each_entrys_defaults():
    parsed = listed(
        [{"name": "a", "k3dApiPort": 6551}, {"name": "b", "k3dApiPort": 6552, "linkerd": "install"}],
        linkerd="skip",
        readyTimeout="5m",
    )
    a, b = parsed.clusters
    assert (a.linkerd.install, b.linkerd.install) == (False, True)
    assert a.cert_manager.ready_timeout.text == b.cert_manager.ready_timeout.text == "5m"


def test_bumping_one_clusters_secret_id_version_changes_only_its_secret_id():
    before = render(listed(THREE[:2]))
    after = render(listed([{**THREE[0], "secretIdVersion": 2}, THREE[1]]))
    metadata = {r.inputs["roleName"]: r.inputs["metadata"] for r in before.of_type(SECRET_ID)}
    changed = {
        r.inputs["roleName"] for r in after.of_type(SECRET_ID) if r.inputs["metadata"] != metadata[r.inputs["roleName"]]
    }
    assert changed == {"cert-manager-east"}
