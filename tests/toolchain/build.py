"""The build machinery: a pinned Go build of a piece into a cache outside the repository, once.

A piece is a program built from a Go module the proxy serves (or a few lines of main of ours over one),
with every module pinned by the go.mod + go.sum of its folder in toolchain/. It is rebuilt only when those
change; builds print progress every 30 s, and a second run waits for one in progress (a lock file).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


PINS = Path(__file__).resolve().parent


Log = Callable[[str], None]


HEARTBEAT_SECONDS = 30.0


class EngineUnavailable(Exception):
    """The engine can neither be found nor built here; the message says what is missing."""


def _stderr_log(line: str) -> None:
    print(f"[engine] {line}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    base = os.environ.get("LVP_ENGINE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "linkerd-vault-pki", "engine"
    )
    return Path(base)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise EngineUnavailable(
            "no `pulumi` on PATH and no Go toolchain to build it: install the Pulumi CLI >= 3.170, "
            "or Go >= 1.26 (the engine is then built from the Go module proxy)"
        )
    return go


@dataclass
class Step:
    """One command of a build, with a heartbeat while it runs."""

    piece: str
    log: Log
    started: float = field(default_factory=time.monotonic)

    def run(self, what: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.log(f"{self.piece}: {what}")
        packages = 0
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(HEARTBEAT_SECONDS):
                self.log(
                    f"{self.piece}: {what}: {self._elapsed()} so far"
                    + (f", {packages} packages compiled" if packages else "")
                )

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        tail: list[str] = []
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                # `go build -v` names each package as it compiles: a count is the progress we show.
                if re.match(r"^[\w.\-]+(/[\w.\-~]+)*$", line.strip()):
                    packages += 1
                else:
                    tail = [*tail[-59:], line.rstrip()]
            rc = proc.wait()
        finally:
            done.set()
        if rc != 0:
            raise EngineUnavailable(f"{self.piece}: {what} failed (exit {rc}):\n" + "\n".join(tail))

    def go_build(
        self, what: str, target: str, output: Path, cwd: Path, version_symbol: str = "", version: str = ""
    ) -> None:
        """``go build`` of ``target`` into ``output``, stripped, with the module's pins only (-mod=readonly)."""
        ldflags = "-s -w" + (f" -X {version_symbol}={version}" if version_symbol else "")
        argv = [_go(), "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(output), target]
        self.run(f"compiling {what}", argv, cwd, _go_env())

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60}m{seconds % 60:02d}s"


def _go_env() -> dict[str, str]:
    return {"CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}


def _copy_module(name: str, into: Path) -> None:
    for f in ("go.mod", "go.sum"):
        shutil.copyfile(PINS / name / f, into / f)


def served_command(
    pins: str, what: str, package: str, binary: str, version_symbol: str = "", version: str = ""
) -> Callable[[Path, Path, Step], None]:
    """The build of a served module's command, pinned by the go.mod, go.sum and tools.go of ``toolchain/<pins>``."""

    def build(work: Path, bin_dir: Path, step: Step) -> None:
        _copy_module(pins, work)
        shutil.copyfile(PINS / pins / "tools.go", work / "tools.go")
        step.go_build(what, package, bin_dir / binary, work, version_symbol, version)

    return build


def _module_dir(module: str, cwd: Path) -> Path:
    # `go list -m` names a module's folder even before it is downloaded (then an empty one):
    # download it first, or a fresh machine finds no files there.
    subprocess.run(
        [_go(), "mod", "download", module], cwd=cwd, env={**os.environ, **_go_env()}, capture_output=True, check=False
    )
    out = subprocess.run(
        [_go(), "list", "-m", "-f", "{{.Dir}}", module],
        cwd=cwd,
        env={**os.environ, **_go_env()},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise EngineUnavailable(f"cannot locate module {module}: {out.stderr.strip()}")
    return Path(out.stdout.strip())


@dataclass(frozen=True)
class Piece:
    name: str  # the binary's name on PATH
    version: str
    pins: Path  # the folder with the go.mod + go.sum of its build
    build: Callable[[Path, Path, Step], None]  # (work dir, bin dir, step)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.name} {self.version}\n".encode())
        # Every file of the pins folder: go.mod, go.sum, and the few lines of main we own.
        for f in sorted(p for p in self.pins.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f.relative_to(self.pins).as_posix().encode() + b"\0" + f.read_bytes())
        return digest.hexdigest()[:16]


@contextlib.contextmanager
def _build_lock(cache: Path, log: Log) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            log(f"another run is building the engine ({holder}); waiting for it instead of building twice")
            started = time.monotonic()
            fcntl.flock(lock, fcntl.LOCK_EX)
            log(f"the other build finished after {time.monotonic() - started:.0f}s")
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stamp(cache: Path, piece: Piece) -> Path:
    return cache / "stamps" / piece.name


def _is_current(cache: Path, piece: Piece) -> bool:
    stamp = _stamp(cache, piece)
    return (cache / "bin" / piece.name).is_file() and stamp.is_file() and stamp.read_text() == piece.fingerprint()


def ensure_built(cache: Path, pieces: tuple[Piece, ...], log: Log) -> list[str]:
    """Build, under the cache's lock, each piece whose pins changed since it was built; say what was done."""
    bin_dir = cache / "bin"
    if all(_is_current(cache, p) for p in pieces):
        return [f"{p.name} {p.version}: cached in {bin_dir}" for p in pieces]
    report = []
    with _build_lock(cache, log):
        for piece in pieces:
            # Checked again under the lock: a run we waited for may have built it.
            if _is_current(cache, piece):
                report.append(f"{piece.name} {piece.version}: cached in {bin_dir}")
            else:
                seconds = _build(cache, piece, log)
                report.append(f"{piece.name} {piece.version}: built in {seconds:.0f}s")
    return report


def _build(cache: Path, piece: Piece, log: Log) -> float:
    bin_dir = cache / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (cache / "stamps").mkdir(exist_ok=True)
    log(f"building {piece.name} {piece.version} into {bin_dir} (once; later runs reuse it)")
    step = Step(piece.name, log)
    staging = Path(tempfile.mkdtemp(prefix=f".{piece.name}-", dir=cache))
    work = staging / "src"
    out = staging / "bin"
    work.mkdir()
    out.mkdir()
    try:
        piece.build(work, out, step)
        for binary in out.iterdir():
            binary.replace(bin_dir / binary.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _stamp(cache, piece).write_text(piece.fingerprint())
    seconds = time.monotonic() - step.started
    log(f"{piece.name} {piece.version}: built in {step._elapsed()}")
    return seconds
