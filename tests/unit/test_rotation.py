"""Anchor rotation, declared: each phase as the program renders it, and every order that would break the mesh
refused before anything is registered (under mocks, the stack's last outputs given as the engine gives them)."""

from __future__ import annotations

import pytest

from stack import config, rotation
from stack.rotation import Rotation
from tests import harness
from tests.harness import MODES, cfg, render

ROOT_CERT = "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert"
PKI_KEY = "vault:pkiSecret/secretBackendKey:SecretBackendKey"
CONFIG_ISSUERS = "vault:pkiSecret/secretBackendConfigIssuers:SecretBackendConfigIssuers"
POLICY = "vault:index/policy:Policy"

# The phases of one rotation, as config and as the stack's last `up` left them.
STEADY = {"anchors": "a1"}
ADDED = {"anchors": "a1,a2"}
SWITCHED = {"anchors": "a1,a2", "signingAnchor": "a2"}
RETIRED = {"anchors": "a2"}


def deployed(anchors: list[str], signing: str) -> dict:
    """What a stack's last `up` left: its rotation, its anchors and (a k3d stack's) kubeconfig."""
    return {
        rotation.OUTPUT: {"anchors": anchors, "signing": signing},
        "trustAnchors": {a: {"pem": harness.ANCHOR_PEM, "signing": a == signing} for a in anchors},
        "kubeconfig": harness.FAKE_KUBECONFIG,
    }


def test_each_phase_is_named():
    a1 = Rotation(("a1",), "a1")
    added = Rotation(("a1", "a2"), "a1")
    switched = Rotation(("a1", "a2"), "a2")
    retired = Rotation(("a2",), "a2")
    assert rotation.phase(None, added) == "first"
    assert rotation.phase(a1, a1) == "none"
    assert rotation.phase(a1, added) == "add"
    assert rotation.phase(added, switched) == "switch"
    assert rotation.phase(switched, added) == "switch"  # switching back is one phase too
    assert rotation.phase(switched, retired) == "retire"
    assert rotation.phase(added, a1) == "retire"  # a rotation called off before the switch


@pytest.mark.parametrize(
    ("before", "after", "says"),
    [
        # add and switch in one step: the issuer would chain to an anchor no proxy trusts yet
        (Rotation(("a1",), "a1"), Rotation(("a1", "a2"), "a2"), "signingAnchor: a2 was not in the trust bundle"),
        # the whole rotation in one step (what replacing the anchor in place used to be)
        (Rotation(("a1",), "a1"), Rotation(("a2",), "a2"), "signingAnchor: a2 was not in the trust bundle"),
        # switch and retire in one step: the old issuer's chain leaves every proxy's bundle while in use
        (Rotation(("a1", "a2"), "a1"), Rotation(("a2",), "a2"), "anchors: removes a1, which signs"),
        # add and retire in one step
        (Rotation(("a1", "a2"), "a1"), Rotation(("a1", "a3"), "a1"), "adds a3 and retires a2: 2 phases"),
    ],
)
def test_an_order_that_breaks_the_mesh_is_refused(before, after, says):
    found = rotation.problems(before, after)
    assert any(says in p for p in found), found
    assert all(f"anchors [{', '.join(before.anchors)}], signing {before.signing}" in p for p in found)


def test_what_a_previous_up_exported_is_read_back_and_anything_else_is_no_rotation():
    assert Rotation.from_output({"anchors": ["a1", "a2"], "signing": "a2"}) == Rotation(("a1", "a2"), "a2")
    for junk in (None, "a1", {"anchors": "a1", "signing": "a1"}, {"anchors": ["a1"]}, {"anchors": [1], "signing": "x"}):
        assert Rotation.from_output(junk) is None


@pytest.mark.parametrize(
    ("last", "wanted", "says"),
    [
        (deployed(["a1"], "a1"), SWITCHED, "signingAnchor: a2 was not in the trust bundle"),
        (deployed(["a1", "a2"], "a1"), {**RETIRED, "signingAnchor": "a2"}, "anchors: removes a1, which signs"),
    ],
)
def test_the_program_refuses_before_registering_anything(last, wanted, says):
    partial = harness.Rendered()
    with pytest.raises(Exception, match="invalid stack configuration") as err:
        render(cfg(**wanted), deployed=last, partial=partial)
    assert says in str(err.value)
    assert partial.resources == []  # not a network, not a mount


def test_a_failed_read_of_the_last_outputs_stops_the_program_saying_why(monkeypatch):
    """The check is never skipped: a read that fails (a file backend mid-write) stops everything, explained."""
    from stack import program

    said: list[str] = []
    monkeypatch.setattr(program.pulumi.log, "error", said.append)
    partial = harness.Rendered()
    with pytest.raises(Exception, match="failed to load checkpoint: EOF"):
        render(cfg(**SWITCHED), deployed=deployed(["a1"], "a1"), partial=partial, read_failures=1)
    assert partial.resources == []
    assert len(said) == 1 and "run the command again" in said[0] and "?metadata=skip" in said[0]


@pytest.mark.parametrize("mode", ["k3d+docker", "existing+external", "vault-only+external"])
@pytest.mark.parametrize(
    ("last", "wanted"),
    [
        ({}, STEADY),
        (deployed(["a1"], "a1"), STEADY),
        (deployed(["a1"], "a1"), ADDED),
        (deployed(["a1", "a2"], "a1"), SWITCHED),
        (deployed(["a1", "a2"], "a2"), RETIRED),
        (deployed(["a1", "a2"], "a1"), STEADY),
    ],
    ids=["first", "none", "add", "switch", "retire", "call-off"],
)
def test_every_safe_phase_renders_in_every_mode(mode, last, wanted):
    rendered = render(cfg(**MODES[mode], **wanted), deployed=last)
    anchors = [a.strip() for a in wanted["anchors"].split(",")]
    signing = wanted.get("signingAnchor", anchors[0])
    assert sorted(r.inputs["issuerName"] for r in rendered.of_type(ROOT_CERT)) == sorted(anchors)
    assert rendered.outputs[rotation.OUTPUT] == {"anchors": anchors, "signing": signing}


@pytest.fixture(scope="module")
def phases():
    """The Vault and cluster side at each phase of one rotation (laptop stack)."""
    return {
        "steady": render(cfg(**STEADY), deployed=deployed(["a1"], "a1")),
        "added": render(cfg(**ADDED), deployed=deployed(["a1"], "a1")),
        "switched": render(cfg(**SWITCHED), deployed=deployed(["a1", "a2"], "a1")),
        "retired": render(cfg(**RETIRED), deployed=deployed(["a1", "a2"], "a2")),
    }


def bundle_sources(rendered) -> dict[str, str]:
    return rendered.one("kubernetes:core/v1:ConfigMap").inputs["data"]


def test_add_puts_both_anchors_in_the_bundle_and_leaves_the_signer(phases):
    added, steady = phases["added"], phases["steady"]
    assert sorted(bundle_sources(added)) == ["a1.crt", "a2.crt"]
    assert sorted(r.inputs["keyName"] for r in added.of_type(PKI_KEY)) == ["a1", "a2"]
    # Nothing that signs changes: the same path, policy, ClusterIssuer and Certificate as before.
    for rendered in (added, steady):
        assert rendered.outputs["signPath"] == "pki/issuer/a1/sign-intermediate"
        assert rendered.custom_resource("ClusterIssuer").inputs["metadata"]["name"] == "vault-a1"
        assert rendered.one(CONFIG_ISSUERS).inputs["default"] == "issuer-id-a1"
    assert added.custom_resource("Certificate").inputs == steady.custom_resource("Certificate").inputs
    # The Bundle itself never changes: its one source is the whole anchor ConfigMap.
    assert added.custom_resource("Bundle").inputs == steady.custom_resource("Bundle").inputs
    anchors = added.outputs["trustAnchors"]
    assert {n: a["signing"] for n, a in anchors.items()} == {"a1": True, "a2": False}
    assert all({"sha256", "notAfter", "pem"} <= set(a) for a in anchors.values())


def test_switch_signs_at_the_new_issuers_path_only_and_re_issues_the_identity_issuer(phases):
    switched, added = phases["switched"], phases["added"]
    assert switched.outputs["signPath"] == "pki/issuer/a2/sign-intermediate"
    policy = switched.one(POLICY).inputs["policy"]
    assert policy.count("path ") == 1 and 'path "pki/issuer/a2/sign-intermediate"' in policy
    issuer = switched.custom_resource("ClusterIssuer")
    assert issuer.inputs["metadata"]["name"] == "vault-a2"
    assert issuer.inputs["spec"]["vault"]["path"] == "pki/issuer/a2/sign-intermediate"
    # A new issuerRef is what makes cert-manager re-issue at once, under the new anchor.
    certificate = switched.custom_resource("Certificate")
    assert certificate.inputs["spec"]["issuerRef"]["name"] == "vault-a2"
    assert switched.waits_for(certificate, issuer) and switched.waits_for(issuer, switched.one(POLICY))
    assert switched.one(CONFIG_ISSUERS).inputs["default"] == "issuer-id-a2"
    assert sorted(bundle_sources(switched)) == sorted(bundle_sources(added))  # both still trusted
    assert switched.outputs["clusterIssuer"] == "vault-a2"
    assert {n: a["signing"] for n, a in switched.outputs["trustAnchors"].items()} == {"a1": False, "a2": True}


def test_retire_drops_the_old_anchor_from_bundle_and_vault_and_keeps_the_new_one(phases):
    retired, switched = phases["retired"], phases["switched"]
    assert list(bundle_sources(retired)) == ["a2.crt"]
    assert [r.inputs["issuerName"] for r in retired.of_type(ROOT_CERT)] == ["a2"]
    assert [r.inputs["keyName"] for r in retired.of_type(PKI_KEY)] == ["a2"]  # the key goes with the issuer
    new = next(r for r in switched.of_type(ROOT_CERT) if r.inputs["issuerName"] == "a2")
    assert retired.one(ROOT_CERT).urn == new.urn and retired.one(ROOT_CERT).inputs == new.inputs
    assert retired.custom_resource("Certificate").inputs == switched.custom_resource("Certificate").inputs


def test_an_outside_anchor_stays_in_the_bundle_beside_vaults():
    previous, _ = harness.make_ca(common_name="pre-vault.linkerd.cluster.local")
    rendered = render(cfg(**ADDED, previousAnchorPem=previous), deployed=deployed(["a1"], "a1"))
    assert sorted(bundle_sources(rendered)) == ["a1.crt", "a2.crt", "previous-anchor.crt"]


def test_anchors_read_as_a_yaml_list_or_comma_separated():
    as_list = config.parse({"vaultToken": "t", "anchors": '["a1", "a2"]'}, secret_keys={"vaultToken"})
    as_text = config.parse({"vaultToken": "t", "anchors": "a1, a2", "signingAnchor": "a2"}, secret_keys={"vaultToken"})
    # `scripts/stack config set anchors '[a1, a2]'`, as docs/operations.md writes it: a YAML flow list in a string
    as_flow = config.parse({"vaultToken": "t", "anchors": "[a1, a2]"}, secret_keys={"vaultToken"})
    assert as_list.pki.anchors == as_text.pki.anchors == as_flow.pki.anchors == ("a1", "a2")
    assert (as_list.pki.signing_anchor, as_text.pki.signing_anchor) == ("a1", "a2")


def test_a_live_anchor_keeps_what_it_was_generated_with_and_the_config_says_so():
    """Changed anchorTtl / anchorCommonName: no diff on a live anchor, a warning that names it."""
    from stack import program

    warned: list[str] = []
    original = program.pulumi.log.warn
    program.pulumi.log.warn = warned.append
    try:
        render(cfg(anchorTtl="2000h", anchorCommonName="root2.linkerd.cluster.local"))
    finally:
        program.pulumi.log.warn = original
    assert any(w.startswith("anchorTtl: 2000h applies to anchors generated from now on") for w in warned), warned
    assert any("anchorCommonName: root2.linkerd.cluster.local applies to" in w for w in warned), warned
    assert all("linkerd-trust-anchor keeps" in w for w in warned)
