"""L2: many clusters on one anchor, through the real engine and pulumi-vault provider, against OpenBao.

Three listed clusters, set entry by entry with `--path` as docs/configuration.md says
(existing clusters, reached by no test here: `up` targets
the Vault side only, `--target '**VaultPki**'`, which is what these tests are
about). Each cluster has its own AppRole role and secret_id: every one signs
the identity issuer under the one anchor, and revoking one cluster's
credential, in Vault or by bumping its secretIdVersion, leaves the others
signing.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from pulumi import automation as auto

from tests.integration.openbao import Client, VaultError, login_approle
from tests.integration.signing import sign_as_cert_manager
from tests.integration.stacks import Stack, new_stack

# L3: the real pulumi-vault provider (and the language host), which no registry serves: run by the L3 workflow.
pytestmark = [pytest.mark.integration, pytest.mark.l3]

NAMES = ("east", "west", "north")
# A kubeconfig for a cluster nobody reaches: the Vault side never needs it.
UNREACHED = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: https://127.0.0.1:1}}]\n"
    "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
    "current-context: x\n"
)


def set_entries(stack: Stack) -> None:
    """The list as a user writes it: `pulumi config set --path 'clusters[i].key'`, the kubeconfigs as secrets."""
    for i, name in enumerate(NAMES):
        for key, value, secret in (
            ("name", name, False),
            ("clusterMode", "existing", False),
            ("kubeconfig", UNREACHED, True),
        ):
            stack.stack.set_config(f"clusters[{i}].{key}", auto.ConfigValue(value, secret=secret), path=True)


def up_vault_side(stack: Stack) -> dict:
    result = stack.stack.up(target=["**VaultPki**"], on_output=lambda _line: None)
    return {key: out.value for key, out in result.outputs.items()}


def client_of(openbao, outputs: dict, name: str) -> Client:
    facts, secrets = outputs["clusters"][name], outputs["clusterSecrets"][name]
    auth = login_approle(openbao.root(), facts["approleMount"], facts["approleRoleId"], secrets["approleSecretId"])
    assert auth["token_policies"] == [outputs["signerPolicy"]]
    return Client(openbao.address, auth["client_token"])


def signs(openbao, outputs: dict, name: str) -> bool:
    try:
        client = client_of(openbao, outputs, name)
    except VaultError as exc:
        assert exc.status in (400, 403), exc
        return False
    issuer, _ = sign_as_cert_manager(client, outputs["signPath"])
    issuer.verify_directly_issued_by(x509.load_pem_x509_certificate(outputs["trustAnchorPem"].encode()))
    return True


def test_each_cluster_signs_with_its_own_credential_and_one_revoked_leaves_the_others(engine, openbao, tmp_path):
    with new_stack(engine, tmp_path) as stack:
        stack.configure(
            {
                "vaultMode": "external",
                "vaultAddress": openbao.address,
                "vaultClusterAddress": openbao.address,
                "pkiPath": "pki-many",
                "approleMount": "approle-many",
                "linkerd": "skip",
            },
            {"vaultToken": openbao.root_token},
        )
        set_entries(stack)
        out = up_vault_side(stack)
        assert sorted(out["clusters"]) == sorted(NAMES)
        role_ids = {n: out["clusters"][n]["approleRoleId"] for n in NAMES}
        assert len(set(role_ids.values())) == 3  # a role each
        assert sorted(openbao.root().request("LIST", "auth/approle-many/role")["data"]["keys"]) == sorted(
            f"cert-manager-{n}" for n in NAMES
        )
        assert all(signs(openbao, out, n) for n in NAMES)

        # Revoked in Vault (a cluster lost or compromised): the others go on signing.
        openbao.root().write(
            "auth/approle-many/role/cert-manager-east/secret-id/destroy",
            {"secret_id": out["clusterSecrets"]["east"]["approleSecretId"]},
        )
        assert [signs(openbao, out, n) for n in NAMES] == [False, True, True]

        # The runbook: refresh finds east's secret_id gone, and the next `up` issues east a new one.
        stack.stack.refresh(on_output=lambda _line: None)
        reissued = up_vault_side(stack)
        assert reissued["clusterSecrets"]["east"]["approleSecretId"] != out["clusterSecrets"]["east"]["approleSecretId"]
        assert all(signs(openbao, reissued, n) for n in NAMES)

        # Rotated by config (secretIdVersion of one entry): west gets a new secret_id, the old one is
        # revoked, and the others keep theirs.
        stack.stack.set_config("clusters[1].secretIdVersion", auto.ConfigValue("2"), path=True)
        rotated = up_vault_side(stack)
        assert not signs(openbao, reissued, "west")
        for n in ("east", "north"):
            assert rotated["clusterSecrets"][n]["approleSecretId"] == reissued["clusterSecrets"][n]["approleSecretId"]
        assert all(signs(openbao, rotated, n) for n in NAMES)
