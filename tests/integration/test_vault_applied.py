"""L2: Vault's semantics of what the program registers, applied to a real OpenBao by the test applier.

The Vault-only program (clusterMode none, vaultMode external) runs under the
applier (``tests/integration/vault_applier.py``: the API calls the Terraform
Vault provider makes, against a real ``bao server -dev`` on loopback). Then the
result is checked as cert-manager and Linkerd use it: the mount and its tuning,
each anchor as OpenBao generated and holds it, the credential signing the
identity issuer's CSR at the sign path and nothing else, and each rotation
phase's effect in Vault. The real provider's own behaviour (its diffs,
replacements, what a delete removes) is tested where it runs: L3.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from stack import config
from tests.harness import SECRET_KEYS
from tests.integration.openbao import Client, VaultError, login_approle
from tests.integration.signing import refused, sign_as_cert_manager
from tests.integration.vault_applier import OpenBaoApplier, vault_only

pytestmark = pytest.mark.integration


@pytest.fixture(params=["approle", "token"])
def applied(request, openbao):
    cfg = vault_only(openbao, credential=request.param)
    applier = OpenBaoApplier(openbao.root())
    rendered = applier.up(cfg)
    yield cfg, applier, rendered
    applier.destroy()


def signer(openbao, outputs: dict, consumer: str | None = None) -> Client:
    """A client logged in as cert-manager is, with the credential the stack exported."""
    facts = outputs["consumers"][consumer] if consumer else outputs
    secrets = outputs["consumerSecrets"][consumer] if consumer else outputs
    if outputs["credentialKind"] == "approle":
        auth = login_approle(openbao.root(), facts["approleMount"], facts["approleRoleId"], secrets["approleSecretId"])
        assert auth["policies"] == [outputs["signerPolicy"]]  # no default policy
        return Client(openbao.address, auth["client_token"])
    return Client(openbao.address, secrets["vaultToken"])


def anchor_in_vault(openbao, mount: str, name: str) -> x509.Certificate:
    pem = openbao.root().read(f"{mount}/issuer/{name}")["data"]["certificate"]
    return x509.load_pem_x509_certificate(pem.encode())


def test_the_mount_is_tuned_and_points_its_urls_at_the_cluster_address(applied, openbao):
    cfg, _applier, _rendered = applied
    mount = openbao.root().read(f"sys/mounts/{cfg.vault.pki_path}")["data"]
    assert mount["type"] == "pki"
    assert mount["config"]["max_lease_ttl"] == cfg.vault.max_lease_ttl.seconds
    urls = openbao.root().read(f"{cfg.vault.pki_path}/config/urls")["data"]
    assert urls["issuing_certificates"] == [f"{openbao.address}/v1/{cfg.vault.pki_path}/ca"]
    assert urls["crl_distribution_points"] == [f"{openbao.address}/v1/{cfg.vault.pki_path}/crl"]


def test_the_anchor_is_a_p256_ca_generated_and_kept_inside_openbao(applied, openbao):
    cfg, applier, rendered = applied
    anchor = anchor_in_vault(openbao, cfg.vault.pki_path, "linkerd-trust-anchor")
    assert anchor == x509.load_pem_x509_certificate(rendered.outputs["trustAnchorPem"].encode())
    assert anchor.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = anchor.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    key = anchor.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert anchor.subject.rfc4514_string() == f"CN={cfg.pki.anchor_common_name}"
    lifetime = anchor.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert (
        dt.timedelta(seconds=cfg.pki.anchor_ttl.seconds - 120)
        < lifetime
        <= dt.timedelta(seconds=cfg.pki.anchor_ttl.seconds)
    )
    # The key is Vault's: it is listed in the mount, and nothing the applier was answered holds it.
    keys = openbao.root().request("LIST", f"{cfg.vault.pki_path}/keys")["data"]["key_info"]
    assert [k["key_name"] for k in keys.values()] == ["linkerd-trust-anchor"]
    assert "PRIVATE KEY" not in repr(applier.made) and "PRIVATE KEY" not in repr(rendered.outputs)
    assert f"POST {cfg.vault.pki_path}/keys/generate/internal" in applier.calls


def test_the_credential_signs_the_identity_issuer_at_the_sign_path_and_it_chains_to_the_anchor(applied, openbao):
    _cfg, _applier, rendered = applied
    out = rendered.outputs
    issuer, _key = sign_as_cert_manager(signer(openbao, out), out["signPath"])
    anchor = x509.load_pem_x509_certificate(out["trustAnchorPem"].encode())
    issuer.verify_directly_issued_by(anchor)
    assert issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_the_credential_is_refused_everywhere_else(applied, openbao):
    cfg, _applier, rendered = applied
    out = rendered.outputs
    attempts = refused(signer(openbao, out), cfg.vault.pki_path, out.get("approleMount"))
    assert len(attempts) >= 5 and all(attempts.values()), {k: v for k, v in attempts.items() if not v}


def test_the_policy_is_exactly_the_handed_over_requirements(applied, openbao):
    _cfg, _applier, rendered = applied
    needs = rendered.outputs["vaultRequirements"]
    policy = openbao.root().read(f"sys/policies/acl/{needs['policy']['name']}")["data"]["policy"]
    assert policy == needs["policy"]["hcl"]


def test_a_rotation_has_in_vault_the_effect_each_phase_intends(openbao):
    base = vault_only(openbao)
    mount = base.vault.pki_path
    applier = OpenBaoApplier(openbao.root())
    try:
        first = applier.up(base).outputs
        old = anchor_in_vault(openbao, mount, "linkerd-trust-anchor")

        def phase(anchors: str, signing: str) -> dict:
            raw = {"anchors": anchors, "signingAnchor": signing}
            return applier.up(config.parse({**_raw(base, openbao), **raw}, secret_keys=SECRET_KEYS)).outputs

        # add: a second anchor generated in the mount; the old one still signs and is still the default.
        added = phase("[linkerd-trust-anchor, anchor-2]", "linkerd-trust-anchor")
        issuers = openbao.root().request("LIST", f"{mount}/issuers")["data"]["key_info"]
        assert sorted(i["issuer_name"] for i in issuers.values()) == ["anchor-2", "linkerd-trust-anchor"]
        assert added["signPath"] == first["signPath"] == f"{mount}/issuer/linkerd-trust-anchor/sign-intermediate"
        assert _default_issuer_name(openbao, mount) == "linkerd-trust-anchor"
        issuer, _ = sign_as_cert_manager(signer(openbao, added), added["signPath"])
        issuer.verify_directly_issued_by(old)

        # switch: the new anchor signs, at its own path only; it becomes the default.
        switched = phase("[linkerd-trust-anchor, anchor-2]", "anchor-2")
        new = anchor_in_vault(openbao, mount, "anchor-2")
        assert switched["signPath"] == f"{mount}/issuer/anchor-2/sign-intermediate"
        assert _default_issuer_name(openbao, mount) == "anchor-2"
        client = signer(openbao, switched)
        issuer, _ = sign_as_cert_manager(client, switched["signPath"], anchor_cn=base.pki.anchor_common_name)
        issuer.verify_directly_issued_by(new)
        with pytest.raises(VaultError) as err:
            sign_as_cert_manager(client, first["signPath"])
        assert err.value.status == 403

        # retire: the old issuer and its key leave the mount; the new anchor is untouched.
        retired = phase("[anchor-2]", "anchor-2")
        issuers = openbao.root().request("LIST", f"{mount}/issuers")["data"]["key_info"]
        assert [i["issuer_name"] for i in issuers.values()] == ["anchor-2"]
        keys = openbao.root().request("LIST", f"{mount}/keys")["data"]["key_info"]
        assert [k["key_name"] for k in keys.values()] == ["anchor-2"]
        assert anchor_in_vault(openbao, mount, "anchor-2") == new
        assert retired["trustAnchorPem"] == switched["trustAnchors"]["anchor-2"]["pem"]
        sign_as_cert_manager(signer(openbao, retired), retired["signPath"])
    finally:
        applier.destroy()
    with pytest.raises(VaultError) as err:
        openbao.root().read(f"sys/mounts/{mount}")
    assert err.value.status == 400 and "No secret engine mount" in str(err.value)


def test_each_consumer_signs_with_its_own_credential_and_one_revoked_leaves_the_others(openbao):
    cfg = vault_only(openbao, consumers="[east, west]")
    applier = OpenBaoApplier(openbao.root())
    try:
        out = applier.up(cfg).outputs
        for consumer in ("east", "west"):
            sign_as_cert_manager(signer(openbao, out, consumer), out["signPath"])
        east = out["consumers"]["east"]
        openbao.root().write(
            f"auth/{east['approleMount']}/role/cert-manager-east/secret-id/destroy",
            {"secret_id": out["consumerSecrets"]["east"]["approleSecretId"]},
        )
        with pytest.raises(VaultError) as err:
            signer(openbao, out, "east")
        assert err.value.status == 400 and "invalid" in str(err.value).lower()
        sign_as_cert_manager(signer(openbao, out, "west"), out["signPath"])
    finally:
        applier.destroy()


def _raw(cfg: config.StackConfig, openbao) -> dict[str, str]:
    return {
        "clusterMode": "none",
        "vaultMode": "external",
        "vaultAddress": openbao.address,
        "vaultToken": openbao.root_token,
        "pkiPath": cfg.vault.pki_path,
        "approleMount": cfg.credential.approle_mount,
    }


def _default_issuer_name(openbao, mount: str) -> str:
    default = openbao.root().read(f"{mount}/config/issuers")["data"]["default"]
    return openbao.root().read(f"{mount}/issuer/{default}")["data"]["issuer_name"]
