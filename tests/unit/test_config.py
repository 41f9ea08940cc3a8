"""Config rules: every bad input is refused with its key and the accepted values."""

from __future__ import annotations

import pulumi
import pytest

from lib import config
from tests.harness import ANCHOR_PEM, EXISTING_KUBECONFIG, make_ca

SECRETS = {"vaultToken", "kubeconfig"}


def parse(**raw: str) -> config.StackConfig:
    return config.parse({"vaultToken": "t", **raw}, secret_keys=SECRETS)


def problems(**raw: str) -> list[str]:
    with pytest.raises(config.ConfigError) as err:
        config.parse({"vaultToken": "t", **raw}, secret_keys=SECRETS)
    assert isinstance(err.value, pulumi.RunError), "config errors must end the program without a traceback"
    return err.value.problems


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


@pytest.mark.parametrize("text", ["", "48", "2d", "1.5h", "h", "-1h", "0h", "48H", "1m1h"])
def test_malformed_durations_are_not_durations(text):
    assert config.parse_duration(text) is None


@pytest.mark.parametrize(
    ("raw", "key", "accepted"),
    [
        ({"clusterMode": "kind"}, "clusterMode", "k3d, existing, none"),
        ({"vaultMode": "hcp"}, "vaultMode", "docker, external"),
        ({"credential": "kubernetes"}, "credential", "approle, token"),
        ({"anchorKeyType": "rsa"}, "anchorKeyType", "ec"),
        ({"issuerDuration": "2 days"}, "issuerDuration", "48h, 90m"),
        ({"anchorTtl": "90d"}, "anchorTtl", "48h, 90m"),
        ({"k3dApiPort": "http"}, "k3dApiPort", "1024 to 65535"),
        ({"vaultHostPort": "80"}, "vaultHostPort", "1024 to 65535"),
        ({"installGatewayApi": "yes"}, "installGatewayApi", "true, false"),
        ({"pkiPath": "/pki/"}, "pkiPath", "mount path"),
        ({"clusterName": "Pki_Cluster"}, "clusterName", "DNS label"),
        ({"vaultMode": "external"}, "vaultAddress", "https://vault.example.com"),
        ({"vaultMode": "external", "vaultAddress": "vault.example.com"}, "vaultAddress", "scheme, host"),
        ({"vaultMode": "external", "vaultAddress": "https://v.example.com/v1/"}, "vaultAddress", "scheme, host"),
        ({"clusterMode": "existing"}, "kubeconfig", "--secret kubeconfig"),
        ({"clusterMode": "existing", "kubeconfig": EXISTING_KUBECONFIG}, "vaultClusterAddress", "required"),
        ({"vaultmode": "docker"}, "vaultmode", "did you mean vaultMode?"),
        ({"tokenTTL": "5h"}, "tokenTTL", "did you mean tokenTtl?"),
        ({"frobnicate": "1"}, "frobnicate", "known keys are"),
        ({"kubeContext": "prod"}, "kubeContext", "only used when clusterMode is existing"),
        ({"vaultAddress": "https://vault.example.com"}, "vaultAddress", "only used when vaultMode is external"),
        ({"tokenTtl": "100h"}, "tokenTtl", "only used when credential is token"),
        ({"previousAnchorPem": "not a pem"}, "previousAnchorPem", "is not one certificate in PEM"),
        ({"secretIdVersion": "0"}, "secretIdVersion", "1 to 1000000"),
        ({"vaultCaBundlePem": ANCHOR_PEM}, "vaultCaBundlePem", "only used when vaultMode is external"),
        ({"vaultNamespace": "team-a"}, "vaultNamespace", "only used when vaultMode is external"),
        (
            {"vaultMode": "external", "vaultAddress": "https://v.example.com", "vaultCaBundlePem": "junk"},
            "vaultCaBundlePem",
            "not PEM certificates",
        ),
        (
            {"vaultMode": "external", "vaultAddress": "https://v.example.com", "vaultNamespace": "/team a"},
            "vaultNamespace",
            "namespace path",
        ),
    ],
)
def test_bad_config_names_the_key_and_what_it_accepts(raw, key, accepted):
    found = problems(**raw)
    assert any(p.startswith(f"{key}:") and accepted in p for p in found), found


def test_wrong_key_type_says_why():
    (problem,) = problems(anchorKeyType="rsa")
    assert "ECDSA P-256" in problem


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        ({"anchorTtl": "4000h"}, "anchorTtl", "longer than pkiMaxLeaseTtl"),
        ({"issuerDuration": "2160h"}, "issuerDuration", "shorter than anchorTtl"),
        ({"issuerRenewBefore": "48h"}, "issuerRenewBefore", "shorter than issuerDuration"),
        ({"issuerDuration": "30m", "issuerRenewBefore": "10m"}, "issuerDuration", "1h"),
        ({"credential": "token", "tokenTtl": "24h"}, "tokenTtl", "longer than issuerDuration"),
        ({"approleTokenTtl": "24h"}, "approleTokenTtl", "longer than 1h"),
    ],
)
def test_durations_must_nest(raw, key, reason):
    found = problems(**raw)
    assert any(p.startswith(f"{key}:") and reason in p for p in found), found


def test_all_problems_are_reported_together():
    found = problems(clusterMode="kind", vaultMode="hcp", issuerDuration="soon")
    assert {p.split(":")[0] for p in found} >= {"clusterMode", "vaultMode", "issuerDuration"}


def test_secrets_must_be_pulumi_secrets():
    with pytest.raises(config.ConfigError) as err:
        config.parse({"vaultToken": "t"}, secret_keys=set())
    assert err.value.problems == [
        "vaultToken: is stored in plain text; set it with `pulumi config set --secret vaultToken ...` "
        "(it must stay a Pulumi secret)"
    ]


def test_vault_token_is_required():
    with pytest.raises(config.ConfigError) as err:
        config.parse({}, secret_keys=SECRETS)
    assert any(p.startswith("vaultToken: is required") for p in err.value.problems)


def test_secret_values_never_show_in_repr():
    cfg = parse(clusterMode="existing", kubeconfig=EXISTING_KUBECONFIG, vaultClusterAddress="http://10.1.1.1:8200")
    assert repr(cfg.vault.token) == "Secret(***)"
    assert EXISTING_KUBECONFIG not in repr(cfg)


def test_previous_anchor_must_be_a_p256_ca_without_key():
    leaf, _ = make_ca(ca=False)
    assert any("not a CA" in p for p in problems(previousAnchorPem=leaf))
    from cryptography.hazmat.primitives.asymmetric import ec

    p384, _ = make_ca(key=ec.generate_private_key(ec.SECP384R1()))
    assert any("ECDSA P-256" in p for p in problems(previousAnchorPem=p384))
    from cryptography.hazmat.primitives import serialization

    _, key = make_ca()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert any("private key" in p for p in problems(previousAnchorPem=ANCHOR_PEM + key_pem))
    assert parse(previousAnchorPem=ANCHOR_PEM).pki.previous_anchor_pem == ANCHOR_PEM


def test_external_vault_cluster_address_defaults_to_its_address():
    cfg = parse(vaultMode="external", vaultAddress="https://vault.example.com/")
    assert cfg.vault.address == "https://vault.example.com"
    assert cfg.vault.cluster_address is None


def test_vault_only_mode_needs_no_cluster_settings():
    cfg = parse(clusterMode="none", vaultMode="external", vaultAddress="https://vault.example.com")
    assert not cfg.clusters and not cfg.needs_docker_network


def test_load_reads_the_project_namespace_and_knows_which_values_are_secret(monkeypatch):
    import json

    import pulumi
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
    assert parse().cluster.k3s_image == config.versions.K3S_IMAGE
    (problem,) = problems(k3sImage="rancher/k3s:v1.33 5")
    assert problem.startswith("k3sImage: 'rancher/k3s:v1.33 5' is not a pinned container image reference (a tag or")


@pytest.mark.parametrize("key", ["clusterName", "k3dApiPort", "k3sImage"])
def test_k3d_settings_are_refused_for_a_cluster_that_is_not_k3d(key):
    value = {"clusterName": "c", "k3dApiPort": "6551", "k3sImage": "rancher/k3s:v1.33.5-k3s1"}[key]
    found = problems(
        clusterMode="existing",
        kubeconfig=EXISTING_KUBECONFIG,
        vaultMode="external",
        vaultAddress="https://vault.example.com",
        **{key: value},
    )
    assert found == [f"{key}: is only used when clusterMode is k3d (it is existing)"]


@pytest.mark.parametrize(
    ("full_key", "message"),
    [
        (
            "vault:address",
            "vault:address: configures the default vault provider, which this program does not use; set vaultAddress",
        ),
        (
            "kubernetes:context",
            "kubernetes:context: configures the default kubernetes provider, which this program "
            "does not use; set kubeContext",
        ),
        (
            "platform:vaultMode",
            "platform:vaultMode: is in namespace platform, not this project's; did you mean vaultMode?",
        ),
    ],
)
def test_lookalike_keys_of_other_namespaces_are_pointed_out(full_key, message):
    foreign = config.foreign_lookalikes([full_key, "aws:region", "linkerd-vault-pki:credential"], "linkerd-vault-pki")
    assert foreign == [full_key]
    with pytest.raises(config.ConfigError) as err:
        config.parse({"vaultToken": "t"}, secret_keys={"vaultToken"}, foreign=foreign)
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("key", ["vaultAddress", "clusterMode", "issuerDuration", "kubeContext"])
def test_an_empty_value_is_an_error_not_the_default(key):
    found = problems(**{key: "  "})
    assert any(p.startswith(f"{key}: is empty; remove it (`pulumi config rm {key}`)") for p in found), found


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {
                "dockerNetwork": "n",
                "clusterMode": "existing",
                "kubeconfig": EXISTING_KUBECONFIG,
                "vaultMode": "external",
                "vaultAddress": "https://v.example.com",
            },
            "dockerNetwork: is only used when clusterMode is k3d or vaultMode is docker",
        ),
        (
            {"vaultHostPort": "8300", "vaultMode": "external", "vaultAddress": "https://v.example.com"},
            "vaultHostPort: is only used when vaultMode is docker (it is external)",
        ),
        ({"approleTokenTtl": "5m", "credential": "token"}, "approleTokenTtl: is only used when credential is approle"),
        ({"secretIdVersion": "2", "credential": "token"}, "secretIdVersion: is only used when credential is approle"),
        (
            {"vaultAddress": "https://v.example.com"},
            "vaultAddress: is only used when vaultMode is external (it is docker)",
        ),
    ],
)
def test_a_setting_the_modes_do_not_use_is_refused(raw, message):
    assert any(p.startswith(message) for p in problems(**raw)), problems(**raw)


def test_the_readme_table_of_keys_is_the_table_of_settings():
    from pathlib import Path

    from lib import settings

    readme = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    start = readme.index("| key | default | accepted / meaning |")
    table = readme[start : readme.index("\n\n", start)]
    assert table == settings.markdown_table(), "docs/configuration.md's table of keys is stale: python -m lib.settings"
