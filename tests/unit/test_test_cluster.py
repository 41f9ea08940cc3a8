"""The L2.5 test cluster's own machinery (tests/integration/kube.py), where it decides how a run fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.kube import ROOT, LocalCluster, private_network


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


def test_a_relay_killed_outright_takes_its_program_with_it(tmp_path):
    """trust-manager runs under the namespace's relay (tests/integration/netns.py). A relay that is killed (a
    stop that ran out of patience) or stopped as it starts must not leave trust-manager running, orphaned:
    two were found still running 40 minutes after their test runs."""
    unshare, inside = private_network()
    marker = tmp_path / "program.pid"
    program = [
        sys.executable,
        "-c",
        f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
    ]
    relay = subprocess.Popen(
        [*unshare, sys.executable, "-m", "tests.integration.netns", "--unix", str(tmp_path / "none.sock"),
         "--port", "18080", *inside, "--", *program],
        cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(marker.read_text())
    # The relay itself: under sudo, sudo's child (the relay, the user's again after --as).
    pids = Path(f"/proc/{relay.pid}/task/{relay.pid}/children").read_text().split() if unshare[0] == "sudo" else []
    os.kill(int(pids[0]) if pids else relay.pid, signal.SIGKILL)
    relay.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the program outlived its relay"
