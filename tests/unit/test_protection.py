"""The root of trust protected: which resources the engine receives with ``protect``, in every mode and phase.

Read from the registration requests (the monitor sees each resource's ``protect``). The engine's own refusal
to delete or replace a protected resource is Pulumi's (docs/operations.md, "Taking a Vault side down").
"""

from __future__ import annotations

import pytest

from stack import rotation
from tests import harness
from tests.harness import MODES, cfg, render, render_mode

MOUNT = "vault:index/mount:Mount"
KEY = "vault:pkiSecret/secretBackendKey:SecretBackendKey"
ROOT = "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert"


def protected(rendered) -> set[str]:
    return {r.name for r in rendered.resources if r.protect}


@pytest.mark.parametrize("mode", ["k3d+external", "existing+external", "platform", "vault-only+external"])
def test_outside_the_laptop_the_mount_and_the_signing_anchor_are_protected(mode):
    rendered = render_mode(mode)
    assert protected(rendered) == {
        "linkerd-pki-mount",
        "linkerd-pki-anchor-key-linkerd-trust-anchor",
        "linkerd-pki-anchor-linkerd-trust-anchor",
    }


@pytest.mark.parametrize("mode", ["k3d+docker", "existing+docker"])
def test_the_laptops_dev_vault_stays_destroyable(mode):
    assert protected(render_mode(mode)) == set()


@pytest.mark.parametrize("mode", ["cluster-only+provided", "cluster-only+reference"])
def test_a_cluster_only_stack_has_no_root_to_protect(mode):
    rendered = render_mode(mode)
    assert not [r for r in rendered.resources if r.type.startswith("vault:")]
    assert protected(rendered) == set()


def test_the_setting_turns_it_off_for_a_throwaway_vault_and_on_for_a_dev_container():
    assert protected(render(cfg(**MODES["existing+external"], deletionProtection="false"))) == set()
    assert "linkerd-pki-mount" in protected(render(cfg(deletionProtection="true")))


def last(anchors: list[str], signing: str) -> dict:
    return {
        rotation.OUTPUT: {"anchors": anchors, "signing": signing},
        "trustAnchors": {a: {"pem": harness.ANCHOR_PEM, "signing": a == signing} for a in anchors},
    }


def test_protection_moves_with_the_signing_anchor_through_a_rotation():
    external = MODES["vault-only+external"]
    added = render(cfg(**external, anchors="[a1, a2]"), deployed=last(["a1"], "a1"))
    assert protected(added) == {"linkerd-pki-mount", "linkerd-pki-anchor-key-a1", "linkerd-pki-anchor-a1"}
    switched = render(cfg(**external, anchors="[a1, a2]", signingAnchor="a2"), deployed=last(["a1", "a2"], "a1"))
    assert protected(switched) == {"linkerd-pki-mount", "linkerd-pki-anchor-key-a2", "linkerd-pki-anchor-a2"}
    # retire: a1 was unprotected by the switch's `up`, so its deletion now goes through in one `up`.
    retired = render(cfg(**external, anchors="[a2]", signingAnchor="a2"), deployed=last(["a1", "a2"], "a2"))
    assert {r.name for r in retired.of_type(ROOT)} == {"linkerd-pki-anchor-a2"}
    assert protected(retired) == {"linkerd-pki-mount", "linkerd-pki-anchor-key-a2", "linkerd-pki-anchor-a2"}


def test_nothing_else_is_protected():
    """Credentials, policies and cluster objects are made again from config: protecting them would only stop a
    destroy for nothing."""
    rendered = render_mode("existing+external")
    assert {r.type for r in rendered.resources if r.protect} == {MOUNT, KEY, ROOT}


def test_a_bad_value_is_refused_by_key():
    assert harness.config_problems(**MODES["existing+external"], deletionProtection="yes") == [
        "deletionProtection: 'yes' is not one of auto, true, false"
    ]


# --- a hand-made Vault side must sign under the anchor the stack tracks --------------------------------------


def provided(**overrides: str) -> dict:
    return {**MODES["cluster-only+provided"], **overrides}


def test_a_sign_path_under_another_anchor_is_refused_naming_both_keys():
    problems = harness.config_problems(**provided(signPath="pki/issuer/other-anchor/sign-intermediate"))
    assert len(problems) == 1
    assert problems[0].startswith("signPath: pki/issuer/other-anchor/sign-intermediate signs under the issuer")
    assert "signingAnchor is linkerd-trust-anchor" in problems[0]


def test_the_default_issuers_path_is_refused_with_the_reason():
    (problem,) = harness.config_problems(**provided(signPath="pki/root/sign-intermediate"))
    assert problem.startswith("signPath: pki/root/sign-intermediate does not address an issuer by name")
    assert "signingAnchor linkerd-trust-anchor" in problem and "default" in problem


def test_the_signing_anchors_own_path_is_accepted_under_any_mount():
    harness.cfg(**provided(signPath="security/linkerd/pki/issuer/linkerd-trust-anchor/sign-intermediate"))
