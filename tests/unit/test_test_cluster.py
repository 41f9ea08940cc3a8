"""The L2.5 test cluster's own machinery (tests/integration/kube.py), where it decides how a run fails."""

from __future__ import annotations

import time

import pytest

from tests.integration.kube import LocalCluster


def test_a_server_that_dies_as_it_starts_fails_at_once_with_its_output(tmp_path):
    """What a runner without the rights for trust-manager's namespace saw: the process gone at once, and every
    later wait timing out. Now the start itself fails, naming the exit and the process's words."""
    dying = tmp_path / "server"
    dying.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n")
    dying.chmod(0o755)
    cluster = LocalCluster(binaries={"trust-manager": dying}, workdir=tmp_path)
    started = time.monotonic()
    with pytest.raises(RuntimeError) as err:
        cluster._start("trust-manager", [])
    assert "trust-manager exited as it started (exit 1)" in str(err.value)
    assert "Operation not permitted" in str(err.value)
    assert time.monotonic() - started < 10


def test_a_server_that_stays_up_is_left_running(tmp_path):
    sleeper = tmp_path / "server"
    sleeper.write_text("#!/bin/sh\nexec sleep 30\n")
    sleeper.chmod(0o755)
    cluster = LocalCluster(binaries={"etcd": sleeper}, workdir=tmp_path)
    try:
        cluster._start("etcd", [])
        assert cluster.processes["etcd"].poll() is None
    finally:
        cluster._stop("etcd")
