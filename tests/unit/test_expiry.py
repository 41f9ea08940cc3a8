"""The signing anchor's expiry at preview and up (linkerd_vault_pki/expiry.py): a warning before the lead time, a
refusal of an
issuerDuration it cannot cover (a warning during a rotation, which is the way out), each naming its keys."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from stack.config import ConfigError
from tests import harness
from tests.harness import MODES, cfg, make_ca, render

NOW = dt.datetime.now(dt.UTC)


def provided_with(pem: str, **overrides: str) -> dict:
    """A cluster-only stack handed an anchor: its PEM is known before anything is registered."""
    return {**MODES["cluster-only+provided"], "anchorPems": json.dumps({"linkerd-trust-anchor": pem}), **overrides}


def warnings_of(monkeypatch, run) -> list[str]:
    from stack import program

    said: list[str] = []
    monkeypatch.setattr(program.pulumi.log, "warn", said.append)
    run()
    return said


def test_an_issuer_duration_the_anchor_cannot_cover_is_refused_naming_both_keys():
    pem, _ = make_ca(start=NOW - dt.timedelta(days=89), days=90)  # about a day left
    partial = harness.Rendered()
    with pytest.raises(ConfigError) as err:
        render(cfg(**provided_with(pem)), partial=partial)
    (problem,) = err.value.problems
    assert problem.startswith("issuerDuration: 48h is longer than the signing anchor linkerd-trust-anchor has left")
    assert "signingAnchor" in problem and "Rotating the trust anchor" in problem
    assert partial.resources == []


def test_a_shorter_issuer_duration_goes_through_with_a_warning(monkeypatch):
    pem, _ = make_ca(start=NOW - dt.timedelta(days=89), days=90)
    said = warnings_of(
        monkeypatch, lambda: render(cfg(**provided_with(pem, issuerDuration="12h", issuerRenewBefore="6h")))
    )
    assert any(w.startswith("signingAnchor: linkerd-trust-anchor expires at") and "anchorExpiryLead" in w for w in said)


def test_within_the_lead_time_the_warning_names_the_runbook(monkeypatch):
    pem, _ = make_ca(start=NOW - dt.timedelta(days=70), days=90)  # 20 days left, less than a third of 90
    (warning,) = [w for w in warnings_of(monkeypatch, lambda: render(cfg(**provided_with(pem)))) if "expires" in w]
    assert "less than the lead time 30d0h" in warning and "Rotating the trust anchor" in warning
    quiet = warnings_of(monkeypatch, lambda: render(cfg(**provided_with(pem, anchorExpiryLead="240h"))))
    assert not [w for w in quiet if "expires" in w]


def test_during_a_rotation_the_refusal_is_a_warning(monkeypatch):
    """The way out of an anchor at its end is the rotation: its add phase must not be refused."""
    old, _ = make_ca(start=NOW - dt.timedelta(days=89), days=90)
    new, _ = make_ca(common_name="root2.linkerd.cluster.local", start=NOW, days=90)
    settings = {
        **MODES["cluster-only+provided"],
        "anchorPems": json.dumps({"old": old, "new": new}),
        "signingAnchor": "old",
        "signPath": "pki/issuer/old/sign-intermediate",
    }
    last = {"anchorRotation": {"anchors": ["old"], "signing": "old"}, "trustAnchors": {"old": {"pem": old}}}
    said = warnings_of(monkeypatch, lambda: render(cfg(**settings), deployed=last))
    assert any(w.startswith("issuerDuration: 48h is longer than the signing anchor old has left") for w in said)


def test_a_bad_lead_is_refused_by_key():
    assert harness.config_problems(anchorExpiryLead="10m") == [
        "anchorExpiryLead: '10m' is not a duration of at least 1h, such as 720h"
    ]
