"""L3 stacks through the real pulumi-vault provider: the Vault side's settings, deploying it, and logging in
with what it exported. Shared by the L3 suites (test_vault_side.py, test_rotation.py)."""

from __future__ import annotations

import itertools

from tests.integration.openbao import Client, login_approle
from tests.integration.stacks import Stack

_paths = itertools.count()
VAULT_SIDE_RESOURCES = {"approle": 9, "token": 7}


def vault_side_settings(openbao, **overrides: str) -> dict[str, str]:
    n = next(_paths)
    settings = {
        "clusterMode": "none",
        "vaultMode": "external",
        "vaultAddress": openbao.address,
        "pkiPath": f"pki-l2-{n}",
        **overrides,
    }
    if settings.get("credential", "approle") == "approle":  # the AppRole mount is a setting of AppRole only
        settings.setdefault("approleMount", f"approle-l2-{n}")
    return settings


def inventory(client: Client) -> dict[str, set[str]]:
    """Everything of a kind the program creates: mounts, auth mounts, policies."""
    return {
        "mounts": set(client.read("sys/mounts")["data"]),
        "auth": set(client.read("sys/auth")["data"]),
        "policies": set(client.request("LIST", "sys/policies/acl")["data"]["keys"]),
    }


class Deployed:
    def __init__(self, stack: Stack, settings: dict[str, str], outputs: dict, created: int):
        self.stack = stack
        self.settings = settings
        self.outputs = outputs
        self.created = created

    @property
    def pki_path(self) -> str:
        return self.settings["pkiPath"]


def deploy(stack: Stack, openbao, **overrides: str) -> Deployed:
    settings = vault_side_settings(openbao, **overrides)
    stack.configure(settings, {"vaultToken": openbao.root_token})
    result = stack.stack.up(on_output=lambda _line: None)
    created = result.summary.resource_changes.get("create", 0)
    return Deployed(stack, settings, {k: v.value for k, v in result.outputs.items()}, created)


def credential_client(deployed: Deployed, openbao) -> tuple[Client, dict]:
    """A client holding what cert-manager holds, made from the stack's outputs only."""
    out = deployed.outputs
    if out["credentialKind"] == "approle":
        auth = login_approle(openbao.root(), out["approleMount"], out["approleRoleId"], out["approleSecretId"])
        return Client(openbao.address, auth["client_token"]), auth
    me = openbao.root().write("auth/token/lookup", {"token": out["vaultToken"]})["data"]
    return Client(openbao.address, out["vaultToken"]), me
