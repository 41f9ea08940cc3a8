"""L2.5: the README's Python program, its cluster side as written, under the real engine.

Another team's program: the cluster block of the README's "Use it from your own program" runs inline under
the real CLI and pulumi-kubernetes, on the L2.5 API server (cert-manager and trust-manager running on it),
with a Kubernetes provider of its own. Its Vault side (the README's first block, which needs the pulumi-vault
provider no registry serves) is the same program's VaultPki applied to OpenBao by the L2 applier: the names
the cluster block reads of ``pki`` (``sign_path``, ``credentials``, ``anchors``) are given what that made.
"""

from __future__ import annotations

from types import SimpleNamespace

import pulumi
import pulumi_kubernetes as k8s
import pytest

import linkerd_vault_pki as lvp
from linkerd_vault_pki import names
from tests.integration.cluster_only import VaultSideMaker, assert_issuer_from_the_anchor
from tests.integration.stacks import new_stack
from tests.unit.test_library import readme_blocks

pytestmark = pytest.mark.integration

SIGNING = "root-2027"  # the README's anchor


def test_the_readme_programs_cluster_side_makes_a_ready_issuer_chaining_to_the_vault_anchor(
    engine, openbao, cluster, tmp_path
):
    vault_side = VaultSideMaker(openbao)
    try:
        vault = vault_side.apply(credential="token", anchors=f"[{SIGNING}]")
        anchor_pem = vault["trustAnchors"][SIGNING]["pem"]
        cluster_block = readme_blocks()[1]

        def their_program() -> None:
            provider = k8s.Provider("corp-cluster", kubeconfig=pulumi.Output.secret(cluster.kubeconfig()))
            corp_cluster = pulumi.ResourceOptions(provider=provider)
            pki = SimpleNamespace(
                sign_path=vault["signPath"],
                credentials={"": lvp.TokenLogin(token=pulumi.Output.secret(vault["vaultToken"]), expires_at="")},
                anchors={SIGNING: SimpleNamespace(pem=anchor_pem)},
            )
            scope = {"pulumi": pulumi, "lvp": lvp, "on_cluster": corp_cluster, "pki": pki}
            scope["vault_address"] = vault["vaultClusterAddress"]
            exec(compile(cluster_block, "README.md (cluster side)", "exec"), scope)

        with new_stack(engine, tmp_path, prefix="library", program=their_program) as stack:
            outputs = stack.up()
            assert outputs["issuer"] == names.cluster_issuer_name(SIGNING)
            assert_issuer_from_the_anchor(cluster, SIGNING, anchor_pem, stack.resources(), provider="corp-cluster")
            stack.stack.destroy(on_output=lambda _line: None)
        assert cluster.api.find(f"/apis/cert-manager.io/v1/clusterissuers/{names.cluster_issuer_name(SIGNING)}") is None
    finally:
        vault_side.destroy()
