"""A test fixture that stands in for the pulumi-vault provider: it applies the program's Vault resources to OpenBao.

No registry serves the pulumi-vault plugin, so the real provider runs only in L3.
To test Vault's semantics here, the program runs under Pulumi mocks whose
``new_resource`` makes, for each registered ``vault:`` resource, the API calls
the Terraform Vault provider makes for it (the provider under pulumi-vault),
against a real OpenBao, and answers with what OpenBao returned: the anchor's
PEM, the issuer id, the role_id, the secret_id. Inputs that are other
resources' outputs are resolved before a resource reaches the mocks, so the
order is the program's dependency order.

Between runs it keeps what it made, as an engine keeps state: a resource whose
inputs are unchanged is left alone; a changed one is updated in place, or
replaced where the provider replaces it; one the program no longer registers
is deleted, newest first. That is what a rotation phase needs (add, switch,
retire). It is never a provider the program uses; ``tests/unit`` and L3 test
the provider's own behaviour.

What it does not stand in for: the provider's diffing, ``ignore_changes``
(``REPLACED_BY`` lists only the fields that replace, as the program declares
them), refresh and import, and the provider's own checks of its inputs.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from tests.harness import ANCHOR_PEM, RecordingMocks, Rendered, render_program
from tests.integration.openbao import Client, VaultError

_paths = itertools.count()


def vault_only(openbao, **overrides: str):
    """A Vault-only stack's config on ``openbao``, its mounts at paths no other test uses."""
    from stack import config
    from tests.harness import SECRET_KEYS

    n = next(_paths)
    raw = {
        "clusterMode": "none",
        "vaultMode": "external",
        "vaultAddress": openbao.address,
        "vaultToken": openbao.root_token,
        "pkiPath": f"pki-applied-{n}",
        **overrides,
    }
    kind = raw.get("credential", "approle")
    if kind == "approle":
        raw.setdefault("approleMount", f"approle-applied-{n}")
    if kind == "kubernetes":
        raw.setdefault("kubernetesAuthMount", f"kubernetes-applied-{n}")
    return config.parse(raw, secret_keys=SECRET_KEYS)


# The provider retries a 5xx (its max_retries, default 2), its Vault API client waiting 1 to 1.5 s between.
RETRIES = 2
RETRY_WAIT_SECONDS = 1.0

Inputs = dict[str, Any]
Outputs = dict[str, Any]

# Inputs whose change replaces the resource (the others are updated in place); as the program uses them.
REPLACED_BY = {
    "vault:index/mount:Mount": ("path", "type"),
    "vault:pkiSecret/secretBackendKey:SecretBackendKey": ("backend", "keyName", "type"),
    "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert": ("backend", "keyRef", "issuerName", "type"),
    "vault:index/authBackend:AuthBackend": ("path", "type"),
    "vault:appRole/authBackendRole:AuthBackendRole": ("backend", "roleName"),
    "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId": ("backend", "roleName", "metadata"),
    "vault:index/token:Token": ("policies", "noParent", "noDefaultPolicy", "renewable", "ttl", "numUses"),
    "vault:index/policy:Policy": ("name",),
    "vault:kubernetes/authBackendConfig:AuthBackendConfig": ("backend",),
    "vault:kubernetes/authBackendRole:AuthBackendRole": ("backend", "roleName"),
}


@dataclass
class Made:
    """One resource the applier made: what it was given and what OpenBao answered."""

    type: str
    name: str
    inputs: Inputs
    outputs: Outputs
    made_at: int  # creation order: deletes go newest first


def _seconds(ttl: Any) -> int:
    text = str(ttl)
    return int(text[:-1]) if text.endswith("s") else int(float(text))


class OpenBaoApplier(RecordingMocks):
    """The Vault-only program's resources applied to a real OpenBao (see the module docstring)."""

    def __init__(self, vault: Client):
        super().__init__(ANCHOR_PEM)
        self.vault = vault
        self.made: dict[tuple[str, str], Made] = {}
        self.calls: list[str] = []  # every API call, "METHOD path", for the tests to read
        self.retries: list[str] = []  # the calls OpenBao answered with a 5xx first
        self._order = 0
        self._seen: set[tuple[str, str]] = set()
        self.outputs: dict[str, Any] = {}
        self.secret_outputs: set[str] = set()

    # -- a run of the program ------------------------------------------------------------------------

    def up(self, cfg) -> Rendered:
        """Run the program with ``cfg`` (a Vault-only or Vault-side config); apply; delete what it dropped."""
        from stack import program

        self.deployed = dict(self.outputs)  # what readStackOutputs answers: the last run's outputs
        self._seen = set()
        rendered = render_program(lambda: program.run(cfg), mocks=self)
        for key in sorted(set(self.made) - self._seen, key=lambda k: -self.made[k].made_at):
            self._delete(self.made.pop(key))
        self.outputs = dict(rendered.outputs)
        self.secret_outputs = set(rendered.secret_outputs)
        return rendered

    def forget(self) -> None:
        """What a refresh records after Vault lost everything (a dev server restarted): nothing left to manage."""
        self.made.clear()

    def replace(self, typ: str) -> None:
        """What `pulumi up --replace` of each resource of ``typ`` does at the next run: a new one."""
        for key in [k for k in self.made if k[0] == typ]:
            self._delete(self.made.pop(key))

    def destroy(self) -> None:
        for key in sorted(self.made, key=lambda k: -self.made[k].made_at):
            self._delete(self.made.pop(key))
        self.outputs = {}

    # -- the mocks' side -----------------------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.typ.startswith("vault:"):
            return super().new_resource(args)
        key = (args.typ, args.name)
        self._seen.add(key)
        inputs = json.loads(json.dumps(dict(args.inputs)))  # plain values, as the provider receives them
        before = self.made.get(key)
        if before is not None and before.inputs == inputs:
            return before.outputs["id"], before.outputs
        if before is not None and all(before.inputs.get(k) == inputs.get(k) for k in REPLACED_BY.get(args.typ, ())):
            outputs = {**before.outputs, **self._apply(args.typ, inputs, update=True)}
            self.made[key] = Made(args.typ, args.name, inputs, outputs, before.made_at)
            return outputs["id"], outputs
        # Replaced: the old one deleted first, except a secret_id, whose new one is made first (the program's
        # create-before-delete rotation: the cluster holds the new one before the old one dies).
        new_first = args.typ == "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId"
        if before is not None and not new_first:
            self._delete(before)
        outputs = {**inputs, **self._apply(args.typ, inputs, update=False)}
        if before is not None and new_first:
            self._delete(before)
        self._order += 1
        self.made[key] = Made(args.typ, args.name, inputs, outputs, self._order)
        return outputs["id"], outputs

    # -- the API calls, resource by resource ---------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        """One API call, retried as the provider's Vault client retries it: a 5xx other than 501, twice, 1 s
        apart (OpenBao answers 500 "transaction commit failed" to a write that lost a storage conflict)."""
        self.calls.append(f"{method} {path}")
        for attempt in range(RETRIES + 1):
            try:
                return self.vault.request(method, path, body)
            except VaultError as exc:
                if exc.status < 500 or exc.status == 501 or attempt == RETRIES:
                    raise
                self.retries.append(f"{method} {path}: {exc.status}")
                time.sleep(RETRY_WAIT_SECONDS)
        raise AssertionError("unreachable")

    def _apply(self, typ: str, i: Inputs, update: bool) -> Outputs:
        return APPLY[typ](self, i, update)

    def _delete(self, made: Made) -> None:
        try:
            DELETE[made.type](self, made.inputs, made.outputs)
        except VaultError as exc:
            # Already gone: a test revoked it in Vault. (OpenBao answers 500 for a destroyed secret_id's
            # accessor; the real provider then fails the delete, which is why the runbook refreshes first.)
            if exc.status != 404 and "failed to find accessor entry" not in str(exc):
                raise


def _mount(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    config = {"max_lease_ttl": f"{int(i['maxLeaseTtlSeconds'])}s"} if i.get("maxLeaseTtlSeconds") else {}
    if update:  # the provider tunes a mount in place
        a._call("POST", f"sys/mounts/{i['path']}/tune", {**config, "description": i.get("description", "")})
    else:
        a._call(
            "POST",
            f"sys/mounts/{i['path']}",
            {"type": i["type"], "description": i.get("description", ""), "config": config},
        )
    accessor = a._call("GET", f"sys/mounts/{i['path']}")["data"]["accessor"] if not update else None
    return {"id": i["path"], **({"accessor": accessor} if accessor else {})}


def _config_urls(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    a._call(
        "POST",
        f"{i['backend']}/config/urls",
        {
            "issuing_certificates": i.get("issuingCertificates", []),
            "crl_distribution_points": i.get("crlDistributionPoints", []),
            "ocsp_servers": i.get("ocspServers", []),
        },
    )
    return {"id": i["backend"]}


def _key(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    data = a._call(
        "POST",
        f"{i['backend']}/keys/generate/{i['type']}",
        {"key_name": i.get("keyName", ""), "key_type": i["keyType"], "key_bits": int(i["keyBits"])},
    )["data"]
    assert "private_key" not in data  # type internal: Vault never hands the key out
    return {"id": f"{i['backend']}/key/{data['key_id']}", "keyId": data["key_id"]}


def _root_cert(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    # The multi-issuer API: a root signed with an existing key, as an issuer of its own name. With type
    # existing the key is the referenced one's: Vault refuses key_type and key_bits, so they are not sent.
    body = {"common_name": i["commonName"], "ttl": i["ttl"], "issuer_name": i.get("issuerName", "")}
    if i["type"] == "existing":
        body["key_ref"] = i["keyRef"]
    else:
        body.update(key_type=i.get("keyType", "ec"), key_bits=int(i.get("keyBits", 256)))
    data = a._call("POST", f"{i['backend']}/issuers/generate/root/{i['type']}", body)["data"]
    return {
        "id": f"{i['backend']}/issuer/{data['issuer_id']}",
        "certificate": data["certificate"],
        "issuingCa": data["issuing_ca"],
        "serialNumber": data["serial_number"],
        "issuerId": data["issuer_id"],
        "keyId": data.get("key_id", ""),
    }


def _config_issuers(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    a._call(
        "POST",
        f"{i['backend']}/config/issuers",
        {"default": i["default"], "default_follows_latest_issuer": bool(i.get("defaultFollowsLatestIssuer", False))},
    )
    return {"id": f"{i['backend']}/config/issuers"}


def _policy(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    a._call("PUT", f"sys/policies/acl/{i['name']}", {"policy": i["policy"]})
    return {"id": i["name"]}


def _auth_backend(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    if not update:
        a._call("POST", f"sys/auth/{i['path']}", {"type": i["type"], "description": i.get("description", "")})
    accessor = a._call("GET", "sys/auth")["data"][f"{i['path']}/"]["accessor"]
    return {"id": i["path"], "accessor": accessor}


def _role(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    path = f"auth/{i['backend']}/role/{i['roleName']}"
    a._call(
        "POST",
        path,
        {
            "token_policies": i.get("tokenPolicies", []),
            "token_no_default_policy": bool(i.get("tokenNoDefaultPolicy", False)),
            "token_ttl": int(i.get("tokenTtl", 0)),
            "token_max_ttl": int(i.get("tokenMaxTtl", 0)),
            "secret_id_ttl": int(i.get("secretIdTtl", 0)),
            "secret_id_num_uses": int(i.get("secretIdNumUses", 0)),
            "bind_secret_id": bool(i.get("bindSecretId", True)),
        },
    )
    role_id = a._call("GET", f"{path}/role-id")["data"]["role_id"]
    return {"id": path, "roleId": role_id}


def _secret_id(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    path = f"auth/{i['backend']}/role/{i['roleName']}/secret-id"
    data = a._call("POST", path, {"metadata": i.get("metadata", "")})["data"]
    return {
        "id": f"{path}/{data['secret_id_accessor']}",
        "secretId": data["secret_id"],
        "accessor": data["secret_id_accessor"],
    }


def _token(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    path = "auth/token/create-orphan" if i.get("noParent") else "auth/token/create"
    auth = a._call(
        "POST",
        path,
        {
            "policies": i.get("policies", []),
            "no_default_policy": bool(i.get("noDefaultPolicy", False)),
            "renewable": bool(i.get("renewable", True)),
            "ttl": i.get("ttl", ""),
            "num_uses": int(i.get("numUses", 0)),
        },
    )["auth"]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "id": auth["accessor"],
        "clientToken": auth["client_token"],
        "leaseDuration": auth["lease_duration"],
        "leaseStarted": started,
    }


def _kubernetes_config(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    path = f"auth/{i['backend']}/config"
    body = {
        "kubernetes_host": i["kubernetesHost"],
        "kubernetes_ca_cert": i.get("kubernetesCaCert", ""),
        "disable_local_ca_jwt": bool(i.get("disableLocalCaJwt", False)),
    }
    if i.get("tokenReviewerJwt"):
        body["token_reviewer_jwt"] = i["tokenReviewerJwt"]
    a._call("POST", path, body)
    return {"id": path}


def _kubernetes_role(a: OpenBaoApplier, i: Inputs, update: bool) -> Outputs:
    path = f"auth/{i['backend']}/role/{i['roleName']}"
    a._call(
        "POST",
        path,
        {
            "bound_service_account_names": i.get("boundServiceAccountNames", []),
            "bound_service_account_namespaces": i.get("boundServiceAccountNamespaces", []),
            "audience": i.get("audience", ""),
            "token_policies": i.get("tokenPolicies", []),
            "token_no_default_policy": bool(i.get("tokenNoDefaultPolicy", False)),
            "token_ttl": int(i.get("tokenTtl", 0)),
            "token_max_ttl": int(i.get("tokenMaxTtl", 0)),
        },
    )
    return {"id": path}


APPLY: dict[str, Callable[[OpenBaoApplier, Inputs, bool], Outputs]] = {
    "vault:index/mount:Mount": _mount,
    "vault:pkiSecret/secretBackendConfigUrls:SecretBackendConfigUrls": _config_urls,
    "vault:pkiSecret/secretBackendKey:SecretBackendKey": _key,
    "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert": _root_cert,
    "vault:pkiSecret/secretBackendConfigIssuers:SecretBackendConfigIssuers": _config_issuers,
    "vault:index/policy:Policy": _policy,
    "vault:index/authBackend:AuthBackend": _auth_backend,
    "vault:appRole/authBackendRole:AuthBackendRole": _role,
    "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId": _secret_id,
    "vault:index/token:Token": _token,
    "vault:kubernetes/authBackendConfig:AuthBackendConfig": _kubernetes_config,
    "vault:kubernetes/authBackendRole:AuthBackendRole": _kubernetes_role,
}

# What the provider does on delete. A root cert's delete removes its issuer only (its key stays: the key is
# a resource of its own); the default-issuer setting has nothing to delete.
DELETE: dict[str, Callable[[OpenBaoApplier, Inputs, Outputs], Any]] = {
    "vault:index/mount:Mount": lambda a, i, o: a._call("DELETE", f"sys/mounts/{i['path']}"),
    "vault:pkiSecret/secretBackendConfigUrls:SecretBackendConfigUrls": lambda a, i, o: None,
    "vault:pkiSecret/secretBackendKey:SecretBackendKey": lambda a, i, o: a._call("DELETE", o["id"]),
    "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert": lambda a, i, o: a._call("DELETE", o["id"]),
    "vault:pkiSecret/secretBackendConfigIssuers:SecretBackendConfigIssuers": lambda a, i, o: None,
    "vault:index/policy:Policy": lambda a, i, o: a._call("DELETE", f"sys/policies/acl/{i['name']}"),
    "vault:index/authBackend:AuthBackend": lambda a, i, o: a._call("DELETE", f"sys/auth/{i['path']}"),
    "vault:appRole/authBackendRole:AuthBackendRole": lambda a, i, o: a._call("DELETE", o["id"]),
    "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId": lambda a, i, o: a._call(
        "POST",
        f"auth/{i['backend']}/role/{i['roleName']}/secret-id-accessor/destroy",
        {"secret_id_accessor": o["accessor"]},
    ),
    "vault:index/token:Token": lambda a, i, o: a._call("POST", "auth/token/revoke-accessor", {"accessor": o["id"]}),
    # The provider's delete of a Kubernetes auth config removes nothing (the mount's delete does).
    "vault:kubernetes/authBackendConfig:AuthBackendConfig": lambda a, i, o: None,
    "vault:kubernetes/authBackendRole:AuthBackendRole": lambda a, i, o: a._call("DELETE", o["id"]),
}
