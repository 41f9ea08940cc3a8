"""Run a program whose servers bind every interface in a network namespace of its own.

trust-manager binds its metrics and readiness servers to 0.0.0.0 (its flags
set only the port). The tests' servers listen on loopback only, so it runs in a
private network namespace (``unshare --net``), where "every interface" is a
loopback no one else shares. It still needs the API server, on the host's
loopback: a relay carries TCP from 127.0.0.1:<port> inside the namespace to a
unix socket (a file, which both namespaces see), and ``UnixToTcp`` carries it
on to the API server outside. TLS passes through untouched.

Inside:  python -m tests.integration.netns --unix SOCK --port PORT [--as UID:GID] -- PROGRAM ARGS...
         (started under `unshare --net`: as root, in a user namespace of this user's, or under sudo; with
         sudo, ``--as`` drops back to the user once the namespace's loopback is up)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def relay(a: socket.socket, b: socket.socket) -> None:
    """Carry bytes both ways until both sides close."""
    threads = [threading.Thread(target=_pipe, args=pair, daemon=True) for pair in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.close()
    b.close()


class UnixToTcp:
    """Outside the namespace: accept on a unix socket, connect each to a TCP address on the host's loopback."""

    def __init__(self, path: Path, port: int):
        self.path, self.port = path, port
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(64)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    upstream.settimeout(None)
                except OSError:
                    conn.close()
                    continue
                threading.Thread(target=relay, args=(conn, upstream), daemon=True).start()

    def close(self) -> None:
        self.server.close()


def _loopback_up() -> None:
    with socket.socket() as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--unix", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--as", dest="user", default=None, help="UID:GID to run as once the loopback is up")
    parser.add_argument("program", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    program = args.program[1:] if args.program[:1] == ["--"] else args.program

    _loopback_up()
    if args.user:
        uid, gid = (int(n) for n in args.user.split(":"))
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        # A change of uid leaves a process undumpable, its /proc entries root's: give them back to the user
        # (prctl(2), PR_SET_DUMPABLE), so that the tests can read what it listens on.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    listener = socket.socket()
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            outside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                outside.connect(args.unix)
            except OSError:
                conn.close()
                continue
            threading.Thread(target=relay, args=(conn, outside), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    started: list[subprocess.Popen] = []

    def forward(signum: int, _frame) -> None:
        if not started:
            sys.exit(128 + signum)  # stopped before the program started: nothing to leave behind
        started[0].send_signal(signum)

    # The handlers before the program: a stop between its start and theirs would leave it running, alone.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    relay_pid = os.getpid()
    started.append(subprocess.Popen(program, preexec_fn=lambda: _die_with(relay_pid)))
    return started[0].wait()


def _die_with(parent: int) -> None:
    """In the program, before it runs: a SIGTERM when this relay ends, however it ends (prctl(2),
    PR_SET_PDEATHSIG), so that a relay killed outright never leaves its program running."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the relay ended before the request took hold
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
