"""The whole graph under Pulumi mocks, in each mode: values, ordering, secrets, outputs."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization

from linkerd_vault_pki import mesh, names, versions
from stack import config
from tests import harness, reference
from tests.harness import MODES, cfg, render, render_mode
from tests.toolchain import engine

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ("docker:index/network:Network", "docker:index/container:Container", "docker:index/remoteImage:RemoteImage")
K3D = "command:local:Command"
ROOT_CERT = "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert"
RELEASE = "kubernetes:helm.sh/v3:Release"
MOUNT = "vault:index/mount:Mount"
ROLE = "vault:appRole/authBackendRole:AuthBackendRole"
KUBERNETES_ROLE = "vault:kubernetes/authBackendRole:AuthBackendRole"
POLICY = "vault:index/policy:Policy"
PKI_KEY = "vault:pkiSecret/secretBackendKey:SecretBackendKey"
CONFIG_ISSUERS = "vault:pkiSecret/secretBackendConfigIssuers:SecretBackendConfigIssuers"


@pytest.fixture(scope="module", params=list(MODES))
def mode(request):
    return request.param, render_mode(request.param)


@pytest.fixture(scope="module")
def laptop():
    return render(cfg())


@pytest.fixture(scope="module")
def laptop_token():
    return render(cfg(credential="token"))


def cluster_side(rendered):
    return [r for r in rendered.resources if r.type.startswith("kubernetes:")]


# --- what exists in each mode -------------------------------------------------


def test_each_mode_creates_only_what_it_owns(mode):
    name, rendered = mode
    counts = rendered.type_counts
    docker_vault = "docker" in name and "external" not in name
    assert bool(rendered.of_type(K3D)) == name.startswith("k3d")
    assert bool(rendered.of_type("docker:index/container:Container")) == docker_vault
    assert bool(rendered.of_type("docker:index/network:Network")) == (name.startswith("k3d") or docker_vault)
    assert bool(cluster_side(rendered)) == (not name.startswith("vault-only"))
    if name.startswith("cluster-only"):
        # Consumed, not made: not one Vault resource, nor a Vault provider.
        assert not [r for r in rendered.resources if r.type.startswith(("vault:", "pulumi:providers:vault"))]
        assert bool(rendered.of_type("pulumi:pulumi:StackReference")) == ("reference" in name)
        return
    # The Vault side is the same everywhere it is made: one mount, one anchor, one policy.
    assert counts["vault:index/mount:Mount"] == 1
    assert counts[ROOT_CERT] == 1
    assert counts["vault:index/policy:Policy"] == 1


def test_existing_cluster_and_external_vault_touch_no_docker_or_k3d():
    rendered = render(cfg(**MODES["existing+external"]))
    assert not [r for r in rendered.resources if r.type.startswith(("docker:", "command:"))]
    provider = rendered.one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == harness.EXISTING_KUBECONFIG
    assert provider.is_secret("kubeconfig")


# Single resources that several components share: helpers at the top of the graph, not components.
TOP_LEVEL = {"local-network": "docker:index/network:Network", "linkerd-namespace": "kubernetes:core/v1:Namespace"}


def test_every_resource_is_named_after_its_component_and_parented():
    rendered = render(cfg())
    components = {r.name: r for r in rendered.resources if r.type.startswith("linkerd-vault-pki:")}
    for r in rendered.resources:
        if r.type.startswith("pulumi:providers:") or r.type.startswith("linkerd-vault-pki:"):
            continue
        parent_name = r.parent.split("::")[-1]
        if TOP_LEVEL.get(r.name) == r.type:
            assert parent_name.startswith("linkerd-vault-pki-"), f"{r.name} should hang off the stack"
            continue
        assert parent_name in components, f"{r.name} has no component parent"
        assert r.name.startswith(f"{parent_name}-"), f"{r.name} is not named after {parent_name}"


# --- the laptop: Docker network, k3d, Vault dev container ---------------------


def k3d_create_argv(rendered) -> list[str]:
    return shlex.split(rendered.one(K3D).inputs["create"].split(" 1>&2")[0])


def test_k3d_cluster_uses_the_walkthrough_flags_and_is_deleted_on_destroy(laptop):
    k3d = laptop.one(K3D)
    argv = k3d_create_argv(laptop)
    assert argv[:4] == ["k3d", "cluster", "create", "pki-cluster"]
    flags = list(itertools.pairwise(argv))
    assert ("--network", "pki-network") in flags
    assert ("--image", versions.K3S_IMAGE) in flags
    assert ("--api-port", "127.0.0.1:6550") in flags
    assert "--kubeconfig-update-default=false" in argv
    assert k3d.inputs["create"].endswith("k3d kubeconfig get pki-cluster")
    assert k3d.inputs["delete"] == "k3d cluster delete pki-cluster"
    # The kubeconfig is printed on stdout: it must not be logged, nor handed to `delete` in its environment.
    assert k3d.inputs["logging"] == "stderr"
    assert k3d.inputs["addPreviousOutputInEnv"] is False


def test_k3d_publishes_no_port_that_nothing_serves(laptop):
    argv = k3d_create_argv(laptop)
    # Traefik is disabled: nothing would serve 80/443 on the load balancer.
    assert "-p" not in argv and "--port" not in argv
    assert ("--k3s-arg", "--disable=local-storage,traefik,metrics-server@server:*") in itertools.pairwise(argv)


def test_k3d_waits_for_the_cluster_for_a_bounded_time(laptop):
    argv = k3d_create_argv(laptop)
    assert "--wait" in argv
    timeout = argv[argv.index("--timeout") + 1]
    seconds = config.parse_duration(timeout)
    assert seconds is not None and 0 < seconds.seconds <= 600, timeout


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("clusterName", "other-cluster"),
        ("k3dApiPort", "6551"),
        ("k3sImage", "rancher/k3s:v1.33.5-k3s1"),
        ("dockerNetwork", "other-network"),
    ],
)
def test_changing_a_cluster_setting_replaces_the_cluster_deleting_the_old_one_first(laptop, key, value):
    changed = render(cfg(**{key: value}))
    before, after = laptop.one(K3D), changed.one(K3D)
    # The setting reaches `create`, and a change of `create` replaces (never re-runs create in place).
    assert before.inputs["create"] != after.inputs["create"]
    assert "create" in after.replace_on_changes
    assert after.delete_before_replace
    if key == "clusterName":
        # The old cluster is deleted by its own (stored) delete command, under its old name.
        assert before.inputs["delete"] != after.inputs["delete"]


def run_k3d_create(laptop, tmp_path, create_exit: int = 0) -> tuple[subprocess.CompletedProcess, list[str]]:
    """The rendered create command under `sh`, as pulumi-command runs it, with a fake k3d recording its calls."""
    from tests.helpers import fake_bin

    record = tmp_path / "k3d-calls"
    fake_k3d = f"""echo "$*" >> {record}
case "$1 $2" in
  "cluster create") echo "INFO[0000] Creating cluster [$3]"; exit {create_exit} ;;
  "kubeconfig get") echo "apiVersion: v1"; echo "kind: Config" ;;
esac"""
    result = subprocess.run(
        ["/bin/sh", "-c", laptop.one(K3D).inputs["create"]],
        env={"PATH": fake_bin(tmp_path, k3d=fake_k3d)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result, record.read_text().splitlines()


def test_k3d_is_called_as_rendered_and_stdout_carries_only_the_kubeconfig(laptop, tmp_path):
    result, calls = run_k3d_create(laptop, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "apiVersion: v1\nkind: Config\n"  # what Pulumi keeps, as a secret
    assert "Creating cluster [pki-cluster]" in result.stderr  # k3d's progress goes to the log
    create, get = calls
    assert create.startswith("cluster create pki-cluster --image ")
    assert " -p " not in f" {create} " and "--timeout 300s" in create
    assert get == "kubeconfig get pki-cluster"


def test_a_failed_k3d_create_fails_the_command_without_asking_for_a_kubeconfig(laptop, tmp_path):
    result, calls = run_k3d_create(laptop, tmp_path, create_exit=1)
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(calls) == 1


def test_fixed_name_resources_are_deleted_before_they_are_replaced(laptop):
    # A second k3d cluster or container of the same name (and port) cannot start beside the first.
    assert laptop.one(K3D).delete_before_replace
    assert laptop.one("docker:index/container:Container").delete_before_replace
    # The secret_id is the opposite: the new one must exist before the old one goes.
    assert not laptop.one("vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId").delete_before_replace


def test_k3s_satisfies_linkerd_minimum_kubernetes():
    major, minor = (int(x) for x in versions.K3S_VERSION.lstrip("v").split(".")[:2])
    assert (major, minor) >= versions.LINKERD_MIN_KUBERNETES


def test_cluster_and_vault_share_the_docker_network(laptop):
    network = laptop.one("docker:index/network:Network")
    container = laptop.one("docker:index/container:Container")
    assert laptop.waits_for(laptop.one(K3D), network)
    assert laptop.waits_for(container, network)
    assert container.inputs["networksAdvanced"] == [{"name": "pki-network"}]


def test_vault_dev_container(laptop):
    container = laptop.one("docker:index/container:Container")
    image = laptop.one("docker:index/remoteImage:RemoteImage")
    assert image.inputs["name"] == versions.VAULT_IMAGE and ":" in versions.VAULT_IMAGE
    assert container.inputs["capabilities"] == {"adds": ["IPC_LOCK"]}
    # `vault server ...`, not the image's `server` shorthand, which its entrypoint expands with
    # -dev-root-token-id="$VAULT_DEV_ROOT_TOKEN_ID": the token would be in Vault's argv.
    command = container.inputs["command"]
    assert command[:3] == ["vault", "server", "-dev"]
    assert "-dev-listen-address=0.0.0.0:8200" in command
    assert not any("root-token" in arg or "root-token-for-tests" in arg for arg in command)
    (port,) = container.inputs["ports"]
    assert (port["internal"], port["external"], port["ip"]) == (8200, 8200, "127.0.0.1")
    assert container.inputs["wait"] is True and container.inputs["healthcheck"]["tests"][0] == "CMD"
    # Vault reads the token from its environment, which is a secret in state.
    assert container.inputs["envs"] == ["VAULT_DEV_ROOT_TOKEN_ID=root-token-for-tests"]
    assert container.is_secret("envs")
    # After a Docker restart it comes back (empty), so that refresh + up can rebuild the Vault side.
    assert container.inputs["restart"] == "unless-stopped"


def test_vault_provider_waits_for_the_container_and_never_calls_vault_while_configuring(laptop):
    provider = laptop.one("pulumi:providers:vault")
    container = laptop.one("docker:index/container:Container")
    assert laptop.waits_for(provider, container)
    assert provider.inputs["address"] == "http://127.0.0.1:8200"
    assert provider.inputs["skipChildToken"] in (True, "true")
    assert provider.inputs["skipGetVaultVersion"] in (True, "true")
    assert provider.inputs["vaultVersionOverride"] == versions.VAULT_VERSION
    assert provider.is_secret("token")
    for r in laptop.resources:
        if r.type.startswith("vault:"):
            assert r.provider and "pulumi:providers:vault" in r.provider, r.name
            assert laptop.waits_for(r, container), r.name


def test_the_cluster_reaches_vault_at_its_network_address(laptop):
    issuer = laptop.custom_resource("ClusterIssuer")
    urls = laptop.one("vault:pkiSecret/secretBackendConfigUrls:SecretBackendConfigUrls")
    in_network = f"http://{harness.CONTAINER_IP}:8200"
    assert issuer.inputs["spec"]["vault"]["server"] == in_network
    assert urls.inputs["issuingCertificates"] == [f"{in_network}/v1/pki/ca"]
    assert urls.inputs["crlDistributionPoints"] == [f"{in_network}/v1/pki/crl"]
    assert laptop.outputs["vaultAddress"] == "http://127.0.0.1:8200"
    assert laptop.outputs["vaultClusterAddress"] == in_network


def test_external_vault_with_a_private_ca_and_a_namespace():
    import base64

    ca_pem, _ = harness.make_ca(common_name="Example Corp Internal CA")
    rendered = render(cfg(**MODES["k3d+external"], vaultCaBundlePem=ca_pem, vaultNamespace="platform/linkerd"))
    vault_spec = rendered.custom_resource("ClusterIssuer").inputs["spec"]["vault"]
    assert base64.b64decode(vault_spec["caBundle"]).decode() == ca_pem
    assert vault_spec["namespace"] == "platform/linkerd"
    assert rendered.one("pulumi:providers:vault").inputs["namespace"] == "platform/linkerd"


def test_no_ca_bundle_or_namespace_unless_asked(laptop):
    vault_spec = laptop.custom_resource("ClusterIssuer").inputs["spec"]["vault"]
    assert "caBundle" not in vault_spec and "namespace" not in vault_spec
    assert "namespace" not in laptop.one("pulumi:providers:vault").inputs


def test_external_vault_addresses():
    rendered = render(cfg(**MODES["k3d+external"], vaultClusterAddress="https://10.0.0.5:8200"))
    assert rendered.one("pulumi:providers:vault").inputs["address"] == "https://vault.example.com"
    assert rendered.custom_resource("ClusterIssuer").inputs["spec"]["vault"]["server"] == "https://10.0.0.5:8200"
    urls = rendered.one("vault:pkiSecret/secretBackendConfigUrls:SecretBackendConfigUrls")
    assert urls.inputs["issuingCertificates"] == ["https://10.0.0.5:8200/v1/pki/ca"]


# --- Vault: PKI mount, anchor, least privilege, credential -------------------


def test_pki_mount_and_anchor(laptop):
    mount = laptop.one("vault:index/mount:Mount")
    assert (mount.inputs["type"], mount.inputs["path"]) == ("pki", "pki")
    assert mount.inputs["maxLeaseTtlSeconds"] == 2160 * 3600
    anchor, key = laptop.one(ROOT_CERT), laptop.one(PKI_KEY)
    # The key is generated in Vault and never leaves it; the anchor is signed with it, in Vault.
    assert (key.inputs["type"], key.inputs["keyType"], key.inputs["keyBits"]) == ("internal", "ec", 256)
    assert (anchor.inputs["type"], anchor.inputs["keyRef"]) == ("existing", "key-id-linkerd-trust-anchor")
    assert anchor.inputs["issuerName"] == key.inputs["keyName"] == "linkerd-trust-anchor"
    assert anchor.inputs["commonName"] == "root.linkerd.cluster.local"
    assert (anchor.inputs["keyType"], anchor.inputs["keyBits"]) == ("ec", 256)
    assert anchor.inputs["ttl"] == f"{2160 * 3600}s"
    assert anchor.inputs["backend"] == key.inputs["backend"] == "pki"
    # The mount's default issuer is the signing anchor.
    defaults = laptop.one(CONFIG_ISSUERS)
    assert defaults.inputs["default"] == "issuer-id-linkerd-trust-anchor"
    assert defaults.inputs["defaultFollowsLatestIssuer"] is False


def test_signing_policy_grants_update_on_sign_intermediate_only(laptop):
    policy = laptop.one("vault:index/policy:Policy")
    text = policy.inputs["policy"]
    assert text.count("path ") == 1
    assert 'path "pki/issuer/linkerd-trust-anchor/sign-intermediate"' in text
    assert 'capabilities = ["update"]' in text
    assert "sudo" not in text and "*" not in text


def test_approle_credential_does_not_expire_and_holds_only_the_signing_policy(laptop):
    backend = laptop.one("vault:index/authBackend:AuthBackend")
    role = laptop.one("vault:appRole/authBackendRole:AuthBackendRole")
    secret_id = laptop.one("vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId")
    policy = laptop.one("vault:index/policy:Policy")
    assert (backend.inputs["type"], backend.inputs["path"]) == ("approle", "linkerd-approle")
    assert role.inputs["tokenPolicies"] == [policy.inputs["name"]]
    assert role.inputs["tokenNoDefaultPolicy"] is True
    assert role.inputs["secretIdTtl"] == 0
    assert 0 < role.inputs["tokenTtl"] <= 3600
    assert json.loads(secret_id.inputs["metadata"])["version"] == "1"
    assert not laptop.of_type("vault:index/token:Token")


def test_bumping_secret_id_version_changes_the_secret_id_inputs():
    before = render(cfg()).one("vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId")
    after = render(cfg(secretIdVersion="2")).one("vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId")
    assert before.inputs["metadata"] != after.inputs["metadata"]
    assert json.loads(after.inputs["metadata"])["version"] == "2"


def test_token_credential_is_the_walkthroughs_token_with_least_privilege(laptop_token):
    token = laptop_token.one("vault:index/token:Token")
    policy = laptop_token.one("vault:index/policy:Policy")
    assert token.inputs["policies"] == [policy.inputs["name"]]
    assert token.inputs["noParent"] is True and token.inputs["noDefaultPolicy"] is True
    assert token.inputs["renewable"] is True and token.inputs["numUses"] == 0
    assert token.inputs["ttl"] == f"{767 * 3600}s"
    assert not laptop_token.of_type("vault:index/authBackend:AuthBackend")
    # Its death is an output: 767h after it was issued.
    assert laptop_token.outputs["vaultTokenExpiresAt"] == "2026-12-29T23:00:00Z"


# --- cert-manager, trust-manager, identity, Linkerd ---------------------------


def test_helm_releases_are_pinned_to_what_the_reference_data_and_the_built_tools_are(laptop):
    releases = {r.inputs["name"]: r.inputs for r in laptop.of_type(RELEASE)}
    for name, release in releases.items():
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", release["version"]), f"{name} is not pinned: {release['version']}"
    # The charts' schemas the L1 tests check against, and the controllers L2.5 builds, are these versions.
    assert reference.cert_manager_dir().name == f"cert-manager-{releases['cert-manager']['version']}"
    assert reference.trust_manager_dir().name == f"trust-manager-{releases['trust-manager']['version']}"
    assert releases["cert-manager"]["version"] == engine.CERT_MANAGER_VERSION
    assert releases["trust-manager"]["version"] == engine.TRUST_MANAGER_VERSION
    assert releases["cert-manager"]["chart"].endswith("/cert-manager")
    assert releases["trust-manager"]["chart"].endswith("/trust-manager")
    year, month, patch = releases["linkerd-control-plane"]["version"].split(".")
    edge = f"edge-{int(year) % 100}.{int(month)}.{int(patch)}"
    assert reference.linkerd_dir().name == f"linkerd-{edge}"
    for chart in ("linkerd-crds", "linkerd-control-plane"):
        assert releases[chart]["version"] == releases["linkerd-control-plane"]["version"]
        assert releases[chart]["repositoryOpts"]["repo"] == "https://helm.linkerd.io/edge"
        assert (reference.linkerd_dir() / chart / "Chart.yaml").is_file()
    assert releases["cert-manager"]["values"]["crds"] == {"enabled": True, "keep": True}
    assert "installCRDs" not in releases["cert-manager"]["values"]
    assert releases["trust-manager"]["values"]["app"]["trust"]["namespace"] == "cert-manager"
    assert releases["linkerd-crds"]["values"] == {"installGatewayAPI": True}
    assert releases["linkerd-control-plane"]["values"]["identity"] == {
        "externalCA": True,
        "issuer": {"scheme": "kubernetes.io/tls"},
    }
    assert releases["linkerd-control-plane"]["namespace"] == "linkerd"


def test_gateway_api_crds_can_be_left_to_an_existing_cluster():
    rendered = render(cfg(installGatewayApi="false"))
    crds = next(r for r in rendered.of_type(RELEASE) if r.inputs["name"] == "linkerd-crds")
    assert crds.inputs["values"] == {"installGatewayAPI": False}


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector's matchExpressions, evaluated."""
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
        if expr["operator"] == "Exists" and value is None:
            return False
        if expr["operator"] == "DoesNotExist" and value is not None:
            return False
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_linkerd_namespace_labels_are_the_ones_linkerd_and_the_bundle_read(laptop):
    namespace = laptop.one("kubernetes:core/v1:Namespace")
    meta = namespace.inputs["metadata"]
    labels = {**meta["labels"], "kubernetes.io/metadata.name": meta["name"]}
    # Linkerd's own admission webhooks (the pinned chart's selectors) must leave its namespace alone.
    values = reference.linkerd_values("linkerd-control-plane")
    for webhook in ("proxyInjector", "profileValidator", "policyValidator"):
        assert not selects(values[webhook]["namespaceSelector"], labels), f"{webhook} would act on {meta['name']}"
    assert selects(values["proxyInjector"]["namespaceSelector"], {"kubernetes.io/metadata.name": "emojivoto"})
    # The trust Bundle targets it, and only namespaces like it.
    bundle = laptop.custom_resource("Bundle").inputs["spec"]["target"]["namespaceSelector"]
    assert selects(bundle, labels) and not selects(bundle, {"kubernetes.io/metadata.name": "emojivoto"})
    assert labels["linkerd.io/control-plane-ns"] == meta["name"]
    assert meta["annotations"] == {"linkerd.io/inject": "disabled"}


def test_cluster_issuer_signs_at_sign_intermediate_with_approle(laptop):
    issuer = laptop.custom_resource("ClusterIssuer")
    secret = laptop.one("kubernetes:core/v1:Secret")
    vault_spec = issuer.inputs["spec"]["vault"]
    assert issuer.inputs["metadata"]["name"] == "vault-linkerd-trust-anchor"
    assert vault_spec["path"] == "pki/issuer/linkerd-trust-anchor/sign-intermediate"
    approle = vault_spec["auth"]["appRole"]
    assert approle["path"] == "linkerd-approle" and approle["roleId"] == harness.ROLE_ID
    assert secret.inputs["metadata"]["namespace"] == "cert-manager"
    assert secret.inputs["metadata"]["name"] == approle["secretRef"]["name"]
    assert secret.inputs["stringData"] == {approle["secretRef"]["key"]: harness.SECRET_ID}
    assert secret.is_secret("stringData")
    assert laptop.outputs["clusterIssuer"] == "vault-linkerd-trust-anchor"


def test_cluster_issuer_with_a_token(laptop_token):
    issuer = laptop_token.custom_resource("ClusterIssuer")
    secret = laptop_token.one("kubernetes:core/v1:Secret")
    ref = issuer.inputs["spec"]["vault"]["auth"]["tokenSecretRef"]
    assert secret.inputs["stringData"] == {ref["key"]: harness.CLIENT_TOKEN}
    assert secret.is_secret("stringData")
    assert secret.inputs["metadata"] == {"name": ref["name"], "namespace": "cert-manager"}


def test_identity_issuer_certificate(laptop):
    cert = laptop.custom_resource("Certificate")
    spec = cert.inputs["spec"]
    assert cert.inputs["metadata"]["namespace"] == "linkerd"
    assert cert.inputs["metadata"]["name"] == spec["secretName"] == "linkerd-identity-issuer"
    assert (spec["duration"], spec["renewBefore"]) == ("48h", "25h")
    assert spec["isCA"] is True
    assert spec["commonName"] == "identity.linkerd.cluster.local"
    assert spec["dnsNames"] == ["identity.linkerd.cluster.local"]
    assert spec["privateKey"] == {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}
    assert sorted(spec["usages"]) == ["cert sign", "client auth", "crl sign", "server auth"]
    assert spec["issuerRef"]["name"] == laptop.custom_resource("ClusterIssuer").inputs["metadata"]["name"]
    assert spec["issuerRef"]["kind"] == "ClusterIssuer"


def test_trust_bundle_comes_from_vaults_anchor_and_reaches_only_the_control_plane(laptop):
    bundle = laptop.custom_resource("Bundle")
    anchor_source = laptop.one("kubernetes:core/v1:ConfigMap")
    spec = bundle.inputs["spec"]
    assert bundle.inputs["metadata"]["name"] == "linkerd-identity-trust-roots"
    # The target carries the digest of the anchor set it holds, which trust-manager writes with the roots.
    assert spec["target"]["configMap"] == {
        "key": "ca-bundle.crt",
        "metadata": {"annotations": {names.ROOTS_DIGEST_ANNOTATION: mesh.roots_digest([harness.ANCHOR_PEM])}},
    }
    assert spec["target"]["namespaceSelector"] == {"matchLabels": {"linkerd.io/is-control-plane": "true"}}
    # Sourced from the anchor's public certificate in the trust namespace, never
    # from the issuer's Secret (which holds the issuer's private key).
    assert anchor_source.inputs["metadata"]["namespace"] == "cert-manager"
    # One source, the whole ConfigMap: it holds exactly the anchors to trust, so a rotation never
    # changes the Bundle's sources (which could name a key the ConfigMap no longer holds).
    assert spec["sources"] == [
        {"configMap": {"name": anchor_source.inputs["metadata"]["name"], "includeAllKeys": True}}
    ]
    assert anchor_source.inputs["data"] == {"linkerd-trust-anchor.crt": harness.ANCHOR_PEM}
    assert "PRIVATE KEY" not in json.dumps(anchor_source.inputs)


def test_previous_anchor_joins_the_bundle_for_rotation():
    previous, _ = harness.make_ca(common_name="old-root.linkerd.cluster.local")
    rendered = render(cfg(previousAnchorPem=previous))
    anchor_source = rendered.one("kubernetes:core/v1:ConfigMap")
    assert anchor_source.inputs["data"] == {
        "linkerd-trust-anchor.crt": harness.ANCHOR_PEM,
        "previous-anchor.crt": previous,
    }


def test_custom_resources_wait_for_readiness(laptop):
    def wait_for(kind):
        return laptop.custom_resource(kind).inputs["metadata"]["annotations"]["pulumi.com/waitFor"]

    assert wait_for("ClusterIssuer") == "condition=Ready"
    assert wait_for("Certificate") == "condition=Ready"
    assert wait_for("Bundle") == "condition=Synced"


# --- ordering the data does not carry -----------------------------------------


def test_ordering(mode):
    name, r = mode
    # The anchor's PEM comes from Vault's root certificate, from a Vault-only stack, or from config.
    anchor = r.one(ROOT_CERT) if r.of_type(ROOT_CERT) else next(iter(r.of_type("pulumi:pulumi:StackReference")), None)
    if name.startswith("vault-only"):
        # The Vault side alone: the credential is made only once the policy it holds exists, the anchor
        # only once its mount exists; and nothing of Kubernetes or Docker is there to order.
        assert not [x for x in r.resources if x.type.startswith(("kubernetes:", "docker:", "command:"))]
        assert r.waits_for(anchor, r.one(MOUNT))
        for role in r.of_type(ROLE) + r.of_type(KUBERNETES_ROLE):
            assert r.waits_for(role, r.one(POLICY))
        assert r.of_type(ROLE) or r.of_type(KUBERNETES_ROLE)
        return
    releases = {x.inputs["name"]: x for x in r.of_type(RELEASE)}
    issuer, cert, bundle = (r.custom_resource(k) for k in ("ClusterIssuer", "Certificate", "Bundle"))
    namespace = r.one("kubernetes:core/v1:Namespace", "linkerd-namespace")
    # What every custom resource needs first: cert-manager's and trust-manager's CRDs (and webhook).
    if "cert-manager" in releases:
        prerequisites = [releases["cert-manager"], releases["trust-manager"]]
        assert r.waits_for(releases["trust-manager"], releases["cert-manager"])
        assert not r.waits_for(releases["cert-manager"], cert)  # and no cycle the other way
    else:
        prerequisites = [x for x in r.resources if x.read_id and x.type.endswith("CustomResourceDefinition")]
        assert len(prerequisites) == 3
        # Without its CRDs nothing of ours is applied: the credential Secret (or ServiceAccount) waits for them too.
        assert all(r.waits_for(login(r), crd) for crd in prerequisites)
    for cr in (issuer, cert, bundle, namespace):
        for prerequisite in prerequisites:
            assert r.waits_for(cr, prerequisite), f"{cr.name} does not wait for {prerequisite.name}"
    assert r.waits_for(issuer, login(r))
    assert r.waits_for(cert, issuer) and r.waits_for(cert, namespace)
    assert r.waits_for(bundle, namespace) and r.waits_for(bundle, r.one("kubernetes:core/v1:ConfigMap"))
    if anchor is not None:
        assert r.waits_for(r.one("kubernetes:core/v1:ConfigMap"), anchor)
    if "linkerd-control-plane" in releases:
        control_plane = releases["linkerd-control-plane"]
        assert r.waits_for(control_plane, cert), "the control plane does not wait for the issuer Certificate"
        assert r.waits_for(control_plane, bundle), "the control plane does not wait for the trust Bundle"
    if "linkerd-crds" in releases:
        # Only true waits: the CRDs need the cluster and the namespace, not the PKI (off the critical path).
        crds = releases["linkerd-crds"]
        assert r.waits_for(crds, namespace)
        assert not r.waits_for(crds, cert) and not r.waits_for(crds, bundle) and not r.waits_for(crds, issuer)
        assert r.waits_for(releases["linkerd-control-plane"], crds)


def login(r):
    """What cert-manager logs in to Vault with on the cluster: the credential Secret, or the ServiceAccount."""
    return next(iter(r.of_type("kubernetes:core/v1:ServiceAccount")), None) or r.one(
        "kubernetes:core/v1:Secret", "vault-credential"
    )


# --- secrets and outputs -------------------------------------------------------


def test_secrets_stay_secret(mode):
    name, r = mode
    # A cluster-only stack exports no credential at all: it is the Vault side's (or the security team's).
    # Kubernetes auth has no secret at all to export (nor a token: the login is the cluster's ServiceAccount).
    expected_secret = set() if name.startswith("cluster-only") or "kubernetes" in name else {"approleSecretId"}
    expected_secret |= {"kubeconfig"} if r.of_type("pulumi:providers:kubernetes") else set()
    assert expected_secret <= r.secret_outputs
    for key, value in r.outputs.items():
        if key in r.secret_outputs:
            continue
        text = json.dumps(value)
        secrets = (
            "root-token-for-tests",
            harness.SECRET_ID,
            harness.CLIENT_TOKEN,
            "client-key-data",
            "handed-over-secret",
        )
        for secret in secrets:
            assert secret not in text, f"output {key} holds a secret in plain"
        assert "PRIVATE KEY" not in text


def test_token_output_is_secret(laptop_token):
    assert "vaultToken" in laptop_token.secret_outputs
    assert "vaultTokenExpiresAt" not in laptop_token.secret_outputs


def test_anchor_outputs_are_derived_from_vaults_certificate(laptop):
    cert = cx509.load_pem_x509_certificate(harness.ANCHOR_PEM.encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert laptop.outputs["trustAnchorSha256"].replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    assert laptop.outputs["trustAnchorNotAfter"] == "2027-02-26T00:00:00Z"
    assert laptop.outputs["trustAnchorPem"] == harness.ANCHOR_PEM
    assert laptop.outputs["signPath"] == "pki/issuer/linkerd-trust-anchor/sign-intermediate"


def test_vault_only_mode_exports_what_the_cluster_side_consumes():
    r = render(cfg(**MODES["vault-only+external"]))
    assert {"trustAnchorPem", "signPath", "approleRoleId", "approleSecretId", "vaultClusterAddress"} <= set(r.outputs)
    assert "kubeconfig" not in r.outputs and "clusterIssuer" not in r.outputs


def test_first_preview_of_an_empty_stack_registers_everything():
    """During a first preview nothing exists yet: what Vault, Docker and k3d compute is unknown (the container's
    network address, the anchor, the kubeconfig), and nothing fails; the operator's address, from the port
    given, is known, and the Vault provider is configured without calling Vault."""
    previewed = render(cfg(), preview=True)
    created = render(cfg())
    assert sorted((r.type, r.name) for r in previewed.resources) == sorted((r.type, r.name) for r in created.resources)
    assert harness.unknown(previewed.custom_resource("ClusterIssuer").inputs["spec"]["vault"]["server"])
    anchors = previewed.one("kubernetes:core/v1:ConfigMap").inputs["data"]  # the anchor's PEM
    assert harness.unknown(anchors) or all(harness.unknown(v) for v in anchors.values()), anchors
    assert harness.unknown(previewed.one("pulumi:providers:kubernetes").inputs["kubeconfig"])
    assert previewed.one("pulumi:providers:vault").inputs["address"] == "http://127.0.0.1:8200"
    # Under the mocks of an `up` the same fields are known: the check above can fail.
    assert created.custom_resource("ClusterIssuer").inputs["spec"]["vault"]["server"] == "http://172.28.0.3:8200"


@pytest.mark.parametrize(
    ("key", "value"), [("anchorTtl", "2000h"), ("anchorCommonName", "root2.linkerd.cluster.local")]
)
def test_changing_what_defines_anchors_leaves_a_live_anchor_as_it_was_generated(laptop, key, value):
    """A live anchor is what the proxies trust: a new ttl or name applies to the next one (a rotation)."""
    before, after = laptop.one(ROOT_CERT), render(cfg(**{key: value})).one(ROOT_CERT)
    changed = {k for k in after.inputs if after.inputs[k] != before.inputs.get(k)}
    assert changed and changed <= set(after.ignore_changes), (changed, after.ignore_changes)
    assert not after.replace_on_changes
    assert after.delete_before_replace  # a replacement (a new backend) frees the issuer name first


@pytest.mark.parametrize(
    ("settings", "unused"),
    [
        ({"clusterMode": "none"}, {"pulumi_command", "pulumi_kubernetes"}),  # a Vault container, no cluster
        (MODES["vault-only+external"], {"pulumi_command", "pulumi_kubernetes", "pulumi_docker"}),
        (MODES["existing+external"], {"pulumi_command", "pulumi_docker"}),
    ],
)
def test_a_stack_imports_only_the_sdks_whose_resources_it_makes(settings, unused):
    """In a fresh interpreter, as `pulumi up` runs the program: each SDK costs 50-300 ms to import."""
    code = (
        "import sys\n"
        "from tests.harness import cfg, render\n"
        f"render(cfg(**{settings!r}))\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules if m.startswith('pulumi_')})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert not set(out.stdout.strip().split(",")) & unused, out.stdout
