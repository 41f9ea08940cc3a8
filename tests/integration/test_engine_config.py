"""The real Pulumi engine runs the program: bad config stops `preview` before anything exists.

The program runs inline (Automation API) against a temporary file:// backend,
configured for the Vault side only against a real OpenBao server, with one bad
setting each time. The engine must fail the preview with our message naming
the key, and OpenBao must be untouched afterwards. Nothing is registered, so no
provider plugin is loaded: this runs here, without pulumi-vault. A cluster-only
stack's reference to a stack that cannot serve it is refused the same way,
through the engine's own read of that stack.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.harness import EXISTING_KUBECONFIG, make_ca
from tests.integration.openbao import Client
from tests.integration.stacks import new_stack

pytestmark = pytest.mark.integration


def vault_inventory(client: Client) -> tuple[set[str], set[str], set[str]]:
    mounts = set(client.read("sys/mounts")["data"])
    auths = set(client.read("sys/auth")["data"])
    policies = set(client.request("LIST", "sys/policies/acl")["data"]["keys"])
    return mounts, auths, policies


@pytest.fixture
def stack(engine, tmp_path):
    with new_stack(engine, tmp_path, prefix="config") as created:
        yield created.stack


# An anchor that ended ten days ago.
EXPIRED_ANCHOR = make_ca("retired.anchor", days=90, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=100))[0]

CASES = {
    "unknown mode": ({"clusterMode": "kind"}, "clusterMode: 'kind' is not one of k3d, existing, none"),
    "malformed duration": ({"issuerDuration": "2 days"}, "issuerDuration: '2 days' is not a duration"),
    "wrong key type": ({"anchorKeyType": "rsa"}, "anchorKeyType: 'rsa' is not one of ec"),
    "inconsistent durations": ({"issuerRenewBefore": "72h"}, "issuerRenewBefore: 72h must be shorter than"),
    "anchor beyond the mount": ({"anchorTtl": "4000h"}, "anchorTtl: 4000h is longer than pkiMaxLeaseTtl"),
    "misspelt key": ({"vaultmode": "external"}, "vaultmode: is not a setting of this program; did you mean vaultMode?"),
    "another namespace": ({"vault:address": "http://127.0.0.1:1"}, "vault:address: configures the default vault"),
    "empty value": ({"pkiPath": ""}, "pkiPath: is empty; remove it"),
    "unused by the modes": ({"vaultHostPort": "8300"}, "vaultHostPort: is only used when vaultMode is docker"),
    "address urllib cannot parse": ({"vaultAddress": "http://[::1"}, "vaultAddress: 'http://[::1' is not a URL"),
    "plain http elsewhere": ({"vaultAddress": "http://vault.example.com"}, "is plain http to another host"),
    "below cert-manager's minimum": ({"issuerRenewBefore": "4m"}, "issuerRenewBefore: 4m is shorter than 5m"),
    "a path Vault keeps": ({"approleMount": "token"}, "approleMount: token is under a path Vault keeps"),
    "an expired previous anchor": ({"previousAnchorPem": EXPIRED_ANCHOR}, "previousAnchorPem: expired on"),
    "missing kubeconfig": ({"clusterMode": "existing"}, "kubeconfig: is required when clusterMode is existing"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_fails_preview_naming_the_key_and_creates_nothing(stack, openbao, case):
    from pulumi import automation as auto

    overrides, message = CASES[case]
    settings = {"clusterMode": "none", "vaultMode": "external", "vaultAddress": openbao.address, **overrides}
    for key, value in settings.items():
        stack.set_config(key, auto.ConfigValue(value))
    stack.set_config("vaultToken", auto.ConfigValue(openbao.root_token, secret=True))
    before = vault_inventory(openbao.root())

    with pytest.raises(auto.CommandError) as err:
        stack.preview()
    assert message in str(err.value), str(err.value)[-2000:]
    assert "Traceback" not in str(err.value)
    assert openbao.root_token not in str(err.value)
    assert vault_inventory(openbao.root()) == before


def test_a_token_in_plain_config_is_refused(stack, openbao):
    from pulumi import automation as auto

    for key, value in {"clusterMode": "none", "vaultMode": "external", "vaultAddress": openbao.address}.items():
        stack.set_config(key, auto.ConfigValue(value))
    stack.set_config("vaultToken", auto.ConfigValue("not-a-real-token"))
    with pytest.raises(auto.CommandError) as err:
        stack.preview()
    assert "vaultToken: is stored in plain text" in str(err.value)


def test_a_reference_to_a_missing_stack_fails_preview_naming_vault_stack(stack, tmp_path):
    from pulumi import automation as auto

    settings = {"clusterMode": "existing", "vaultSide": "reference", "vaultStack": "no-such-stack"}
    for key, value in settings.items():
        stack.set_config(key, auto.ConfigValue(value))
    stack.set_config("kubeconfig", auto.ConfigValue(EXISTING_KUBECONFIG, secret=True))
    with pytest.raises(auto.CommandError) as err:
        stack.preview()
    text = str(err.value)
    assert "vaultStack: could not read the stack organization/linkerd-vault-pki/no-such-stack" in text, text[-2000:]


def test_a_reference_to_a_stack_that_is_not_a_vault_only_stack_fails_preview_naming_it(engine, tmp_path):
    """A stack on the same backend that exports something else (here: nothing a cluster stack can use)."""
    import pulumi
    from pulumi import automation as auto

    with new_stack(engine, tmp_path, prefix="other", program=lambda: pulumi.export("clusterIssuer", "x")) as other:
        other.up()
        with new_stack(engine, tmp_path, prefix="config") as created:
            settings = {"clusterMode": "existing", "vaultSide": "reference", "vaultStack": other.name}
            for key, value in settings.items():
                created.stack.set_config(key, auto.ConfigValue(value))
            created.stack.set_config("kubeconfig", auto.ConfigValue(EXISTING_KUBECONFIG, secret=True))
            with pytest.raises(auto.CommandError) as err:
                created.stack.preview()
    text = str(err.value)
    assert f"vaultStack: organization/linkerd-vault-pki/{other.name} has no output anchorRotation" in text, text[-2000:]
    assert "Traceback" not in text
