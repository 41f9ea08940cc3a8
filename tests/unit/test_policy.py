"""The policy pack's rules: the real program passes in every mode; each rule catches what it is for."""

from __future__ import annotations

import copy

import pytest

from policy import rules
from tests.harness import MODES, cfg, render, render_mode


def program(rendered) -> list[rules.Resource]:
    return [rules.Resource(r.type, r.name, r.inputs, r.protect) for r in rendered.resources if not r.read_id]


@pytest.fixture(scope="module", params=[*MODES, "token"])
def rendered(request):
    return render(cfg(credential="token")) if request.param == "token" else render_mode(request.param)


def test_the_program_breaks_no_rule_in_any_mode(rendered):
    assert rules.violations(program(rendered)) == {}


def broken(rendered, resource_type: str, mutate) -> dict[str, list[str]]:
    resources = program(rendered)
    for i, r in enumerate(resources):
        if r.type == resource_type:
            props = copy.deepcopy(dict(r.props))
            mutate(props)
            resources[i] = rules.Resource(r.type, r.name, props, r.protect)
            break
    else:
        raise AssertionError(f"the program has no {resource_type} to break")
    return rules.violations(resources)


@pytest.fixture(scope="module")
def laptop():
    return render(cfg())


def set_policy(text):
    return lambda p: p.__setitem__("policy", text)


@pytest.mark.parametrize(
    ("case", "resource_type", "mutate", "says"),
    [
        ("sudo", rules.VAULT_POLICY, set_policy('path "pki/root/sign-intermediate" { capabilities = ["update", "sudo"] }'), 'grant exactly ["update"]'),
        ("glob", rules.VAULT_POLICY, set_policy('path "pki*" { capabilities = ["update"] }'), "is a glob"),
        ("other path", rules.VAULT_POLICY, set_policy('path "pki/root/generate/internal" { capabilities = ["update"] }'), "not a sign-intermediate path"),
        ("second path", rules.VAULT_POLICY, set_policy('path "pki/root/sign-intermediate" { capabilities = ["update"] }\npath "sys/mounts" { capabilities = ["read"] }'), 'path "sys/mounts"'),
        ("exported key", rules.ROOT_CERT, lambda p: p.__setitem__("type", "exported"), "generated inside Vault"),
        ("existing without its key", rules.ROOT_CERT, lambda p: p.pop("keyRef"), "generated inside Vault"),
        ("exported anchor key", rules.PKI_KEY, lambda p: p.__setitem__("type", "exported"), "generated inside Vault"),
        ("RSA anchor key", rules.PKI_KEY, lambda p: p.update(keyType="rsa", keyBits=2048), "ECDSA P-256"),
        ("RSA anchor", rules.ROOT_CERT, lambda p: p.update(keyType="rsa", keyBits=2048), "ECDSA P-256"),
        ("issuer not a CA", rules.CERTIFICATE, lambda p: p["spec"].__setitem__("isCA", False), "must be a CA"),
        ("RSA issuer", rules.CERTIFICATE, lambda p: p["spec"]["privateKey"].update(algorithm="RSA", size=2048), "ECDSA P-256"),
        ("renew storm", rules.CERTIFICATE, lambda p: p["spec"].__setitem__("renewBefore", "1m"), "at least 5m"),
        ("issuer outlives anchor", rules.CERTIFICATE, lambda p: p["spec"].__setitem__("duration", "3000h"), "shorter-lived than the anchor"),
        ("anchor beyond mount", rules.ROOT_CERT, lambda p: p.__setitem__("ttl", "99999999s"), "exceeds its mount's max lease TTL"),
        ("no selector", rules.BUNDLE, lambda p: p["spec"]["target"].pop("namespaceSelector"), "target namespaces by label"),
        ("secret source", rules.BUNDLE, lambda p: p["spec"]["sources"].append({"secret": {"name": "linkerd-identity-issuer", "key": "ca.crt"}}), "is a Secret"),
        ("unpinned chart", rules.RELEASE, lambda p: p.__setitem__("version", "~1.21"), "not pinned to an exact version"),
        ("no chart version", rules.RELEASE, lambda p: p.pop("version"), "not pinned"),
    ],
)  # fmt: skip
def test_each_rule_catches_what_it_is_for(laptop, case, resource_type, mutate, says):
    found = broken(laptop, resource_type, mutate)
    assert any(says in problem for problems in found.values() for problem in problems), found


def test_a_token_without_a_lifetime_is_flagged():
    token_program = render(cfg(credential="token"))
    found = broken(token_program, rules.TOKEN, lambda p: p.update(ttl="0s", period="768h"))
    assert any("no fixed lifetime" in p for problems in found.values() for p in problems), found


@pytest.mark.parametrize(
    ("text", "expected"), [("48h", 172800), ("1h30m", 5400), ("3600s", 3600), (7200, 7200), ("2d", None)]
)
def test_durations_are_read_as_vault_and_cert_manager_write_them(text, expected):
    assert rules.seconds(text) == expected


def test_one_table_names_every_rule_once_and_each_reads_a_type_the_program_makes():
    names = [rule.name for rule in rules.RULES] + [rules.STACK_RULE[0], *(name for name, _ in rules.ROOT_RULES)]
    assert len(names) == len(set(names))
    made = {r.type for mode in MODES for r in render_mode(mode).resources}
    made |= {r.type for r in render(cfg(credential="token")).resources}
    assert {rule.type for rule in rules.RULES} <= made


@pytest.mark.parametrize(
    "text", ["48h", "90m", "1h30m", "3600s", "1h1m1s", "30m1h", "1h1h", "2 days", "h", "", "1d", "5"]
)
def test_the_policy_pack_and_the_config_read_durations_with_one_grammar(text):
    """The pack imports the package's grammar; what it reads of a duration is what the config reads."""
    from stack.config import parse_duration

    config_reads = parse_duration(text)
    policy_reads = rules.seconds(text) if not text.isdigit() else None  # a bare number is the provider's seconds
    assert (config_reads.seconds if config_reads else None) == policy_reads, text


@pytest.fixture(scope="module")
def kubernetes_laptop():
    return render_mode("k3d+docker+kubernetes")


@pytest.mark.parametrize(
    ("case", "mutate", "says"),
    [
        ("any ServiceAccount", lambda p: p.update(boundServiceAccountNames=["*"]), "ServiceAccount names; bind exactly one"),
        ("two ServiceAccounts", lambda p: p["boundServiceAccountNames"].append("default"), "ServiceAccount names; bind exactly one"),
        ("any namespace", lambda p: p.update(boundServiceAccountNamespaces=["*"]), "namespaces; bind exactly one"),
        ("no namespace", lambda p: p.pop("boundServiceAccountNamespaces"), "namespaces; bind exactly one"),
        ("namespaces by label", lambda p: p.update(boundServiceAccountNamespaceSelector='{"matchLabels": {"a": "b"}}'), "by label selector"),
        ("no audience", lambda p: p.pop("audience"), "checks no audience"),
        ("unbounded TTL", lambda p: p.pop("tokenMaxTtl"), "tokenMaxTtl (None) is not bounded"),
        ("a day's TTL", lambda p: p.update(tokenTtl=86400), "tokenTtl (86400) is not bounded"),
        ("periodic", lambda p: p.update(tokenPeriod=3600), "periodic tokens"),
    ],
)  # fmt: skip
def test_a_kubernetes_role_binds_one_service_account_in_one_namespace_with_bounded_ttls(
    kubernetes_laptop, case, mutate, says
):
    found = broken(kubernetes_laptop, rules.KUBERNETES_ROLE, mutate)
    assert any(says in problem for problems in found.values() for problem in problems), found


# --- the root of trust: protected, no token, not near its end ------------------------------------------------


def test_an_unprotected_mount_or_signing_anchor_outside_the_laptop_is_refused():
    resources = program(render_mode("existing+external"))
    for guarded in (
        "linkerd-pki-mount",
        "linkerd-pki-anchor-linkerd-trust-anchor",
        "linkerd-pki-anchor-key-linkerd-trust-anchor",
    ):
        broken_program = [rules.Resource(r.type, r.name, r.props, r.protect and r.name != guarded) for r in resources]
        (problem,) = rules.root_of_trust_protected(broken_program)
        assert problem.startswith(f"{guarded} is not protected") and "deletionProtection" in problem
        assert rules.violations(broken_program)["stack"] == [problem]
    # The laptop's dev container is throwaway: nothing needs protecting there.
    assert rules.root_of_trust_protected(program(render(cfg()))) == []


def test_a_token_outside_the_laptop_is_advised_against():
    external = program(render(cfg(**MODES["existing+external"], credential="token")))
    (advice,) = rules.no_token_outside_the_laptop(external)
    assert "prefer credential approle or kubernetes" in advice
    assert rules.no_token_outside_the_laptop(program(render(cfg(credential="token")))) == []
    assert rules.no_token_outside_the_laptop(program(render_mode("existing+external"))) == []


def test_a_signing_anchor_past_two_thirds_of_its_life_is_refused():
    import datetime as dt

    from tests.harness import make_ca

    resources = program(render_mode("existing+external"))
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    pem, _ = make_ca(start=start, days=90)  # what the preview shows of the anchor that exists: its certificate

    def with_certificate(r):
        props = {**r.props, "certificate": pem} if r.type == rules.ROOT_CERT else r.props
        return rules.Resource(r.type, r.name, props, r.protect)

    shown = [with_certificate(r) for r in resources]
    assert rules.signing_anchor_life(shown, now=start + dt.timedelta(days=59)) == []
    (problem,) = rules.signing_anchor_life(shown, now=start + dt.timedelta(days=61))
    assert "less than a third of its lifetime left" in problem and "linkerd-trust-anchor" in problem
