"""L2: a trust-anchor rotation through the real engine and pulumi-vault provider, against OpenBao.

One stack goes through Linkerd's order, one `pulumi up` a phase: add (a second
anchor generated in the same mount), switch (the credential signs with the new
anchor, at its own issuer path, and only there), retire (the old issuer and its
key leave Vault; the new anchor is untouched). Between phases the steps that
would break the mesh are tried and refused, with nothing changed in Vault.
Each phase's `up` time is printed (run with -s to see it).
"""

from __future__ import annotations

import json
import time

import pytest
from cryptography import x509
from pulumi import automation as auto

from tests.integration.openbao import Client, VaultError
from tests.integration.provider_stacks import credential_client, deploy
from tests.integration.signing import sign_as_cert_manager
from tests.integration.stacks import Stack, new_stack

# L3: the real pulumi-vault provider (and the language host), which no registry serves: run by the L3 workflow.
pytestmark = [pytest.mark.integration, pytest.mark.l3]


def issuers(root: Client, path: str) -> dict[str, dict]:
    """The mount's issuers by name, with their key ids; and the keys left in the mount."""
    found = {}
    for issuer_id in root.request("LIST", f"{path}/issuers")["data"]["keys"]:
        data = root.read(f"{path}/issuer/{issuer_id}")["data"]
        found[data["issuer_name"]] = data
    return found


def keys(root: Client, path: str) -> set[str]:
    try:
        return set(root.request("LIST", f"{path}/keys")["data"]["keys"])
    except VaultError as exc:
        if exc.status == 404:  # no key left
            return set()
        raise


def timed_up(stack: Stack, phase: str, timings: dict[str, float], printed: list[str] | None = None) -> dict:
    """One phase's `up`, timed; then nothing left to do: a no-op preview, a refresh without drift."""
    started = time.monotonic()
    result = stack.stack.up(on_output=(printed.append if printed is not None else lambda _line: None))
    timings[phase] = time.monotonic() - started
    stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
    stack.stack.refresh(expect_no_changes=True, on_output=lambda _line: None)
    return {key: out.value for key, out in result.outputs.items()}


def refused_up(stack: Stack, settings: dict[str, str], says: str) -> str:
    """`up` with these settings fails before touching anything, saying ``says``; the config is put back."""
    current = {k.split(":", 1)[1]: v.value for k, v in stack.stack.get_all_config().items()}
    before = {k: current[k] for k in settings if k in current}
    stack.configure(settings)
    with pytest.raises(auto.CommandError) as failed:
        stack.stack.up(on_output=lambda _line: None)
    for key in settings:
        if key in before:
            stack.configure({key: before[key]})
        else:
            stack.stack.remove_config(key)
    message = str(failed.value)
    assert says in message, message[-2000:]
    return message


def signs_with(client: Client, outputs: dict, anchor_name: str) -> x509.Certificate:
    """The credential signs at the stack's sign path, and the issuer chains to ``anchor_name``."""
    anchor = x509.load_pem_x509_certificate(outputs["trustAnchors"][anchor_name]["pem"].encode())
    issuer, _ = sign_as_cert_manager(client, outputs["signPath"])
    issuer.verify_directly_issued_by(anchor)
    return anchor


def test_add_switch_retire_one_up_each(engine, openbao, tmp_path):
    timings: dict[str, float] = {}
    with new_stack(engine, tmp_path) as stack:
        started = time.monotonic()
        first = deploy(stack, openbao, anchors=json.dumps(["a1"]))
        timings["first up"] = time.monotonic() - started
        root, path = openbao.root(), first.pki_path
        out = first.outputs
        assert out["anchorRotation"] == {"anchors": ["a1"], "signing": "a1"}
        assert out["signPath"] == f"{path}/issuer/a1/sign-intermediate"
        client, _ = credential_client(first, openbao)
        a1 = signs_with(client, out, "a1")

        # Adding and switching in one step: the proxies would not trust the issuer's new anchor yet.
        refused_up(stack, {"anchors": "a1,a2", "signingAnchor": "a2"}, "signingAnchor: a2 was not in the trust bundle")
        assert list(issuers(root, path)) == ["a1"]

        # add (with a new anchorTtl, which the live a1 keeps out of and the new a2 gets)
        stack.configure({"anchors": "[a1, a2]", "anchorTtl": "2000h"})  # as docs/operations.md writes it
        printed: list[str] = []
        added = timed_up(stack, "add", timings, printed)
        assert "anchorTtl: 2000h applies to anchors generated from now on; a1 keeps its lifetime" in "".join(printed)
        assert added["anchorRotation"] == {"anchors": ["a1", "a2"], "signing": "a1"}
        assert {n: a["signing"] for n, a in added["trustAnchors"].items()} == {"a1": True, "a2": False}
        assert added["trustAnchors"]["a1"]["pem"] == out["trustAnchorPem"]  # untouched
        a2 = x509.load_pem_x509_certificate(added["trustAnchors"]["a2"]["pem"].encode())
        assert abs((a2.not_valid_after_utc - a2.not_valid_before_utc).total_seconds() - 2000 * 3600) < 120
        assert abs((a1.not_valid_after_utc - a1.not_valid_before_utc).total_seconds() - 2160 * 3600) < 120
        in_vault = issuers(root, path)
        assert sorted(in_vault) == ["a1", "a2"] and in_vault["a1"]["key_id"] != in_vault["a2"]["key_id"]
        assert root.read(f"{path}/config/issuers")["data"]["default"] == in_vault["a1"]["issuer_id"]
        signs_with(client, added, "a1")  # still the old anchor
        with pytest.raises(VaultError) as denied:  # and only there
            sign_as_cert_manager(client, f"{path}/issuer/a2/sign-intermediate")
        assert denied.value.status == 403

        # Retiring the anchor that signs: the issuer in every proxy would lose its chain.
        refused_up(stack, {"anchors": json.dumps(["a2"]), "signingAnchor": "a2"}, "anchors: removes a1, which signs")
        assert sorted(issuers(root, path)) == ["a1", "a2"]

        # switch
        stack.configure({"signingAnchor": "a2"})
        switched = timed_up(stack, "switch", timings)
        assert switched["signPath"] == f"{path}/issuer/a2/sign-intermediate"
        assert switched["trustAnchorPem"] == added["trustAnchors"]["a2"]["pem"]
        signs_with(client, switched, "a2")
        with pytest.raises(VaultError) as denied:
            sign_as_cert_manager(client, f"{path}/issuer/a1/sign-intermediate")
        assert denied.value.status == 403
        assert root.read(f"{path}/config/issuers")["data"]["default"] == issuers(root, path)["a2"]["issuer_id"]

        # retire
        key_of_a1 = in_vault["a1"]["key_id"]
        stack.configure({"anchors": json.dumps(["a2"])})
        retired = timed_up(stack, "retire", timings)
        assert retired["anchorRotation"] == {"anchors": ["a2"], "signing": "a2"}
        assert list(retired["trustAnchors"]) == ["a2"]
        assert retired["trustAnchors"]["a2"]["pem"] == added["trustAnchors"]["a2"]["pem"]  # the new one untouched
        assert list(issuers(root, path)) == ["a2"]
        assert key_of_a1 not in keys(root, path) and keys(root, path) == {in_vault["a2"]["key_id"]}
        signs_with(client, retired, "a2")
    print("\nrotation at L2 (seconds per `up`): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


def test_calling_off_a_rotation_retires_the_added_anchor(engine, openbao, tmp_path):
    """add, then drop the added anchor before any switch: the signing one is untouched and signs on."""
    with new_stack(engine, tmp_path) as stack:
        first = deploy(stack, openbao, anchors="a1")
        stack.configure({"anchors": "a1,a2"})
        stack.up()
        stack.configure({"anchors": "a1"})
        back = stack.up()
        assert back["trustAnchorPem"] == first.outputs["trustAnchorPem"]
        assert list(issuers(openbao.root(), first.pki_path)) == ["a1"]
        client, _ = credential_client(first, openbao)
        signs_with(client, back, "a1")
