"""L2.5: no resource reaches the operator's current kube context: the project disables default providers.

Pulumi.yaml sets ``pulumi:disable-default-providers`` for kubernetes and vault (every resource of ours names
its provider). Through the real engine and pulumi-kubernetes, with KUBECONFIG pointing at a live API server:
a resource registered without a provider is refused; with the setting emptied (a stack's own config
overrides the project's), the same program does reach that cluster, which is what the setting prevents.
"""

from __future__ import annotations

import pytest
from pulumi import automation as auto

from tests.integration.stacks import new_stack

pytestmark = pytest.mark.integration

STRAY = "/api/v1/namespaces/emojivoto/configmaps/stray"


def stray_program() -> None:
    import pulumi_kubernetes as k8s

    k8s.core.v1.ConfigMap("stray", metadata={"name": "stray", "namespace": "emojivoto"}, data={"a": "b"})


def test_a_resource_without_its_provider_is_refused_not_sent_to_a_kube_context(engine, cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))  # the "current context" a default provider reads
    with new_stack(engine, tmp_path, prefix="l25-default", program=stray_program) as stack:
        with pytest.raises(auto.CommandError) as err:
            stack.stack.up(on_output=lambda _line: None)
        assert "default provider for 'kubernetes' disabled" in str(err.value).lower(), str(err.value)[-2000:]
        assert cluster.api.find(STRAY) is None

        # Without the project's setting the same program reaches the kube context: the setting is what stops it.
        stack.stack.set_config("pulumi:disable-default-providers", auto.ConfigValue("[]"))
        stack.stack.up(on_output=lambda _line: None)
        assert cluster.api.find(STRAY) is not None
        stack.stack.destroy(on_output=lambda _line: None)
        assert cluster.api.find(STRAY) is None
