"""A platform cluster: cert-manager and trust-manager already there, Linkerd installed by another tool."""

from __future__ import annotations

import pytest

from linkerd_vault_pki import linkerd, names
from stack import config
from tests.harness import EXISTING_KUBECONFIG, MODES, cfg, render
from tests.reference import linkerd_values

RELEASE = "kubernetes:helm.sh/v3:Release"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


@pytest.fixture(scope="module")
def platform():
    return render(cfg(**MODES["platform"]))


def test_nothing_is_installed_and_the_crds_it_needs_are_read(platform):
    assert platform.of_type(RELEASE) == []
    reads = {r.read_id for r in platform.of_type(CRD)}
    assert reads == {"clusterissuers.cert-manager.io", "certificates.cert-manager.io", "bundles.trust.cert-manager.io"}
    # Read, never managed: destroy cannot delete another team's CRDs.
    assert all(r.read_id for r in platform.of_type(CRD))


def test_the_credential_and_the_anchor_go_to_the_configured_trust_namespace(platform):
    secret = platform.one("kubernetes:core/v1:Secret")
    anchor = platform.one("kubernetes:core/v1:ConfigMap")
    assert secret.inputs["metadata"]["namespace"] == "platform-certs"
    assert anchor.inputs["metadata"]["namespace"] == "platform-certs"
    # Everything placed there waits until the CRD reads have passed.
    for crd in platform.of_type(CRD):
        assert platform.waits_for(secret, crd) and platform.waits_for(anchor, crd)


def test_the_identity_is_there_for_a_linkerd_installed_elsewhere(platform):
    namespace = platform.one("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["labels"] == linkerd.NAMESPACE_LABELS
    assert platform.custom_resource("Certificate").inputs["metadata"]["namespace"] == linkerd.NAMESPACE
    out = platform.outputs
    assert out["trustRootsConfigMap"] == names.BUNDLE_NAME
    assert out["issuerSecret"] == names.CERTIFICATE_NAME
    assert out["linkerdNamespace"] == linkerd.NAMESPACE
    # The values the other tool must set are ones the pinned linkerd-control-plane chart has.
    values = out["linkerdIdentityValues"]
    assert values == {"identity": {"externalCA": True, "issuer": {"scheme": "kubernetes.io/tls"}}}
    chart = linkerd_values("linkerd-control-plane")
    assert "externalCA" in chart["identity"] and chart["identity"]["issuer"]["scheme"] == "linkerd.io/tls"


def test_an_installed_cert_manager_uses_the_configured_namespace_for_both_roles():
    rendered = render(cfg(trustNamespace="pki-system"))
    releases = {r.inputs["name"]: r for r in rendered.of_type(RELEASE)}
    assert releases["cert-manager"].inputs["namespace"] == "pki-system"
    assert releases["trust-manager"].inputs["namespace"] == "pki-system"
    assert releases["trust-manager"].inputs["values"]["app"]["trust"]["namespace"] == "pki-system"
    assert rendered.one("kubernetes:core/v1:Secret").inputs["metadata"]["namespace"] == "pki-system"


def test_linkerd_skip_installs_no_linkerd_chart_but_keeps_the_pki():
    rendered = render(cfg(linkerd="skip"))
    names = {r.inputs["name"] for r in rendered.of_type(RELEASE)}
    assert names == {"cert-manager", "trust-manager"}
    assert rendered.custom_resource("Certificate") and rendered.custom_resource("Bundle")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"certManager": "helm"}, "certManager: 'helm' is not one of install, existing"),
        ({"linkerd": "none"}, "linkerd: 'none' is not one of install, skip"),
        ({"trustNamespace": "Cert_Manager"}, "trustNamespace: 'Cert_Manager' is not a namespace name"),
        ({"linkerd": "skip", "installGatewayApi": "false"}, "installGatewayApi: is only used when linkerd is install"),
    ],
)
def test_bad_platform_settings_are_refused_with_the_key(raw, message):
    with pytest.raises(config.ConfigError) as err:
        config.parse({"vaultToken": "t", **raw}, secret_keys={"vaultToken"})
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("key", ["certManager", "trustNamespace", "linkerd"])
def test_cluster_settings_are_refused_without_a_cluster(key):
    value = {"certManager": "existing", "trustNamespace": "x", "linkerd": "skip"}[key]
    with pytest.raises(config.ConfigError) as err:
        config.parse(
            {
                "vaultToken": "t",
                "clusterMode": "none",
                "vaultMode": "external",
                "vaultAddress": "https://v.example.com",
                key: value,
            },
            secret_keys={"vaultToken"},
        )
    from stack import settings

    assert err.value.problems == [
        f"{key}: is only used when {settings.BY_KEY[key].why_unused({'clusterMode': 'none'})}; remove it: "
        f"scripts/stack config rm {key}"
    ]
    assert "clusterMode is k3d or existing" in err.value.problems[0]


def test_the_platform_mode_needs_only_a_kubeconfig_and_a_vault():
    parsed = config.parse(
        {"vaultToken": "t", "kubeconfig": EXISTING_KUBECONFIG, **MODES["platform"]},
        secret_keys={"vaultToken", "kubeconfig"},
    )
    assert (parsed.cert_manager.install, parsed.linkerd.install) == (False, False)
