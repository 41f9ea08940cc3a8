"""L0: the cluster-only stack (vaultSide reference or provided) and the Vault-only stack's consumers, under mocks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from linkerd_vault_pki import names
from stack import config
from tests import harness
from tests.harness import (
    ANCHOR_PEM,
    MODES,
    VAULT_ONLY_STACK,
    Rendered,
    StackOutputs,
    cfg,
    make_ca,
    render,
    render_mode,
    vault_only_stack,
)

ROOT = Path(__file__).resolve().parents[2]
ROLE = "vault:appRole/authBackendRole:AuthBackendRole"
SECRET_ID = "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId"
PROVIDED = MODES["cluster-only+provided"]
REFERENCE = MODES["cluster-only+reference"]
NEW_PEM, _ = make_ca(common_name="root-2.linkerd.cluster.local")


def run_problems(rendered_call) -> list[str]:
    with pytest.raises(config.ConfigError) as err:
        rendered_call()
    return err.value.problems


def issuer_vault(r: Rendered) -> dict:
    return r.custom_resource("ClusterIssuer").inputs["spec"]["vault"]


def credential_secret(r: Rendered) -> harness.Registration:
    return r.one("kubernetes:core/v1:Secret")


# --- provided: a security team's Vault side, handed over in config ---------------------------------


def test_a_provided_vault_side_signs_at_the_given_path_with_the_given_credential():
    r = render_mode("cluster-only+provided")
    vault = issuer_vault(r)
    assert vault["path"] == PROVIDED["signPath"]
    assert vault["server"] == PROVIDED["vaultClusterAddress"]
    assert vault["auth"]["appRole"]["roleId"] == "handed-over-role-id"
    assert vault["auth"]["appRole"]["path"] == "linkerd-approle"
    secret = credential_secret(r)
    assert secret.inputs["stringData"] == {names.APPROLE_SECRET_KEY: "handed-over-secret-id"}
    assert secret.is_secret("stringData")
    anchors = r.one("kubernetes:core/v1:ConfigMap").inputs["data"]
    assert anchors == {names.anchor_key("linkerd-trust-anchor"): ANCHOR_PEM}
    assert r.custom_resource("ClusterIssuer").inputs["metadata"]["name"] == "vault-linkerd-trust-anchor"


def test_a_provided_token_credential_goes_to_the_token_secret():
    r = render_mode(
        "cluster-only+provided",
        credential="token",
        approleRoleId=None,
        approleSecretId=None,
        issuerToken="handed-over-token",
    )
    assert issuer_vault(r)["auth"] == {"tokenSecretRef": {"name": names.TOKEN_SECRET, "key": names.TOKEN_SECRET_KEY}}
    assert credential_secret(r).inputs["stringData"] == {names.TOKEN_SECRET_KEY: "handed-over-token"}
    assert credential_secret(r).is_secret("stringData")


def test_a_provided_stack_hands_the_security_team_exactly_what_vault_must_allow():
    r = render_mode("cluster-only+provided")
    needs = r.outputs["vaultRequirements"]
    assert needs["policy"]["hcl"] == (
        'path "pki/issuer/linkerd-trust-anchor/sign-intermediate" {\n  capabilities = ["update"]\n}\n'
    )
    assert needs["mount"] == {"path": "pki", "type": "pki", "minMaxLeaseTtlSeconds": 48 * 3600}
    role = needs["approleRole"]
    assert role["token_policies"] == [needs["policy"]["name"]] and role["token_no_default_policy"] is True
    assert role["token_ttl"] == role["token_max_ttl"] == 600
    assert "vaultRequirements" not in r.secret_outputs


def test_the_vault_side_that_makes_the_policy_outputs_the_same_requirements():
    """One source: what a stack that makes Vault's side applies is what a hand-made Vault is asked for."""
    made = render(cfg(**MODES["vault-only+external"]))
    policy = made.one("vault:index/policy:Policy")
    assert made.outputs["vaultRequirements"]["policy"] == {
        "name": policy.inputs["name"],
        "hcl": policy.inputs["policy"],
    }
    role = made.one(ROLE).inputs
    wanted = made.outputs["vaultRequirements"]["approleRole"]
    assert role["tokenTtl"] == wanted["token_ttl"] and role["tokenNoDefaultPolicy"] == wanted["token_no_default_policy"]
    assert role["secretIdTtl"] == wanted["secret_id_ttl"]


@pytest.mark.parametrize("mode", ["cluster-only+provided", "cluster-only+reference"])
def test_a_cluster_only_stack_never_imports_the_vault_sdk(mode, tmp_path):
    """Run in a fresh interpreter: the claim is about what a real `pulumi up` loads. The Vault-only stack it
    reads is rendered here, in this process (rendering it imports the Vault SDK)."""
    other = vault_only_stack()
    (tmp_path / "stack.json").write_text(json.dumps({"outputs": other.outputs, "secret": sorted(other.secret)}))
    code = (
        "import json, sys\n"
        "from tests.harness import MODES, VAULT_ONLY_STACK, StackOutputs, cfg, render\n"
        f"other = json.load(open({str(tmp_path / 'stack.json')!r}))\n"
        "stacks = {VAULT_ONLY_STACK: StackOutputs(other['outputs'], set(other['secret']))}\n"
        f"render(cfg(**MODES[{mode!r}]), stacks=stacks)\n"
        "sdks = ('pulumi_vault', 'pulumi_docker', 'pulumi_command')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in sdks)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", out.stdout


# --- reference: a Vault-only stack's outputs ----------------------------------------------------------


def test_a_referenced_vault_side_is_read_from_the_vault_only_stack_with_this_consumers_credential():
    vault_only = vault_only_stack()
    r = render_mode("cluster-only+reference")
    [ref] = r.of_type("pulumi:pulumi:StackReference")
    assert ref.read_id == VAULT_ONLY_STACK or ref.inputs.get("name") == VAULT_ONLY_STACK
    vault = issuer_vault(r)
    assert vault["path"] == vault_only.outputs["signPath"]
    assert vault["server"] == vault_only.outputs["vaultClusterAddress"]
    east = vault_only.outputs["consumers"]["east"]
    assert vault["auth"]["appRole"] == {
        "path": east["approleMount"],
        "roleId": east["approleRoleId"],
        "secretRef": {"name": names.APPROLE_SECRET, "key": names.APPROLE_SECRET_KEY},
    }
    secret = credential_secret(r)
    assert secret.inputs["stringData"] == {
        names.APPROLE_SECRET_KEY: vault_only.outputs["consumerSecrets"]["east"]["approleSecretId"]
    }
    assert secret.is_secret("stringData")
    assert r.outputs["trustAnchorPem"] == vault_only.outputs["trustAnchorPem"]


def test_each_consumer_of_a_vault_only_stack_has_a_role_and_secret_id_of_its_own():
    r = render(cfg(**MODES["vault-only+external"], consumers="[east, {name: west, secretIdVersion: 3}]"))
    assert sorted(x.inputs["roleName"] for x in r.of_type(ROLE)) == ["cert-manager-east", "cert-manager-west"]
    versions = {x.inputs["roleName"]: json.loads(x.inputs["metadata"])["version"] for x in r.of_type(SECRET_ID)}
    assert versions == {"cert-manager-east": "1", "cert-manager-west": "3"}
    assert set(r.outputs["consumers"]) == {"east", "west"}
    assert "consumerSecrets" in r.secret_outputs and "consumers" not in r.secret_outputs
    assert r.outputs["consumers"]["east"]["approleRoleId"] != r.outputs["consumers"]["west"]["approleRoleId"]
    assert "approleSecretId" not in r.outputs  # no flat credential beside the consumers' own


def test_two_cluster_stacks_on_one_vault_only_stack_get_different_credentials():
    stacks = {VAULT_ONLY_STACK: vault_only_stack()}
    east = render(cfg(**REFERENCE), stacks=stacks)
    west = render(cfg(**{**REFERENCE, "vaultConsumer": "west"}), stacks=stacks)
    role = [issuer_vault(r)["auth"]["appRole"]["roleId"] for r in (east, west)]
    secret = [credential_secret(r).inputs["stringData"][names.APPROLE_SECRET_KEY] for r in (east, west)]
    assert role[0] != role[1] and secret[0] != secret[1]
    assert issuer_vault(east)["path"] == issuer_vault(west)["path"]


def test_a_referenced_token_credential_stays_secret():
    stacks = {VAULT_ONLY_STACK: vault_only_stack(credential="token")}
    r = render(cfg(**REFERENCE), stacks=stacks)
    assert "tokenSecretRef" in issuer_vault(r)["auth"]
    assert credential_secret(r).is_secret("stringData")


def test_a_vault_only_stack_without_consumers_is_consumed_through_its_flat_credential():
    stacks = {VAULT_ONLY_STACK: StackOutputs.of(render(cfg(**MODES["vault-only+external"])))}
    r = render(cfg(**{k: v for k, v in REFERENCE.items() if k != "vaultConsumer"}), stacks=stacks)
    assert issuer_vault(r)["auth"]["appRole"]["roleId"] == harness.ROLE_ID


@pytest.mark.parametrize(
    ("settings", "stacks", "key", "says"),
    [
        ({}, {}, None, None),  # no such stack: the engine's read fails (see the test below)
        ({"vaultConsumer": "north"}, None, "vaultConsumer", "not one of the consumers"),
        ({"vaultConsumer": None}, None, "vaultConsumer", "is required"),
    ],
)
def test_a_reference_that_cannot_serve_names_the_key(settings, stacks, key, says):
    if key is None:
        return
    raw = {k: v for k, v in {**REFERENCE, **settings}.items() if v is not None}
    found = run_problems(lambda: render(cfg(**raw), stacks={VAULT_ONLY_STACK: vault_only_stack()}))
    assert len(found) == 1 and found[0].startswith(f"{key}:") and says in found[0], found


def test_a_reference_to_a_stack_that_is_not_a_vault_only_stack_names_it():
    # A cluster stack's outputs: no anchors' rotation record of a Vault side, no credential.
    cluster_stack = StackOutputs({"clusterIssuer": "vault-x", "kubeconfig": "..."}, {"kubeconfig"})
    found = run_problems(lambda: render(cfg(**REFERENCE), stacks={VAULT_ONLY_STACK: cluster_stack}))
    assert len(found) == 1 and found[0].startswith("vaultStack:") and "has no output" in found[0], found
    assert "anchorRotation" in found[0] and "signPath" in found[0]


def test_a_reference_to_a_missing_stack_fails_before_anything_is_registered():
    partial = Rendered()
    with pytest.raises(Exception, match="unknown stack"):
        render(cfg(**REFERENCE), stacks={}, partial=partial)
    assert [r.type for r in partial.resources] == []


# --- the rotation, seen from the cluster side ------------------------------------------------------


def deployed(*anchors: str, signing: str) -> dict:
    """What the cluster stack's last `up` left: its rotation and the anchors its bundle carried."""
    return {
        "anchorRotation": {"anchors": list(anchors), "signing": signing},
        "trustAnchors": {a: {"pem": harness.ANCHOR_PEM, "signing": a == signing} for a in anchors},
    }


def test_the_bundle_follows_the_vault_only_stacks_anchors_and_the_issuer_its_signer():
    stacks = {VAULT_ONLY_STACK: vault_only_stack(anchors="[old, new]", signingAnchor="old")}
    added = render(cfg(**REFERENCE), stacks=stacks, deployed=deployed("old", signing="old"))
    assert set(added.one("kubernetes:core/v1:ConfigMap").inputs["data"]) == {"old.crt", "new.crt"}
    assert added.custom_resource("ClusterIssuer").inputs["metadata"]["name"] == "vault-old"
    stacks = {VAULT_ONLY_STACK: vault_only_stack(anchors="[old, new]", signingAnchor="new")}
    switched = render(cfg(**REFERENCE), stacks=stacks, deployed=deployed("old", "new", signing="old"))
    assert switched.custom_resource("ClusterIssuer").inputs["metadata"]["name"] == "vault-new"
    cert = switched.custom_resource("Certificate").inputs["spec"]["issuerRef"]["name"]
    assert cert == "vault-new"
    assert issuer_vault(switched)["path"].endswith("/issuer/new/sign-intermediate")


def test_a_cluster_that_never_carried_the_new_anchor_refuses_to_switch_to_it():
    """The Vault-only stack added and switched while this cluster was not `up`ped: its proxies never trusted it."""
    stacks = {VAULT_ONLY_STACK: vault_only_stack(anchors="[old, new]", signingAnchor="new")}
    partial = Rendered()
    found = run_problems(
        lambda: render(cfg(**REFERENCE), stacks=stacks, deployed=deployed("old", signing="old"), partial=partial)
    )
    assert len(found) == 1 and found[0].startswith("vaultStack:"), found
    assert "new was not in the trust bundle of the last `up`" in found[0]
    assert partial.resources == []


def sign_path(anchor: str) -> str:
    """The hand-made side's sign path for ``anchor``: its own issuer's (the config rules require it)."""
    return f"pki/issuer/{anchor}/sign-intermediate"


def test_a_provided_rotation_goes_in_order_too():
    pems = json.dumps({"old": ANCHOR_PEM, "new": NEW_PEM})
    found = run_problems(
        lambda: render(
            cfg(**{**PROVIDED, "anchorPems": pems, "signingAnchor": "new", "signPath": sign_path("new")}),
            deployed=deployed("old", signing="old"),
        )
    )
    assert len(found) == 1 and found[0].startswith("signingAnchor: new was not in the trust bundle"), found
    added = render(
        cfg(**{**PROVIDED, "anchorPems": pems, "signingAnchor": "old", "signPath": sign_path("old")}),
        deployed=deployed("old", signing="old"),
    )
    assert set(added.one("kubernetes:core/v1:ConfigMap").inputs["data"]) == {"old.crt", "new.crt"}
    assert added.outputs["anchorRotation"] == {"anchors": ["old", "new"], "signing": "old"}


def test_the_token_a_stack_makes_is_the_token_it_asks_a_security_team_for():
    made = render(cfg(**MODES["vault-only+external"], credential="token"))
    token = made.one("vault:index/token:Token").inputs
    wanted = made.outputs["vaultRequirements"]["token"]
    assert wanted["policies"] == token["policies"] == [made.outputs["vaultRequirements"]["policy"]["name"]]
    assert (token["noParent"], token["noDefaultPolicy"], token["renewable"], token["ttl"]) == (
        wanted["no_parent"], wanted["no_default_policy"], wanted["renewable"], wanted["ttl"],
    )  # fmt: skip
    assert token["ttl"] == "2761200s"  # tokenTtl 767h, as Vault takes a TTL
