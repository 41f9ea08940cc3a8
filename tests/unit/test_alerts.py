"""The opt-in expiry alerts (linkerd_vault_pki/alerts.py): the PrometheusRule as the program makes it, against the
Prometheus
Operator's CRD schema, and its rules as Prometheus itself reads and evaluates them (promtool, built from
Prometheus' served Go module by tests/toolchain/lint.py).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from linkerd_vault_pki import alerts
from tests import harness, reference
from tests.harness import MODES, cfg, make_ca, render

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ISSUER_EXPIRY = "certmanager_certificate_expiration_timestamp_seconds"


def promtool() -> Path:
    from tests.toolchain.build import EngineUnavailable
    from tests.toolchain.lint import lint_binaries

    try:
        return lint_binaries(log=lambda _line: None)["promtool"]
    except EngineUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"promtool cannot be built: {exc}")
        pytest.skip(f"promtool cannot be built: {exc}")


def rendered(annotations: dict[str, str], value: str) -> dict[str, str]:
    """The annotations as Prometheus renders them, with ``$value`` humanized as ``humanizeDuration`` writes it."""
    return {k: v.replace("{{ $value | humanizeDuration }}", value) for k, v in annotations.items()}


def test_the_program_makes_the_rule_only_when_asked_and_it_fits_the_operators_crd():
    assert not [r for r in render(cfg(**MODES["existing+external"])).resources if r.type.endswith("PrometheusRule")]
    rendered = render(cfg(**MODES["existing+external"], prometheusRule="true"))
    rule = rendered.custom_resource("PrometheusRule")
    assert rule.inputs["metadata"] == {"name": alerts.RULE_NAME, "namespace": "linkerd"}
    reference.validate_prometheus_rule(rule.inputs["spec"])
    anchors = [r for r in rule.inputs["spec"]["groups"][0]["rules"] if r["alert"] == "LinkerdTrustAnchorExpiring"]
    assert [a["labels"]["anchor"] for a in anchors] == ["linkerd-trust-anchor"]
    # The threshold is the anchor's own notAfter less a third of its life (the mocks' anchor: 90 days from
    # 2026-11-28), written into the rule: no exporter needed.
    fires_at = dt.datetime(2026, 11, 28, tzinfo=dt.UTC) + dt.timedelta(days=60)
    assert anchors[0]["expr"] == f"vector(time()) > {int(fires_at.timestamp())}"


def test_a_rule_the_crd_refuses_is_caught():
    groups = alerts.rule_groups({"a1": harness.ANCHOR_PEM}, 25 * 3600, None)
    groups[0]["rules"][0]["for"] = 600  # a number where the CRD wants a duration string
    with pytest.raises(Exception, match="is not of type 'string'"):
        reference.validate_prometheus_rule({"groups": groups})


def test_promtool_accepts_the_rules_and_each_alert_fires_when_its_threshold_is_crossed(tmp_path):
    binary = promtool()
    # An anchor whose life is three days from the Unix epoch, so that promtool's clock (which starts at 0)
    # crosses its threshold (two days in: a third of its life left) in a short test.
    anchor, _ = make_ca(start=EPOCH, days=3)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": alerts.rule_groups({"a1": anchor}, 25 * 3600, None)}))
    checked = subprocess.run([str(binary), "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout + checked.stderr

    groups = alerts.rule_groups({"a1": anchor}, 25 * 3600, None)
    annotations = {r["alert"]: r["annotations"] for r in groups[0]["rules"]}
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # cert-manager has not renewed the issuer that expires at 44h: due at 19h (25h before).
                    {"series": f'{ISSUER_EXPIRY}{{name="linkerd-identity-issuer"}}', "values": f"{44 * 3600}+0x3000"},
                    # identity holds an issuer that ends at 48h (it skipped every renewal).
                    {"series": "issuer_cert_ttl_seconds", "values": f"{48 * 3600}-60x3000"},
                ],
                "alert_rule_test": [
                    {"eval_time": "19h", "alertname": "LinkerdIdentityIssuerNotRenewed", "exp_alerts": []},
                    {
                        "eval_time": "21h",
                        "alertname": "LinkerdIdentityIssuerNotRenewed",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "name": "linkerd-identity-issuer"},
                                "exp_annotations": rendered(
                                    annotations["LinkerdIdentityIssuerNotRenewed"], "23h 0m 0s"
                                ),
                            }
                        ],
                    },
                    {"eval_time": "23h50m", "alertname": "LinkerdIdentityHoldsAnOldIssuer", "exp_alerts": []},
                    {
                        "eval_time": "24h15m",
                        "alertname": "LinkerdIdentityHoldsAnOldIssuer",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical"},
                                "exp_annotations": rendered(
                                    annotations["LinkerdIdentityHoldsAnOldIssuer"], "23h 45m 0s"
                                ),
                            }
                        ],
                    },
                    {"eval_time": "47h", "alertname": "LinkerdTrustAnchorExpiring", "exp_alerts": []},
                    {
                        "eval_time": "49h",
                        "alertname": "LinkerdTrustAnchorExpiring",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "anchor": "a1"},
                                "exp_annotations": annotations["LinkerdTrustAnchorExpiring"],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    spec = tmp_path / "tests.yaml"
    spec.write_text(yaml.safe_dump(tests))
    tested = subprocess.run([str(binary), "test", "rules", str(spec)], capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr

    # The same test with a threshold moved shows the test can fail: promtool reports the missing alert.
    tests["tests"][0]["alert_rule_test"][1]["eval_time"] = "20h05m"
    spec.write_text(yaml.safe_dump(tests))
    failed = subprocess.run([str(binary), "test", "rules", str(spec)], capture_output=True, text=True, check=False)
    assert failed.returncode != 0 and "LinkerdIdentityIssuerNotRenewed" in failed.stdout + failed.stderr
