"""The components as another team's program uses them: its own providers, no stack config, under mocks.

A platform team's program already has a Vault provider and a cluster's provider. It composes the Vault PKI
(anchors and least-privilege credential), the identity issuer and the trust bundle on a cluster that runs
cert-manager and trust-manager already, with the library's value types and nothing of the stack's config. Every
resource it registers must go through the provider it was handed: none may fall back to a default provider
(the operator's ambient VAULT_ADDR or kube context).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_vault as vault

from linkerd_vault_pki.cert_manager import ExistingCertManager, ExistingCertManagerArgs
from linkerd_vault_pki.issuer import IdentityIssuer, IdentityIssuerArgs
from linkerd_vault_pki.linkerd import linkerd_namespace
from linkerd_vault_pki.trust_bundle import TrustBundle, TrustBundleArgs
from linkerd_vault_pki.values import Duration
from linkerd_vault_pki.vault_access import CredentialSettings
from linkerd_vault_pki.vault_pki import AnchorSpec, VaultPki, VaultPkiArgs
from tests.harness import render_program


def their_program() -> None:
    vault_provider = vault.Provider(
        "corp-vault", address="https://vault.corp.example", token="t", skip_child_token=True
    )
    cluster = k8s.Provider("corp-cluster", kubeconfig="{}")
    on_vault = pulumi.ResourceOptions(provider=vault_provider)
    on_cluster = pulumi.ResourceOptions(provider=cluster)

    pki = VaultPki(
        "mesh-pki",
        VaultPkiArgs(
            pki_path="pki-mesh",
            max_lease_ttl_seconds=10 * 365 * 86400,
            cluster_address="https://vault.corp.example",
            anchors=("root-2027",),
            signing_anchor="root-2027",
            new_anchors=AnchorSpec("root.linkerd.cluster.local", Duration("8760h", 8760 * 3600), "ec", 256),
            credential=CredentialSettings(
                kind="approle",
                token_ttl=Duration("768h", 768 * 3600),
                approle_mount="approle-mesh",
                approle_role="cert-manager",
                approle_token_ttl=Duration("10m", 600),
            ),
        ),
        opts=on_vault,
    )
    cert_manager = ExistingCertManager("platform-cert-manager", ExistingCertManagerArgs("cert-manager"), on_cluster)
    namespace = linkerd_namespace("linkerd", opts=on_cluster)
    IdentityIssuer(
        "identity-issuer",
        IdentityIssuerArgs(
            cert_manager_namespace=cert_manager.namespace,
            linkerd_namespace=namespace.metadata.name,
            vault_server="https://vault.corp.example",
            sign_path=pki.sign_path,
            signing_anchor="root-2027",
            credential=pki.credentials[""],
            duration=Duration("48h", 48 * 3600),
            renew_before=Duration("25h", 25 * 3600),
        ),
        opts=on_cluster,
    )
    TrustBundle(
        "trust-bundle",
        TrustBundleArgs(
            trust_namespace=cert_manager.trust_namespace,
            linkerd_namespace=namespace.metadata.name,
            anchor_pems={name: anchor.pem for name, anchor in pki.anchors.items()},
        ),
        opts=on_cluster,
    )


def test_every_resource_goes_through_the_provider_it_was_handed():
    rendered = render_program(their_program)
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
