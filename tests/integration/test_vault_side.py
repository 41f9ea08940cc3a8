"""L2: the Vault side through the real engine and the real pulumi-vault provider, against OpenBao.

`pulumi up` of the program (clusterMode none, vaultMode external) against a
real `bao server -dev` on loopback; then the result is checked the way
cert-manager and Linkerd use it: log in with the credential the stack
exported, sign the identity issuer's CSR at the sign path, verify the chain
with `cryptography`, and be refused everywhere else. Idempotency (a no-op
preview, a refresh without drift), what the state holds, destroy, and faults
(OpenBao down, OpenBao restarted empty) are tested on the same stacks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from linkerd_vault_pki import x509 as anchor_x509
from linkerd_vault_pki.names import RFC3339
from tests.integration.openbao import Client, VaultError, login_approle
from tests.integration.provider_stacks import (
    VAULT_SIDE_RESOURCES,
    Deployed,
    credential_client,
    deploy,
    inventory,
    vault_side_settings,
)
from tests.integration.signing import IDENTITY, leaf_name, refused, sign_as_cert_manager, workload_certificate
from tests.integration.stacks import new_stack

# L3: the real pulumi-vault provider (and the language host), which no registry serves: run by the L3 workflow.
pytestmark = [pytest.mark.integration, pytest.mark.l3]

_paths = itertools.count()


# What the program creates on the Vault side, per credential kind (mount, URLs, the anchor's key and
# issuer, the default issuer, policy, and AppRole's auth mount, role and secret_id or the token): the
# count `up` must report.
@pytest.fixture(scope="module")
def vault_sides(engine, openbao, tmp_path_factory):
    """One deployed Vault side per credential kind, made on first use and destroyed after the module."""
    made: dict[str, Deployed] = {}
    with contextlib.ExitStack() as cleanup:

        def get(kind: str) -> Deployed:
            if kind not in made:
                stack = cleanup.enter_context(new_stack(engine, tmp_path_factory.mktemp(f"vault-side-{kind}")))
                made[kind] = deploy(stack, openbao, credential=kind)
            return made[kind]

        yield get


@pytest.fixture(params=["approle", "token"])
def deployed(request, vault_sides):
    return vault_sides(request.param)


@pytest.fixture
def token_deployed(vault_sides):
    return vault_sides("token")


def test_up_creates_the_mount_urls_anchor_and_policy(deployed, openbao):
    root = openbao.root()
    kind = deployed.outputs["credentialKind"]
    # Every resource plus the stack, the provider and the component: nothing more, nothing less.
    assert deployed.created == VAULT_SIDE_RESOURCES[kind] + 3, deployed.created
    path = deployed.pki_path
    assert root.read(f"sys/mounts/{path}/tune")["data"]["max_lease_ttl"] == 2160 * 3600
    urls = root.read(f"{path}/config/urls")["data"]
    assert urls["issuing_certificates"] == [f"{openbao.address}/v1/{path}/ca"]
    assert urls["crl_distribution_points"] == [f"{openbao.address}/v1/{path}/crl"]

    pem = deployed.outputs["trustAnchorPem"]
    anchor = x509.load_pem_x509_certificate(pem.encode())
    assert anchor.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "root.linkerd.cluster.local"
    assert anchor.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = anchor.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    key = anchor.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    lifetime = anchor.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=89, hours=23) < lifetime <= dt.timedelta(days=90)
    # Generated inside Vault: the output is the CA Vault serves, and no key came back.
    served = root.read(f"{path}/cert/ca")["data"]["certificate"]
    assert x509.load_pem_x509_certificate(served.encode()) == anchor
    assert "PRIVATE KEY" not in pem
    facts = anchor_x509.anchor_facts(pem)
    assert deployed.outputs["trustAnchorSha256"] == facts.sha256_fingerprint
    assert deployed.outputs["trustAnchorNotAfter"] == anchor.not_valid_after_utc.strftime(RFC3339)

    sign_path = f"{path}/issuer/linkerd-trust-anchor/sign-intermediate"
    assert deployed.outputs["signPath"] == sign_path
    policy = root.read(f"sys/policies/acl/{deployed.outputs['signerPolicy']}")["data"]["policy"]
    assert policy.split() == ["path", f'"{sign_path}"', "{", "capabilities", "=", '["update"]', "}"]
    # One issuer, named after the anchor, the mount's default, on a key of the same name.
    issuers = root.request("LIST", f"{path}/issuers")["data"]["keys"]
    issuer = root.read(f"{path}/issuer/linkerd-trust-anchor")["data"]
    assert issuers == [issuer["issuer_id"]] and root.read(f"{path}/config/issuers")["data"]["default"] == issuers[0]
    assert root.read(f"{path}/key/{issuer['key_id']}")["data"]["key_name"] == "linkerd-trust-anchor"


def test_the_credential_signs_the_identity_issuer_and_nothing_else(deployed, openbao):
    client, auth = credential_client(deployed, openbao)
    assert auth["policies"] == [deployed.outputs["signerPolicy"]]  # not even `default`
    if deployed.outputs["credentialKind"] == "approle":
        assert auth["lease_duration"] == 600
    else:
        assert auth["orphan"] is True and auth["renewable"] is True and auth["num_uses"] == 0
        assert abs(auth["creation_ttl"] - 767 * 3600) < 5

    issuer, issuer_key = sign_as_cert_manager(client, deployed.outputs["signPath"])
    anchor = x509.load_pem_x509_certificate(deployed.outputs["trustAnchorPem"].encode())
    issuer.verify_directly_issued_by(anchor)
    assert issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert issuer.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert issuer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == IDENTITY
    lifetime = issuer.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=47, minutes=58) < lifetime <= dt.timedelta(hours=48)

    # A proxy certificate from that issuer verifies against the anchor alone, as Linkerd's proxies check it.
    leaf = workload_certificate(issuer, issuer_key)
    verifier = PolicyBuilder().store(Store([anchor])).build_server_verifier(x509.DNSName(leaf_name(leaf)))
    assert verifier.verify(leaf, [issuer])[-1] == anchor

    outcome = refused(client, deployed.pki_path, deployed.outputs.get("approleMount"))
    assert all(outcome.values()), [what for what, ok in outcome.items() if not ok]


def test_after_up_a_preview_changes_nothing_and_refresh_finds_no_drift(deployed):
    preview = deployed.stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
    assert set(preview.change_summary) == {"same"}, preview.change_summary
    refresh = deployed.stack.stack.refresh(expect_no_changes=True, on_output=lambda _line: None)
    assert set(refresh.summary.resource_changes or {}) <= {"same"}, refresh.summary.resource_changes


def test_plain_stack_export_holds_secrets_only_as_ciphertext(deployed, openbao):
    exported = deployed.stack.cli("stack", "export").stdout
    secrets = [openbao.root_token]
    secrets += [deployed.outputs[k] for k in ("approleSecretId", "vaultToken") if k in deployed.outputs]
    assert all(secret and secret not in exported for secret in secrets)
    assert "PRIVATE KEY" not in exported
    # The secrets are there, encrypted: Pulumi's secret marker wraps each of them.
    assert exported.count('"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"') >= 2


def test_token_expiry_output_is_what_openbao_reports(token_deployed, openbao):
    deployed = token_deployed
    me = openbao.root().write("auth/token/lookup", {"token": deployed.outputs["vaultToken"]})["data"]
    by_accessor = openbao.root().write("auth/token/lookup-accessor", {"accessor": me["accessor"]})["data"]
    vault_says = dt.datetime.fromisoformat(by_accessor["expire_time"])
    we_say = dt.datetime.fromisoformat(deployed.outputs["vaultTokenExpiresAt"].replace("Z", "+00:00"))
    assert abs((vault_says - we_say).total_seconds()) <= 2, (vault_says, we_say)


def test_rotating_the_secret_id_revokes_the_old_one(engine, openbao, tmp_path):
    with new_stack(engine, tmp_path) as stack:
        first = deploy(stack, openbao)
        out = first.outputs
        stack.configure({"secretIdVersion": "2"})
        rotated = stack.up()
        assert rotated["approleSecretId"] != out["approleSecretId"]
        assert rotated["approleRoleId"] == out["approleRoleId"]
        assert login_approle(openbao.root(), out["approleMount"], out["approleRoleId"], rotated["approleSecretId"])
        with pytest.raises(VaultError) as err:
            login_approle(openbao.root(), out["approleMount"], out["approleRoleId"], out["approleSecretId"])
        assert err.value.status in (400, 403)


def test_the_refusal_check_catches_the_walkthroughs_wide_policy(token_deployed, openbao):
    """The control: the walkthrough's `pki*` policy with sudo would let the credential mint a new root."""
    deployed = token_deployed
    root = openbao.root()
    root.request(
        "PUT",
        "sys/policies/acl/walkthrough-wide",
        {"policy": 'path "pki*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'},
    )
    wide = root.write("auth/token/create", {"policies": ["walkthrough-wide"], "no_default_policy": True, "ttl": "5m"})
    try:
        outcome = refused(Client(openbao.address, wide["auth"]["client_token"]), deployed.pki_path, None)
        assert outcome["generate a new root"] is False
        assert outcome["delete the CA"] is False
    finally:
        root.request("DELETE", "sys/policies/acl/walkthrough-wide")


def test_destroy_leaves_nothing_of_ours(engine, openbao, tmp_path):
    before = inventory(openbao.root())
    with new_stack(engine, tmp_path) as stack:
        deployed = deploy(stack, openbao)
        during = inventory(openbao.root())
        assert f"{deployed.pki_path}/" in during["mounts"] - before["mounts"]
        assert f"{deployed.settings['approleMount']}/" in during["auth"] - before["auth"]
        assert deployed.outputs["signerPolicy"] in during["policies"] - before["policies"]
        stack.stack.destroy(on_output=lambda _line: None)
        assert inventory(openbao.root()) == before
        assert stack.resources() == []


def test_openbao_down_during_up_fails_clearly_and_the_next_up_converges(engine, own_openbao, tmp_path):
    from pulumi import automation as auto

    with new_stack(engine, tmp_path) as stack:
        stack.configure(vault_side_settings(own_openbao), {"vaultToken": own_openbao.root_token})
        own_openbao.stop()
        with pytest.raises(auto.CommandError) as err:
            stack.up()
        message = str(err.value)
        assert own_openbao.address in message and "connection refused" in message, message[-3000:]
        assert own_openbao.root_token not in message

        own_openbao.start()
        outputs = stack.up()
        assert own_openbao.root().read(f"{outputs['pkiMountPath']}/cert/ca")["data"]["certificate"]
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)


def test_openbao_restarted_empty_is_rebuilt_by_refresh_and_up(engine, own_openbao, tmp_path):
    """What a dev-mode Vault does after a restart: everything in memory is gone.

    The runbook's recovery (docs/operations.md)."""
    with new_stack(engine, tmp_path) as stack:
        first = deploy(stack, own_openbao)
        own_openbao.stop()
        own_openbao.start()  # same address and root token, empty memory
        assert f"{first.pki_path}/" not in inventory(own_openbao.root())["mounts"]

        stack.stack.refresh(on_output=lambda _line: None)
        rebuilt = stack.up()
        anchor = rebuilt["trustAnchorPem"]
        assert anchor != first.outputs["trustAnchorPem"]  # a new CA: nothing survived the restart
        assert own_openbao.root().read(f"{first.pki_path}/cert/ca")["data"]["certificate"].strip() == anchor.strip()
        client, _ = credential_client(Deployed(stack, first.settings, rebuilt, 0), own_openbao)
        issuer, _ = sign_as_cert_manager(client, rebuilt["signPath"])
        issuer.verify_directly_issued_by(x509.load_pem_x509_certificate(anchor.encode()))
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
