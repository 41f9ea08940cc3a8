"""L2.5 stacks: a cluster-only stack through the real engine, on a Vault side the L2 applier made in OpenBao.

The real pulumi-vault provider cannot run here (no registry serves it), so the
Vault side of every L2.5 test is the Vault-only program applied to OpenBao by
``tests/integration/vault_applier.py``, and the cluster side is what a platform
team runs: a cluster-only stack (``vaultSide: provided`` with what the Vault
side output, or ``vaultSide: reference`` to a Vault-only stack published on
the same backend), under the real CLI and pulumi-kubernetes, against a real
API server with cert-manager and trust-manager acting on it.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from cryptography import x509

from linkerd_vault_pki import names
from stack import config
from tests.harness import SECRET_KEYS
from tests.integration.kube import LocalCluster, is_true
from tests.integration.stacks import Stack, new_stack
from tests.integration.vault_applier import OpenBaoApplier
from tests.toolchain.engine import Engine

_paths = itertools.count()
ROOT = Path(__file__).resolve().parents[2]
ISSUER_SECRET = f"/api/v1/namespaces/linkerd/secrets/{names.CERTIFICATE_NAME}"
CERTIFICATE = f"/apis/cert-manager.io/v1/namespaces/linkerd/certificates/{names.CERTIFICATE_NAME}"
CLUSTER_ISSUER = f"/apis/cert-manager.io/v1/clusterissuers/{names.cluster_issuer_name('linkerd-trust-anchor')}"
BUNDLE = f"/apis/trust.cert-manager.io/v1alpha1/bundles/{names.BUNDLE_NAME}"

# The keys of the Vault-only stack; every other override is the cluster stack's.
VAULT_KEYS = {
    "pkiPath",
    "pkiMaxLeaseTtl",
    "anchorCommonName",
    "anchorTtl",
    "anchors",
    "signingAnchor",
    "credential",
    "approleMount",
    "approleTokenTtl",
    "secretIdVersion",
    "tokenTtl",
    "consumers",
    "kubernetesAuthMount",
    "kubernetesAuthRole",
    "kubernetesTokenTtl",
    "kubernetesHost",
    "kubernetesCaCert",
}


@dataclass
class VaultSideMaker:
    """The Vault-only stack's part: its config, and the applier that keeps what it made in OpenBao."""

    openbao: Any
    raw: dict[str, str] = field(default_factory=dict)
    applier: OpenBaoApplier | None = None

    def apply(self, **overrides: str) -> dict[str, Any]:
        if self.applier is None:
            n = next(_paths)
            self.applier = OpenBaoApplier(self.openbao.root())
            self.raw = {
                "clusterMode": "none",
                "vaultMode": "external",
                "vaultAddress": self.openbao.address,
                "vaultToken": self.openbao.root_token,
                "pkiPath": f"pki-l25-{n}",
            }
            if overrides.get("credential", "approle") == "approle":
                self.raw["approleMount"] = f"approle-l25-{n}"
            if overrides.get("credential") == "kubernetes":
                self.raw["kubernetesAuthMount"] = f"kubernetes-l25-{n}"
        self.raw.update(overrides)
        self.applier.up(config.parse(self.raw, secret_keys=SECRET_KEYS))
        return self.outputs

    @property
    def outputs(self) -> dict[str, Any]:
        assert self.applier is not None
        return self.applier.outputs

    def destroy(self) -> None:
        if self.applier is None:
            return
        try:
            self.applier.destroy()
        except OSError as exc:  # a test that stopped OpenBao and failed before starting it again
            print(f"\n[l2.5] the Vault side was not destroyed: OpenBao did not answer ({exc})")


def provided(vault: dict[str, Any], consumer: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The settings and secrets of a `vaultSide: provided` stack for what the Vault side output."""
    signing = vault["anchorRotation"]["signing"]
    settings = {
        "vaultSide": "provided",
        "signPath": vault["signPath"],
        "vaultClusterAddress": vault["vaultClusterAddress"],
        "anchorPems": json.dumps({name: a["pem"] for name, a in vault["trustAnchors"].items()}),
        "signingAnchor": signing,
        "credential": vault["credentialKind"],
    }
    facts = vault["consumers"][consumer] if consumer else vault
    secrets_of = vault["consumerSecrets"][consumer] if consumer else vault
    if vault["credentialKind"] == "approle":
        settings.update(approleMount=facts["approleMount"], approleRoleId=facts["approleRoleId"])
        return settings, {"approleSecretId": secrets_of["approleSecretId"]}
    if vault["credentialKind"] == "kubernetes":  # names only: nothing secret is handed over
        settings.update(
            kubernetesAuthMount=facts["kubernetesAuthMount"], kubernetesAuthRole=facts["kubernetesAuthRole"]
        )
        return settings, {}
    return settings, {"issuerToken": secrets_of["vaultToken"]}


class Deployed:
    """A cluster-only stack after `up`: its outputs, the Vault side's, and how long its `up` took."""

    def __init__(self, stack: Stack, outputs: dict, vault: dict, seconds: float):
        self.stack = stack
        self.outputs = outputs
        self.vault = vault
        self.up_seconds = seconds

    @property
    def anchor(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.outputs["trustAnchorPem"].encode())


def cluster_settings(**overrides: str) -> dict[str, str]:
    return {
        "clusterMode": "existing",
        "certManager": "existing",
        "linkerd": "skip",
        "readyTimeout": "90s",
        **overrides,
    }


def prepare(stack: Stack, cluster: LocalCluster, **overrides: str) -> dict[str, Any]:
    """Apply the Vault side (its keys of ``overrides``) and configure the cluster-only stack on what it output.

    In the main thread: the applier runs the program under Pulumi's mocks, whose runtime needs it.
    """
    maker: VaultSideMaker = stack.vault_side
    vault_keys = {k: v for k, v in overrides.items() if k in VAULT_KEYS}
    if vault_keys.get("credential", maker.raw.get("credential")) == "kubernetes":
        vault_keys.update(reviewed_at(cluster))
    vault = maker.apply(**vault_keys)
    settings, secrets = provided(vault)
    stack.configure(
        cluster_settings(**settings, **{k: v for k, v in overrides.items() if k not in VAULT_KEYS}),
        {"kubeconfig": cluster.kubeconfig(), **secrets},
    )
    return vault


def reviewed_at(cluster: LocalCluster) -> dict[str, str]:
    """Kubernetes auth: where OpenBao reviews this cluster's tokens (its API server on loopback) and its CA."""
    return {"kubernetesHost": cluster.server, "kubernetesCaCert": (cluster.workdir / "ca.crt").read_text()}


def up(stack: Stack, cluster: LocalCluster, openbao, **overrides: str) -> Deployed:
    """``prepare``, then `up` the cluster-only stack, timed."""
    vault = prepare(stack, cluster, **overrides)
    started = time.monotonic()
    outputs = stack.up()
    return Deployed(stack, outputs, vault, time.monotonic() - started)


@contextlib.contextmanager
def cluster_stack(engine: Engine, tmp: Path, openbao, prefix: str = "l25") -> Iterator[Stack]:
    """A cluster-only stack with a Vault side of its own in OpenBao; both destroyed afterwards."""
    maker = VaultSideMaker(openbao)
    try:
        with new_stack(engine, tmp, prefix=prefix) as stack:
            stack.vault_side = maker
            yield stack
    finally:
        maker.destroy()


@contextlib.contextmanager
def published(engine: Engine, tmp: Path, outputs: dict[str, Any], secret: set[str]) -> Iterator[Stack]:
    """A Vault-only stack's outputs as they are on the backend after its `up`, for a StackReference to read.

    A stand-in for the Vault-only stack itself (which needs the pulumi-vault provider): an inline program on
    the same backend that exports exactly what the applier's run of the Vault-only program output.
    """

    def export() -> None:
        for key, value in outputs.items():
            pulumi.export(key, pulumi.Output.secret(value) if key in secret else value)

    with new_stack(engine, tmp, prefix="pki", program=export) as stack:
        stack.up()
        yield stack


def run_verify(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    """scripts/verify.py as `scripts/stack verify` runs it: the stack's CLI and kubectl on PATH."""
    env = {**os.environ, **stack.env}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify.py"), "--stack", stack.name, *args],
        cwd=stack.work_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_issuer_from_the_anchor(cluster: LocalCluster, signing: str, anchor_pem: str, state: list, provider: str):
    """What a program of another team must leave on the cluster: the ClusterIssuer named after the signing anchor
    and the Certificate Ready, the issuer Secret a CA signed by the anchor, the Bundle Synced with exactly that
    anchor in Linkerd's trust roots, and every Kubernetes resource in ``state`` made through ``provider``."""
    assert is_true("Ready")(
        cluster.api.get(f"/apis/cert-manager.io/v1/clusterissuers/{names.cluster_issuer_name(signing)}")
    )
    assert is_true("Ready")(cluster.api.get(CERTIFICATE))
    secret = cluster.api.get(ISSUER_SECRET)["data"]
    issuer = x509.load_pem_x509_certificate(base64.b64decode(secret["tls.crt"]))
    anchor = x509.load_pem_x509_certificate(anchor_pem.encode())
    issuer.verify_directly_issued_by(anchor)
    assert is_true("Synced")(cluster.api.get(BUNDLE))
    roots = cluster.api.get(f"/api/v1/namespaces/linkerd/configmaps/{names.BUNDLE_NAME}")["data"]
    assert x509.load_pem_x509_certificates(roots[names.BUNDLE_KEY].encode()) == [anchor]
    made = [r for r in state if r["type"].startswith("kubernetes:") and ":providers:" not in r["type"]]
    assert made and all(f"::{provider}::" in r.get("provider", "") for r in made), made
