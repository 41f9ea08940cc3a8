"""L1: what the program renders, against the real APIs and charts at the pinned versions.

Custom resources are checked against the upstream CRD schemas strictly (an
unknown field fails, as with ``kubectl apply --validate=strict``); Helm values
against the charts' values.schema.json, or for Linkerd (no schema) against the
keys of its values.yaml. Each check is also shown to fail on a misspelt field.
"""

from __future__ import annotations

import copy

import jsonschema
import pytest

from tests import reference
from tests.harness import MODES, cfg, render

RELEASE = "kubernetes:helm.sh/v3:Release"
CUSTOM_KINDS = ("ClusterIssuer", "Certificate", "Bundle")


@pytest.fixture(scope="module", params=["k3d+docker", "existing+external", "token", "rotation", "private-ca"])
def rendered(request):
    from tests.harness import make_ca

    overrides = {
        "token": {"credential": "token"},
        "rotation": {"previousAnchorPem": make_ca(common_name="old.linkerd.cluster.local")[0]},
        "private-ca": {
            **MODES["existing+external"],
            "vaultCaBundlePem": make_ca(common_name="internal-ca")[0],
            "vaultNamespace": "team-a",
        },
    }.get(request.param, MODES.get(request.param, {}))
    return render(cfg(**overrides))


def custom_resources(rendered):
    return [r for r in rendered.resources if r.type.startswith("kubernetes:") and r.type.split(":")[-1] in CUSTOM_KINDS]


def releases(rendered):
    return {r.inputs["name"]: r.inputs for r in rendered.of_type(RELEASE)}


def test_reference_data_is_present():
    # Fails with a message saying how to provide it, rather than skipping.
    assert reference.crds(), "no CRDs found in the reference folder"


def test_custom_resources_validate_against_their_crds(rendered):
    found = custom_resources(rendered)
    assert sorted(r.type.split(":")[-1] for r in found) == sorted(CUSTOM_KINDS)
    for r in found:
        reference.validate_custom_resource(r.inputs["apiVersion"], r.inputs["kind"], r.inputs["spec"])


def test_cert_manager_values_validate_against_the_chart_schema(rendered):
    reference.validate_chart_values(reference.cert_manager_dir(), releases(rendered)["cert-manager"]["values"])


def test_trust_manager_values_validate_against_the_chart_schema(rendered):
    reference.validate_chart_values(reference.trust_manager_dir(), releases(rendered)["trust-manager"]["values"])


@pytest.mark.parametrize("chart", ["linkerd-crds", "linkerd-control-plane"])
def test_linkerd_values_exist_in_the_chart(rendered, chart):
    values = releases(rendered)[chart]["values"]
    assert reference.unknown_keys(values, reference.linkerd_values(chart)) == []


def test_linkerd_charts_need_the_kubernetes_we_pin():
    import yaml

    from linkerd_vault_pki import versions

    for chart in ("linkerd-crds", "linkerd-control-plane"):
        meta = yaml.safe_load((reference.linkerd_dir() / chart / "Chart.yaml").read_text())
        assert meta["kubeVersion"].startswith(">=1.31"), meta["kubeVersion"]
    assert versions.LINKERD_MIN_KUBERNETES == (1, 31)


# --- the checks bite: a misspelt or wrong field fails each of them ----------------


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("Certificate", lambda s: s.__setitem__("isCa", s.pop("isCA"))),
        ("Certificate", lambda s: s["privateKey"].__setitem__("algorithm", "ECDSAP256")),
        ("Certificate", lambda s: s.__setitem__("usages", ["cert-sign"])),
        ("ClusterIssuer", lambda s: s["vault"].__setitem__("serverAddress", s["vault"].pop("server"))),
        ("ClusterIssuer", lambda s: s["vault"]["auth"].__setitem__("approle", s["vault"]["auth"].pop("appRole"))),
        ("Bundle", lambda s: s["target"].__setitem__("namespaceSelectors", s["target"].pop("namespaceSelector"))),
        ("Bundle", lambda s: s["sources"][0].__setitem__("configmap", s["sources"][0].pop("configMap"))),
    ],
)
def test_a_misspelt_custom_resource_field_fails(kind, mutate):
    r = render(cfg()).custom_resource(kind)
    spec = copy.deepcopy(r.inputs["spec"])
    mutate(spec)
    with pytest.raises(jsonschema.ValidationError):
        reference.validate_custom_resource(r.inputs["apiVersion"], r.inputs["kind"], spec)


@pytest.mark.parametrize(
    ("chart_dir", "values"),
    [
        (reference.cert_manager_dir, {"installCRD": True}),
        (reference.cert_manager_dir, {"crds": {"enable": True}}),
        (reference.trust_manager_dir, {"app": {"trust": {"namespaces": "cert-manager"}}}),
    ],
)
def test_a_misspelt_chart_value_fails(chart_dir, values):
    with pytest.raises(jsonschema.ValidationError):
        reference.validate_chart_values(chart_dir(), values)


def test_a_misspelt_linkerd_value_fails():
    defaults = reference.linkerd_values("linkerd-control-plane")
    assert reference.unknown_keys({"identity": {"externalCa": True}}, defaults) == [
        "identity.externalCa (not in values.yaml)"
    ]
    assert reference.unknown_keys({"identity": {"externalCA": "true"}}, defaults) == [
        "identity.externalCA (str, chart default is bool)"
    ]


def test_an_unserved_api_version_fails():
    with pytest.raises(AssertionError, match="not served"):
        reference.validate_custom_resource("cert-manager.io/v1alpha2", "Certificate", {})
