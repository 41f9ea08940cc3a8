"""The package from another Pulumi language: its component provider's schema, and a Pulumi YAML program.

The provider is ``python -m linkerd_vault_pki.provider`` (what ``provider/PulumiPlugin.yaml`` runs): its
``GetSchema`` answer is read over gRPC from the real server on loopback. Then a Pulumi YAML program, under the
real engine, Pulumi YAML's language host (built from its served Go module) and pulumi-kubernetes, composes the
cluster-side components on the L2.5 API server (cert-manager and trust-manager running on it) against a Vault
side the L2 applier made in OpenBao: its own Kubernetes provider, ``ExistingCertManager``, its own Linkerd
namespace, ``IdentityIssuer`` with a token, ``TrustBundle``. The engine reaches our provider through
``PULUMI_DEBUG_PROVIDERS``, served by the test-only launcher ``tests/integration/attachable_host.py`` (which
says why).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from linkerd_vault_pki import names, provider
from tests.integration.cluster_only import CLUSTER_ISSUER, VaultSideMaker, assert_issuer_from_the_anchor
from tests.integration.conftest import unavailable

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXPOSED = {"ExistingCertManager", "CertManager", "IdentityIssuer", "TrustBundle"}


@contextlib.contextmanager
def serving(*command: str) -> Iterator[int]:
    """A provider process of ours on loopback: its port (the first line it prints), killed afterwards."""
    process = subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline().strip()
        if not line.isdigit():
            process.kill()
            raise AssertionError(f"{' '.join(command)} printed no port: {line!r} {process.stderr.read()[-2000:]}")
        yield int(line)
    finally:
        process.kill()
        process.wait(timeout=10)


def schema_of(port: int) -> dict:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        answer = provider_pb2_grpc.ResourceProviderStub(channel).GetSchema(
            provider_pb2.GetSchemaRequest(version=0), timeout=60
        )
    return json.loads(answer.schema)


def test_the_plugin_serves_a_schema_of_every_exposed_component_with_typed_inputs():
    # provider/ as Python's language host launches a plugin (`python <plugin dir> <engine address>`): what
    # `pulumi package add` loads. The engine's address is not called for a schema.
    with serving(str(ROOT / "provider"), "127.0.0.1:1") as port:
        schema = schema_of(port)
    assert schema["name"] == provider.PACKAGE
    resources = schema["resources"]
    assert {token.rsplit(":", 1)[1] for token in resources} == EXPOSED
    for token, resource in resources.items():
        assert resource["isComponent"] is True, token
        for name, prop in resource["inputProperties"].items():
            assert prop.get("type") or prop.get("$ref"), f"{token}.{name} has no type"
            assert prop.get("description"), f"{token}.{name} is not described"
    issuer = resources[f"{provider.INDEX}:IdentityIssuer"]
    assert set(issuer["requiredInputs"]) == {
        "certManagerNamespace", "linkerdNamespace", "vaultServer", "signPath", "signingAnchor"
    }  # fmt: skip
    assert issuer["inputProperties"]["readyTimeoutSeconds"]["type"] == "integer"
    assert issuer["inputProperties"]["appRole"]["$ref"].endswith(":AppRoleArgs")
    approle = schema["types"][f"{provider.INDEX}:AppRoleArgs"]
    assert set(approle["required"]) == {"mount", "roleId", "secretId"}
    bundle = resources[f"{provider.INDEX}:TrustBundle"]
    assert bundle["inputProperties"]["anchorPems"]["additionalProperties"]["type"] == "string"
    assert set(bundle["properties"]) == {"bundleName", "rootsDigest"}
    assert set(resources[f"{provider.INDEX}:ExistingCertManager"]["properties"]) == {"namespace", "trustNamespace"}


def readme_program() -> str:
    """The Pulumi YAML program of the README's "Use it from your own program", as a user pastes it."""
    section = (ROOT / "README.md").read_text().split("## Use it from your own program", 1)[1]
    return re.search(r"```yaml\n(name: platform-yaml\n.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def yaml_host() -> Path:
    from tests.toolchain.build import EngineUnavailable
    from tests.toolchain.engine import yaml_language_host

    try:
        return yaml_language_host(log=lambda line: print(f"\n[engine] {line}", flush=True))
    except EngineUnavailable as exc:
        unavailable(f"Pulumi YAML's language host cannot be built: {exc}")


def test_a_yaml_program_composes_the_cluster_side_to_a_ready_issuer_chaining_to_the_anchor(
    engine, yaml_host, openbao, cluster, tmp_path
):
    vault_side = VaultSideMaker(openbao)
    try:
        vault = vault_side.apply(credential="token")
        signing = vault["anchorRotation"]["signing"]
        assert signing == "linkerd-trust-anchor"  # the program's anchorPems key (a YAML key is literal)
        anchor_pem = vault["trustAnchors"][signing]["pem"]
        project = tmp_path / "platform-yaml"
        project.mkdir()
        (project / "Pulumi.yaml").write_text(readme_program())
        backend = tmp_path / "state"
        backend.mkdir()
        with serving("-m", "tests.integration.attachable_host") as port:
            env = {**os.environ, **engine.env(backend)}
            env["PATH"] = f"{yaml_host.parent}{os.pathsep}{env['PATH']}"
            env["PULUMI_DEBUG_PROVIDERS"] = f"{provider.PACKAGE}:{port}"

            def pulumi(*args: str, stdin: str | None = None) -> str:
                result = subprocess.run(
                    [str(engine.pulumi), *args], cwd=project, env=env, input=stdin,
                    capture_output=True, text=True, timeout=600, check=False,
                )  # fmt: skip
                assert result.returncode == 0, f"pulumi {args[0]}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
                return result.stdout

            pulumi("stack", "init", "platform")
            settings = {
                "vaultServer": vault["vaultClusterAddress"],
                "signPath": vault["signPath"],
                "signingAnchor": signing,
                "anchorPem": anchor_pem,
            }
            for key, value in settings.items():
                pulumi("config", "set", key, "--", value)
            pulumi("config", "set", "--secret", "kubeconfig", stdin=cluster.kubeconfig())
            pulumi("config", "set", "--secret", "vaultToken", stdin=vault["vaultToken"])
            try:
                pulumi("up", "--yes", "--skip-preview")
                outputs = json.loads(pulumi("stack", "output", "--json"))
                assert outputs == {"issuerName": names.cluster_issuer_name(signing), "bundleName": names.BUNDLE_NAME}
                state = json.loads(pulumi("stack", "export"))["deployment"]["resources"]
                assert_issuer_from_the_anchor(cluster, signing, anchor_pem, state, provider="cluster")
                assert not [r["urn"] for r in state if ":providers:kubernetes::default" in r.get("provider", "")]
            finally:
                pulumi("destroy", "--yes", "--skip-preview")
                pulumi("stack", "rm", "--yes", "platform")
        assert cluster.api.find(CLUSTER_ISSUER) is None
        assert cluster.api.find("/api/v1/namespaces/linkerd") in (None,) or (
            cluster.api.get("/api/v1/namespaces/linkerd")["status"]["phase"] == "Terminating"
        )
    finally:
        vault_side.destroy()


@pytest.mark.l3
def test_the_cli_reads_the_plugin_folder_as_pulumi_package_add_does(engine, tmp_path):
    """L3 (Python's language host launches the plugin, and no registry serves it): the CLI reads the schema of
    ``provider/`` as `pulumi package add` does, from the folder itself."""
    result = subprocess.run(
        [str(engine.pulumi), "package", "get-schema", str(ROOT / "provider")],
        cwd=tmp_path, env={**os.environ, **engine.env(tmp_path)}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    schema = json.loads(result.stdout)
    assert schema["name"] == provider.PACKAGE
    assert {token.rsplit(":", 1)[1] for token in schema["resources"]} == EXPOSED
