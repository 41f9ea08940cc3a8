"""Bad config a newcomer writes, by class: each is refused before anything exists, naming the key.

Every case is a whole stack config that was accepted before these rules (and
failed later, at `up`, or never); each must now produce exactly the message
given, and never a traceback.
"""

from __future__ import annotations

import pytest

from lib import config
from tests.harness import EXISTING_KUBECONFIG

EXTERNAL = {"vaultMode": "external", "vaultAddress": "https://vault.example.com"}
EXISTING = {"clusterMode": "existing", "kubeconfig": EXISTING_KUBECONFIG}
VAULT_ONLY = {"clusterMode": "none", **EXTERNAL}

CASES = {
    "addresses": [
        ({**VAULT_ONLY, "vaultAddress": "http://[::1"}, "vaultAddress: 'http://[::1' is not a URL"),
        ({**VAULT_ONLY, "vaultAddress": "https://vault.example.com:99999"}, "is not a URL"),
        ({**VAULT_ONLY, "vaultAddress": "https://vault.example.com:port"}, "is not a URL"),
        ({**VAULT_ONLY, "vaultAddress": "https://vault.example.com:0"}, "has port 0"),
        ({**VAULT_ONLY, "vaultAddress": "https://admin:pw@vault.example.com"}, "holds a user or password"),
        ({**VAULT_ONLY, "vaultAddress": "https://vault.example.com/?x=1"}, "has a path, query or fragment"),
        ({**VAULT_ONLY, "vaultAddress": "https://vault.example.com#top"}, "has a path, query or fragment"),
        ({**VAULT_ONLY, "vaultAddress": "https://vault example.com"}, "contains a space"),
        ({**VAULT_ONLY, "vaultAddress": "vault.example.com:8200"}, "does not start with http:// or https://"),
        ({**VAULT_ONLY, "vaultAddress": "http://vault.example.com:8200"}, "is plain http to another host"),
        ({**EXISTING, **EXTERNAL, "vaultClusterAddress": "http://10.1.2.3:8200"}, "is plain http to another host"),
        ({**EXTERNAL, "vaultAddress": "http://127.0.0.1:8200"}, "which k3d's nodes (containers) cannot reach"),
        ({**EXISTING, **EXTERNAL, "vaultAddress": "http://localhost:8200"}, "which a cluster's pods cannot reach"),
        ({"vaultClusterAddress": "http://127.0.0.1:8200"}, "which k3d's nodes (containers) cannot reach"),
    ],
    "limits downstream": [
        ({"issuerRenewBefore": "4m"}, "issuerRenewBefore: 4m is shorter than 5m, cert-manager's minimum"),
        ({"anchorTtl": "3000000h", "pkiMaxLeaseTtl": "3000000h"}, "is longer than Go's largest duration"),
        ({"credential": "token", "tokenTtl": "800h"}, "tokenTtl: 800h is longer than the Vault's max token TTL 768h"),
        ({**VAULT_ONLY, "pkiPath": "sys"}, "pkiPath: sys is under a path Vault keeps for itself"),
        ({**VAULT_ONLY, "pkiPath": "identity/pki"}, "pkiPath: identity/pki is under a path Vault keeps for itself"),
        ({**VAULT_ONLY, "approleMount": "token"}, "approleMount: token is under a path Vault keeps for itself"),
        ({**VAULT_ONLY, "approleMount": "auth"}, "approleMount: auth is under a path Vault keeps for itself"),
        ({**VAULT_ONLY, "pkiPath": "PKI-Linkerd"}, "pkiPath: 'PKI-Linkerd' is not a lowercase Vault mount path"),
    ],
    "clashes": [
        ({"k3dApiPort": "8200"}, "k3dApiPort: 8200 is also vaultHostPort"),
        ({"dockerNetwork": "bridge"}, "dockerNetwork: bridge is one of Docker's own networks"),
        ({"dockerNetwork": "host"}, "dockerNetwork: host is one of Docker's own networks"),
        ({"dockerNetwork": "none"}, "dockerNetwork: none is one of Docker's own networks"),
    ],
    "documents": [
        ({**EXISTING, **EXTERNAL, "kubeconfig": "{not yaml"}, "kubeconfig: is not YAML"),
        ({**EXISTING, **EXTERNAL, "kubeconfig": "just a string"}, "kubeconfig: is not a kubeconfig"),
        ({**EXISTING, **EXTERNAL, "kubeContext": "staging"}, "kubeContext: 'staging' is not a context of the"),
        (
            {**EXISTING, **EXTERNAL, "kubeconfig": EXISTING_KUBECONFIG.replace("current-context: prod-admin", "")},
            "kubeContext: is needed: the kubeconfig has no current-context",
        ),
        ({"previousAnchorPem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "previousAnchorPem:"),
    ],
}


@pytest.mark.parametrize(
    ("raw", "message"),
    [case for cases in CASES.values() for case in cases],
    ids=[f"{cls}-{i}" for cls, cases in CASES.items() for i in range(len(cases))],
)
def test_bad_config_is_refused_with_its_key(raw, message):
    with pytest.raises(config.ConfigError) as err:
        config.parse({"vaultToken": "t", **raw}, secret_keys={"vaultToken", "kubeconfig"})
    found = err.value.problems
    assert any(message in p for p in found), found
    assert all("Traceback" not in p for p in found)
    # A secret is never echoed back, even when it is what is wrong.
    if "kubeconfig" in raw:
        assert all(raw["kubeconfig"] not in p for p in found if len(raw["kubeconfig"]) > 8)


@pytest.mark.parametrize(
    "raw",
    [
        {**VAULT_ONLY, "vaultAddress": "http://127.0.0.1:8200"},  # OpenBao on this host
        {**VAULT_ONLY, "vaultAddress": "http://vault.internal:8200", "vaultInsecureHttp": "true"},
        {
            **EXISTING,
            **EXTERNAL,
            "vaultAddress": "http://127.0.0.1:8200",
            "vaultClusterAddress": "http://127.0.0.1:8200",
        },
        {"credential": "token", "tokenTtl": "800h", "vaultMaxTokenTtl": "8760h"},
        {"issuerRenewBefore": "5m"},
        {"k3dApiPort": "6551", "vaultHostPort": "8201"},
    ],
)
def test_what_the_rules_must_still_accept(raw):
    config.parse({"vaultToken": "t", **raw}, secret_keys={"vaultToken", "kubeconfig"})


def test_an_expired_previous_anchor_or_ca_bundle_is_refused_and_one_close_to_expiry_is_warned_about():
    import datetime as dt

    from tests.harness import make_ca

    now = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)  # make_ca's certificates start on this day
    anchor, _ = make_ca(common_name="old.anchor", days=90)
    later = now + dt.timedelta(days=91)
    with pytest.raises(config.ConfigError) as err:
        config.parse({"vaultToken": "t", "previousAnchorPem": anchor}, secret_keys={"vaultToken"}, now=later)
    assert err.value.problems == ["previousAnchorPem: expired on 2027-02-26T00:00:00Z (CN=old.anchor)"]
    with pytest.raises(config.ConfigError) as err:
        config.parse(
            {"vaultToken": "t", **VAULT_ONLY, "vaultCaBundlePem": anchor}, secret_keys={"vaultToken"}, now=later
        )
    assert err.value.problems == ["vaultCaBundlePem: expired on 2027-02-26T00:00:00Z (CN=old.anchor)"]

    close = now + dt.timedelta(days=80)
    parsed = config.parse({"vaultToken": "t", "previousAnchorPem": anchor}, secret_keys={"vaultToken"}, now=close)
    assert parsed.warnings == ("previousAnchorPem: CN=old.anchor expires on 2027-02-26T00:00:00Z, within 30 days",)
    far = config.parse({"vaultToken": "t", "previousAnchorPem": anchor}, secret_keys={"vaultToken"}, now=now)
    assert far.warnings == ()


def test_defaults_are_written_once_in_the_table_of_settings():
    """No reader call in lib/config repeats a default of lib/settings.py: the reader takes it from there."""
    import ast
    from pathlib import Path

    from lib import settings

    repeats = []
    for path in sorted((Path(__file__).resolve().parents[2] / "lib" / "config").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            key = node.args[0].value
            default = settings.DEFAULTS.get(key) if isinstance(key, str) else None
            if default is None:
                continue
            method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            # integer(key, low, high): a fourth argument would be a default; its bounds are not.
            if method == "integer":
                if len(node.args) > 3:
                    repeats.append(f"{path.name}:{node.lineno}: {key} = {default}")
                continue
            rest = [*node.args[1:], *(k.value for k in node.keywords)]
            literals = [a.value for a in rest if isinstance(a, ast.Constant) and isinstance(a.value, str | bool)]
            if any(str(v).lower() == default.lower() for v in literals):
                repeats.append(f"{path.name}:{node.lineno}: {key} = {default}")
    assert repeats == []


def test_a_problem_is_a_record_of_its_key_and_text():
    """What is wrong is recorded with its key, not recovered by splitting the message."""
    from lib import config

    with pytest.raises(config.ConfigError) as err:
        config.parse(
            {"vaultToken": "t", "clusters": "[{name: east, clusterMode: k3d, k3dApiPort: nope}]"},
            secret_keys={"vaultToken"},
        )
    (problem,) = err.value.problems
    assert (problem.key, problem.text) == ("clusters[0].k3dApiPort", "'nope' is not a whole number from 1024 to 65535")
    assert problem == "clusters[0].k3dApiPort: 'nope' is not a whole number from 1024 to 65535"
