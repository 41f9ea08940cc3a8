"""The components as another team's program uses them: its own providers, no stack config, under mocks.

A platform team's program already has a Vault provider and a cluster's provider. It composes the Vault PKI
(anchors and least-privilege credential), the identity issuer and the trust bundle on a cluster that runs
cert-manager and trust-manager already, with the library's value types and nothing of the stack's config. Every
resource it registers must go through the provider it was handed: none may fall back to a default provider
(the operator's ambient VAULT_ADDR or kube context).
"""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest

from linkerd_vault_pki import provider
from tests.harness import render_program

ROOT = Path(__file__).resolve().parents[2]
# What the example's pulumi.Config() reads (the mocks' project is this one, so the keys are under its name).
CONFIG = {
    "vaultAddress": "https://vault.corp.example",
    "vaultToken": "s.corp-token",
    "kubeconfig": "{}",
}


def readme_blocks() -> list[str]:
    """The Python blocks of the README's "Use it from your own program": the Vault side, the cluster side."""
    section = (ROOT / "README.md").read_text().split("## Use it from your own program", 1)[1]
    return re.findall(r"```python\n(.*?)```", section.split("**From another Pulumi language.**", 1)[0], re.S)


def readme_program() -> str:
    """The README's Python program, as a user pastes it: both blocks, one after the other."""
    blocks = readme_blocks()
    assert len(blocks) == 2, "the README's program is two blocks: the Vault side, then the cluster side"
    return "\n".join(blocks)


@pytest.fixture
def their_config():
    pulumi.runtime.set_all_config(
        {f"linkerd-vault-pki:{key}": value for key, value in CONFIG.items()},
        secret_keys=["linkerd-vault-pki:vaultToken", "linkerd-vault-pki:kubeconfig"],
    )
    yield
    pulumi.runtime.set_all_config({}, secret_keys=[])


def their_program() -> None:
    exec(compile(readme_program(), "README.md", "exec"), {"__name__": "__main__"})


def check_providers(rendered) -> None:
    """Every resource registered went through the Vault or the cluster provider the program made."""
    custom = [r for r in rendered.resources if not r.type.startswith("linkerd-vault-pki:")]
    made = [r for r in custom if not r.type.startswith("pulumi:providers:")]
    assert len(made) >= 15, [r.type for r in made]  # the PKI, the credential, the issuer, the bundle
    for r in made:
        assert r.provider, f"{r.type} {r.name} has no provider: it would use a default one"
        urn, _, _id = r.provider.rpartition("::")  # a provider reference is its URN and its id
        used = urn.rsplit("::", 1)[-1]
        assert used == ("corp-vault" if r.type.startswith("vault:") else "corp-cluster"), (r.type, r.name, used)
    # Nothing of the stack: no Docker, no k3d, no Helm release (cert-manager and trust-manager are the team's).
    assert not [r for r in made if r.type.startswith(("docker:", "command:", "kubernetes:helm.sh"))]
    assert {"vault:index/mount:Mount", "kubernetes:cert-manager.io/v1:Certificate"} <= {r.type for r in made}


def test_the_readme_example_sends_every_resource_through_the_provider_it_was_handed(their_config):
    rendered = render_program(their_program)
    check_providers(rendered)
    assert set(rendered.outputs) == {"issuer", "rootsDigest"}
    # The anchor is protected from deletion, as the example says.
    assert [
        r.name
        for r in rendered.resources
        if r.protect and r.type == "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert"
    ]


def test_an_identity_issuer_without_one_credential_is_refused_naming_the_inputs():
    with pytest.raises(ValueError, match=r"exactly one of vaultToken, appRole, kubernetes \(given: none\)"):
        provider.login({})
    with pytest.raises(ValueError, match=r"\(given: vault_token, app_role\)"):
        provider.login({"vault_token": "t", "app_role": {"mount": "m", "role_id": "r", "secret_id": "s"}})


def test_the_plugins_durations_are_read_with_the_one_grammar_and_named_by_input():
    assert provider.duration("1h30m", "duration").seconds == 5400
    with pytest.raises(ValueError, match=r"renewBefore: '2 days' is not a duration"):
        provider.duration("2 days", "renewBefore")


def test_the_hosted_components_make_the_librarys_resources_with_its_defaults_where_an_input_is_unset():
    """What another language's program gets: the library's resources under the index tokens, the library's own
    defaults (the namespace, the lifetimes, the timeouts) for every input it leaves out."""
    import pulumi_kubernetes as k8s

    def their_program() -> None:
        on_cluster = pulumi.ResourceOptions(providers={"kubernetes": k8s.Provider("their-cluster", kubeconfig="{}")})
        cert_manager = provider.ExistingCertManager("cert-manager", {}, on_cluster)
        provider.IdentityIssuer(
            "issuer",
            {
                "cert_manager_namespace": cert_manager.namespace,
                "linkerd_namespace": "linkerd",
                "vault_server": "https://vault.corp.example",
                "sign_path": "pki/issuer/a1/sign-intermediate",
                "signing_anchor": "a1",
                "vault_token": "s.token",
            },
            on_cluster,
        )
        provider.TrustBundle(
            "bundle",
            {
                "trust_namespace": cert_manager.trust_namespace,
                "linkerd_namespace": "linkerd",
                "anchor_pems": {"a1": "PEM"},
            },
            on_cluster,
        )

    rendered = render_program(their_program)
    tokens = {r.type for r in rendered.resources if r.type.startswith("linkerd-vault-pki:")}
    assert tokens == {f"{provider.INDEX}:{c}" for c in ("ExistingCertManager", "IdentityIssuer", "TrustBundle")}
    certificate = rendered.custom_resource("Certificate")
    assert (certificate.inputs["spec"]["duration"], certificate.inputs["spec"]["renewBefore"]) == ("48h", "25h")
    for kind in ("ClusterIssuer", "Certificate", "Bundle"):  # the library's readiness timeout, 600 s
        assert rendered.custom_resource(kind).inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "600"
    secret = rendered.one("kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"]["namespace"] == "cert-manager" and secret.is_secret("stringData")
    on_cluster = [r for r in rendered.resources if r.type.startswith("kubernetes:")]
    assert on_cluster and all("::their-cluster::" in (r.provider or "") for r in on_cluster)
