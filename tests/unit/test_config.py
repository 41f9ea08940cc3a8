"""Config as parsed: the defaults, durations, what each setting becomes (bad config, by rule: test_config_rules.py)."""

from __future__ import annotations

import pulumi
import pytest

from linkerd_vault_pki import versions
from stack import config
from tests.harness import ANCHOR_PEM, EXISTING_KUBECONFIG
from tests.harness import parse_with_token as parse
from tests.harness import refused as problems


def test_defaults_are_the_walkthrough_with_its_corrections():
    cfg = parse()
    assert (cfg.cluster.mode, cfg.vault.mode, cfg.credential.kind) == ("k3d", "docker", "approle")
    assert (cfg.cluster.name, cfg.cluster.network) == ("pki-cluster", "pki-network")
    assert cfg.vault.max_lease_ttl.seconds == 2160 * 3600
    assert cfg.pki.anchor_ttl.seconds == 2160 * 3600
    assert (cfg.pki.anchor_key_type, cfg.pki.anchor_key_bits) == ("ec", 256)
    assert (cfg.pki.issuer_duration.text, cfg.pki.issuer_renew_before.text) == ("48h", "25h")
    assert cfg.pki.anchor_common_name == "root.linkerd.cluster.local"
    assert cfg.credential.token_ttl.seconds == 767 * 3600
    assert cfg.credential.approle_token_ttl.seconds <= 3600
    assert cfg.linkerd.install_gateway_api is True


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("48h", 172800), ("90m", 5400), ("1h30m", 5400), ("3600s", 3600), ("2160h", 7776000), ("1h0m1s", 3601)],
)
def test_durations_parse_to_seconds(text, seconds):
    assert config.parse_duration(text).seconds == seconds


def test_secret_values_never_show_in_repr():
    cfg = parse(clusterMode="existing", kubeconfig=EXISTING_KUBECONFIG, vaultClusterAddress="http://10.1.1.1:8200")
    assert repr(cfg.vault.token) == "Secret(***)"
    assert EXISTING_KUBECONFIG not in repr(cfg)


def test_external_vault_cluster_address_defaults_to_its_address():
    cfg = parse(vaultMode="external", vaultAddress="https://vault.example.com/")
    assert cfg.vault.address == "https://vault.example.com"
    assert cfg.vault.cluster_address is None


def test_vault_only_mode_needs_no_cluster_settings():
    cfg = parse(clusterMode="none", vaultMode="external", vaultAddress="https://vault.example.com")
    assert not cfg.clusters and not cfg.needs_docker_network


def test_load_reads_the_project_namespace_and_knows_which_values_are_secret(monkeypatch):
    import json

    from pulumi.runtime import config as runtime_config

    from tests.harness import PROJECT, RecordingMocks

    pulumi.runtime.set_mocks(RecordingMocks(ANCHOR_PEM), project=PROJECT, stack="dev")
    monkeypatch.setenv(
        "PULUMI_CONFIG",
        json.dumps({f"{PROJECT}:vaultToken": "t", f"{PROJECT}:credential": "token", "aws:region": "x"}),
    )
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps([f"{PROJECT}:vaultToken"]))
    runtime_config.set_all_config({}, secret_keys=[])
    assert config.load().credential.kind == "token"

    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", "[]")
    with pytest.raises(config.ConfigError, match="vaultToken: is stored in plain text"):
        config.load()


def test_the_k3s_image_is_a_setting_of_the_k3d_cluster():
    assert parse(k3sImage="rancher/k3s:v1.33.5-k3s1").cluster.k3s_image == "rancher/k3s:v1.33.5-k3s1"
    assert parse().cluster.k3s_image == versions.K3S_IMAGE
    (problem,) = problems(k3sImage="rancher/k3s:v1.33 5")
    assert problem.startswith("k3sImage: 'rancher/k3s:v1.33 5' is not a pinned container image reference (a tag or")


def test_the_readme_table_of_keys_is_the_table_of_settings():
    from pathlib import Path

    from stack import settings

    readme = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    start = readme.index("| key | default | accepted | meaning |")
    table = readme[start : readme.index("\n\n", start)]
    assert table == settings.markdown_table(), (
        "docs/configuration.md's table of keys is stale: python -m stack.settings"
    )
