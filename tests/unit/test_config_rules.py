"""Bad config, grouped by rule: each is refused before anything exists, naming the key.

The rules: the classes of CASES (addresses, limits downstream, clashes, documents), then keys (unknown,
of another namespace, empty, unused by the modes, secrets), values, checks across keys, lists (clusters,
anchors), and the cluster-only stack. Hostile values and the bugs they found: test_config_hostile.py.

Every case is a whole stack config that was accepted before these rules (and
failed later, at `up`, or never); each must now produce exactly the message
given, and never a traceback.
"""

from __future__ import annotations

import json

import pytest

from stack import config
from tests.harness import ANCHOR_PEM, EXISTING_KUBECONFIG, MODES, config_problems, make_ca
from tests.harness import parse_with_token as parse
from tests.harness import refused as problems

SECRETS = {"vaultToken", "kubeconfig"}
EXTERNAL = {"vaultMode": "external", "vaultAddress": "https://vault.example.com"}
EXISTING = {"clusterMode": "existing", "kubeconfig": EXISTING_KUBECONFIG}
VAULT_ONLY = {"clusterMode": "none", **EXTERNAL}
PROVIDED = MODES["cluster-only+provided"]
REFERENCE = MODES["cluster-only+reference"]
LEAF_PEM, _ = make_ca(common_name="leaf.example.com", ca=False)


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
    """No reader call in stack/config repeats a default of stack/settings.py: the reader takes it from there."""
    import ast
    from pathlib import Path

    from stack import settings

    repeats = []
    for path in sorted((Path(__file__).resolve().parents[2] / "stack" / "config").glob("*.py")):
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


def test_each_settings_kind_is_written_once_in_the_table_of_settings():
    """A setting is read as its kind in stack/settings.py says (``r.get(key)``): no reader call in stack/config
    names the kind again (its choices, pattern or range), so that a setting is declared in one place. The one
    exception: a `clusters` entry narrows clusterMode (an entry is a cluster, never `none`)."""
    import ast
    from pathlib import Path

    from stack import settings

    typed = {"choice", "duration", "boolean", "integer", "pattern", "url", "text", "secret"}
    again = []
    for path in sorted((Path(__file__).resolve().parents[2] / "stack" / "config").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                continue
            key = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
            if node.func.attr in typed and key in settings.BY_KEY:
                again.append(f"{path.name}:{node.lineno}: {node.func.attr}({key!r}, ...)")
    assert [line.split(": ", 1)[1] for line in again] == ["choice('clusterMode', ...)"]


def test_every_setting_of_the_table_is_read_and_says_what_it_accepts():
    from pathlib import Path

    from stack import settings

    source = "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "stack" / "config").glob("*.py"))
    assert [s.key for s in settings.SETTINGS if f'"{s.key}"' not in source] == []
    assert [s.key for s in settings.SETTINGS if not (s.kind.accepted() or s.doc)] == []
    # A choice's values are said by its kind alone: the meaning does not list them again.
    for s in settings.SETTINGS:
        values = getattr(s.kind, "values", ())
        assert len(values) < 2 or not all(f"`{v}`" in s.doc for v in values), s.key


def test_a_problem_is_a_record_of_its_key_and_text():
    """What is wrong is recorded with its key, not recovered by splitting the message."""
    from stack import config

    with pytest.raises(config.ConfigError) as err:
        config.parse(
            {"vaultToken": "t", "clusters": "[{name: east, clusterMode: k3d, k3dApiPort: nope}]"},
            secret_keys={"vaultToken"},
        )
    (problem,) = err.value.problems
    assert (problem.key, problem.text) == ("clusters[0].k3dApiPort", "'nope' is not a whole number from 1024 to 65535")
    assert problem == "clusters[0].k3dApiPort: 'nope' is not a whole number from 1024 to 65535"


# --- keys ------------------------------------------------------------------------------------------------


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
    assert found == [
        f"{key}: is only used when clusterMode is k3d (it is existing); remove it: scripts/stack config rm {key}"
    ]


@pytest.mark.parametrize(
    ("misspelt", "meant"),
    [("vaultAdress", "vaultAddress"), ("Kubeconfig", "kubeconfig"), ("signpath", "signPath")],
)
def test_a_misspelt_required_key_is_one_problem_not_two(misspelt, meant):
    """`vaultAdress: https://...`: the typo is named with the key it means; that key is not also reported missing."""
    modes = {
        "vaultAddress": {"vaultMode": "external"},
        "kubeconfig": {"clusterMode": "existing", "vaultMode": "external", "vaultAddress": "https://v.example.com"},
        "signPath": {**MODES["cluster-only+provided"], "signPath": None},
    }[meant]
    raw = {k: v for k, v in {**modes, misspelt: "x"}.items() if v is not None}
    found = config_problems(**raw)
    assert [p for p in found if p.startswith((f"{meant}:", f"{misspelt}:"))] == [
        f"{misspelt}: is not a setting of this program; did you mean {meant}?"
    ], found


@pytest.mark.parametrize("side", ["reference", "provided"])
def test_a_mode_in_conflict_with_another_is_one_problem_naming_the_modes_as_set(side):
    """vaultSide on a Vault-only stack (clusterMode none): one problem, saying `none`; nothing judged against
    vaultSide's default (create), which nobody set: no `(it is create)`, no vaultToken required."""
    found = config_problems(clusterMode="none", vaultSide=side, vaultStack="pki")
    assert found == [
        "vaultSide: is only used when clusterMode is k3d or existing (it is none); "
        "remove it: scripts/stack config rm vaultSide"
    ], found


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


# --- values ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "48", "2d", "1.5h", "h", "-1h", "0h", "48H", "1m1h"])
def test_malformed_durations_are_not_durations(text):
    assert config.parse_duration(text) is None


@pytest.mark.parametrize(
    ("raw", "key", "accepted"),
    [
        ({"clusterMode": "kind"}, "clusterMode", "k3d, existing, none"),
        ({"vaultMode": "hcp"}, "vaultMode", "docker, external"),
        ({"credential": "kerberos"}, "credential", "approle, token, kubernetes"),
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


# --- across keys -----------------------------------------------------------------------------------------


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


# --- lists: clusters, anchors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "top", "says"),
    [
        ([{"name": "a"}, {"name": "a", "k3dApiPort": 6551}], {}, "clusters[1].name: a is listed twice"),
        ([{"name": "a"}, {"name": "b"}], {}, "k3dApiPort: 6550 of cluster b is also the k3dApiPort of cluster a"),
        ([{"name": "a", "k3dApiPort": 8200}], {}, "k3dApiPort: 8200 of cluster a is also vaultHostPort"),
        ([{"name": "a", "kubeContxt": "x"}], {}, "entry; did you mean kubeContext?"),
        ([{"name": "a", "dockerNetwork": "n"}], {}, "clusters[0].dockerNetwork: is not a setting of a cluster entry"),
        ([{"name": "Not_A_Label"}], {}, "clusters[0].name: 'Not_A_Label' is not a lowercase DNS label"),
        ([{"clusterMode": "k3d"}], {}, "clusters[0].name: None is not a lowercase DNS label"),
        ([{"name": "a", "clusterMode": "none"}], {}, "clusters[0].clusterMode: 'none' is not one of k3d, existing"),
        ([{"name": "a", "clusterMode": "existing"}], {}, "clusters[0].kubeconfig: is required"),
        ([{"name": "a", "kubeconfig": EXISTING_KUBECONFIG}], {}, "clusters[0].kubeconfig: is only used when"),
        ([{"name": "a", "readyTimeout": "1s"}], {}, "clusters[0].readyTimeout: 1s is not from 10s to 2h"),
        ([{"name": "a", "secretIdVersion": 2}], {"credential": "token"}, "clusters[0].secretIdVersion: is only used"),
        ([{"name": "a", "linkerd": "skip", "installGatewayApi": False}], {}, "clusters[0].installGatewayApi: is only"),
        ([{"name": "a"}], {"clusterName": "x"}, "clusterName: is not used when clusters are listed"),
        ([{"name": "a"}], {"clusterMode": "none", **EXTERNAL}, "clusters: is only used when clusterMode is k3d or"),
        ([], {}, "clusters: is not a list of clusters"),
        ({"name": "a"}, {}, "clusters: is not a list of clusters"),
    ],
)  # fmt: skip
def test_bad_cluster_lists_are_refused_naming_the_entry_and_key(entries, top, says):
    with pytest.raises(config.ConfigError) as err:
        config.parse(
            {"vaultToken": "t", "clusters": json.dumps(entries), **top}, secret_keys={"vaultToken", "clusters"}
        )
    assert any(says in p for p in err.value.problems), err.value.problems


def test_a_kubeconfig_in_a_plain_clusters_list_is_refused_and_never_echoed():
    entries = [
        {
            "name": "a",
            "clusterMode": "existing",
            "kubeconfig": EXISTING_KUBECONFIG,
            "vaultClusterAddress": "http://192.168.1.20:8200",
        }
    ]
    with pytest.raises(config.ConfigError) as err:
        config.parse({"vaultToken": "t", "clusters": json.dumps(entries)}, secret_keys={"vaultToken"})
    assert err.value.problems == [
        "clusters[0].kubeconfig: is stored in plain text; set it with "
        "`pulumi config set --secret --path 'clusters[0].kubeconfig' ...` (it must stay a Pulumi secret)"
    ]


def test_an_inherited_problem_is_reported_once_not_once_a_cluster():
    entries = [{"name": "a", "k3dApiPort": 6551}, {"name": "b", "k3dApiPort": 6552}]
    with pytest.raises(config.ConfigError) as err:
        config.parse(
            {"vaultToken": "t", "clusters": json.dumps(entries), "readyTimeout": "5s"},
            secret_keys={"vaultToken", "clusters"},
        )
    assert err.value.problems == ["readyTimeout: 5s is not from 10s to 2h"]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"anchors": "a1,a2,a3"}, "a rotation holds two at most"),
        ({"anchors": "a1,a1"}, "lists a name twice"),
        ({"anchors": "A1"}, "'A1' is not an anchor name"),
        ({"anchors": "default"}, "not `default`"),
        ({"anchors": "previous-anchor"}, "'previous-anchor' is not an anchor name"),
        ({"anchors": json.dumps([])}, "anchors: is empty"),
        ({"anchors": json.dumps({"a1": True})}, "anchors: is not a list of anchor names"),
        ({"anchors": "a1", "signingAnchor": "a2"}, "signingAnchor: 'a2' is not one of anchors (a1)"),
    ],
)
def test_bad_anchor_config_is_refused_with_its_key(raw, says):
    with pytest.raises(config.ConfigError) as err:
        config.parse({"vaultToken": "t", **raw}, secret_keys={"vaultToken"})
    assert any(says in p for p in err.value.problems), err.value.problems


# --- the cluster-only stack ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key", "says"),
    [
        ({**PROVIDED, "signPath": "pki/issue/linkerd"}, "signPath", "ending in /sign-intermediate"),
        ({**PROVIDED, "signPath": "pki/sign/linkerd"}, "signPath", "ending in /sign-intermediate"),
        ({**PROVIDED, "signPath": "sign-intermediate"}, "signPath", "ending in /sign-intermediate"),
        ({**PROVIDED, "anchorPems": json.dumps({"leaf": LEAF_PEM})}, "anchorPems.leaf", "CA"),
        ({**PROVIDED, "anchorPems": json.dumps({"x": "not a pem"})}, "anchorPems.x", "PEM"),
        ({**PROVIDED, "anchorPems": "[a, b]"}, "anchorPems", "map of anchor name"),
        ({**PROVIDED, "anchorPems": json.dumps({"Bad_Name": ANCHOR_PEM})}, "anchorPems", "anchor name"),
        ({k: v for k, v in PROVIDED.items() if k != "signPath"}, "signPath", "is required"),
        ({k: v for k, v in PROVIDED.items() if k != "anchorPems"}, "anchorPems", "is required"),
        ({k: v for k, v in PROVIDED.items() if k != "vaultClusterAddress"}, "vaultClusterAddress", "is required"),
        ({k: v for k, v in PROVIDED.items() if k != "approleSecretId"}, "approleSecretId", "is required"),
        ({**PROVIDED, "signingAnchor": "other"}, "signingAnchor", "not one of anchorPems"),
        ({**PROVIDED, "pkiPath": "pki"}, "pkiPath", "only used when vaultSide is create"),
        ({**PROVIDED, "vaultToken": "t"}, "vaultToken", "only used when vaultSide is create"),
        ({**PROVIDED, "vaultStack": "pki"}, "vaultStack", "only used when vaultSide is reference"),
        (
            {**REFERENCE, "signPath": "pki/issuer/a/sign-intermediate"},
            "signPath",
            "only used when vaultSide is provided",
        ),
        ({**REFERENCE, "credential": "token"}, "credential", "only used when vaultSide is create or"),
        ({k: v for k, v in REFERENCE.items() if k != "vaultStack"}, "vaultStack", "is required"),
        ({**REFERENCE, "vaultStack": "a/b/c/d"}, "vaultStack", "not a stack name"),
        ({**REFERENCE, "vaultConsumer": "East"}, "vaultConsumer", "lowercase DNS label"),
        ({**REFERENCE, "vaultClusterAddress": "http://vault.example.com"}, "vaultClusterAddress", "plain http"),
        (
            {**MODES["vault-only+external"], "vaultSide": "reference", "vaultToken": "t"},
            "vaultSide",
            "only used when clusterMode is",
        ),
        ({**MODES["vault-only+external"], "consumers": "[East]"}, "consumers[0].name", "lowercase DNS label"),
        ({**MODES["vault-only+external"], "consumers": "[a, a]"}, "consumers[1].name", "listed twice"),
        ({**MODES["vault-only+external"], "consumers": "[{name: a, ttl: 1}]"}, "consumers[0].ttl", "takes name"),
        ({"consumers": "[a]"}, "consumers", "only used when clusterMode is none"),
        ({**PROVIDED, "vaultSide": "elsewhere"}, "vaultSide", "not one of create, reference, provided"),
        ({**PROVIDED, "credential": "kerberos"}, "credential", "not one of approle, token, kubernetes"),
    ],
)
def test_bad_cluster_only_config_names_the_key_once(raw, key, says):
    found = config_problems(**raw)
    assert len(found) == 1, found
    assert found[0].startswith(f"{key}:") and says in found[0], found


def test_a_handed_over_secret_must_be_a_pulumi_secret():
    with pytest.raises(config.ConfigError) as err:
        config.parse(PROVIDED, secret_keys={"kubeconfig"})
    assert err.value.problems == [
        "approleSecretId: is stored in plain text; set it with `pulumi config set --secret approleSecretId ...` "
        "(it must stay a Pulumi secret)"
    ]


def test_one_cluster_per_cluster_only_stack():
    found = config_problems(**PROVIDED, clusters="[{name: a, clusterMode: existing}]")
    assert found == [
        "clusters: is only used when vaultSide is create (it is provided); remove it: scripts/stack config rm clusters"
    ]
