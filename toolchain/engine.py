"""The Pulumi engine this project runs on: found on PATH, or built from the Go module proxy.

A machine with a ``pulumi`` CLI on PATH uses it as it is: that CLI fetches the
provider plugins the Python SDKs pin (pulumi-vault 7.11.0, ...) and the Python
language host, as on any machine with internet. A machine without one (the
development machines and CI reach the package registries, no Pulumi download
site) gets what the registries serve, built here once into a cache outside the
repository:

- ``pulumi``: the CLI, from the module ``github.com/pulumi/pulumi/pkg/v3``;
- ``pulumi-resource-kubernetes``: the provider, from
  ``github.com/pulumi/pulumi-kubernetes/provider/v4``.

What no registry serves is not built at all: the pulumi-vault, Docker and
Command provider plugins and the Python language host (so no project directory
runs here, only inline programs through the Automation API). Those run where an
installed Pulumi fetches its plugins: a user's machine and the L3 workflow.

``CLUSTER_PIECES`` are the L2.5 tests' local cluster: etcd, kube-apiserver,
kube-controller-manager, kubectl, trust-manager (each a served module's
command, or a few lines of ``main`` of ours over its packages) and
cert-manager's controller (a ``main`` of ours over the served root module).

Every module of every build is pinned by the go.mod + go.sum files beside this
file (``toolchain/<piece>/``). A piece is rebuilt only when its pins change.
Builds show progress, and a second run waits for a build in progress instead of
building twice (a lock file in the cache).

Nothing here downloads a Pulumi plugin or talks to a Pulumi service:
``Engine.env`` turns plugin acquisition and the update check off.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lib import versions

ROOT = Path(__file__).resolve().parent.parent
PINS = Path(__file__).resolve().parent

PULUMI_VERSION = "v3.274.1"
MIN_PULUMI = (3, 170, 0)
KUBERNETES_PROVIDER_VERSION = "4.25.0"
KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
# The L2.5 controllers are the versions of the charts the program installs: one pin each, in lib/versions.py.
CERT_MANAGER_VERSION = versions.CERT_MANAGER.version
TRUST_MANAGER_VERSION = versions.TRUST_MANAGER.version

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


# -- running go, with progress ------------------------------------------------------------------


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


PULUMI_VERSION_SYMBOL = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"


def _copy_module(name: str, into: Path) -> None:
    for f in ("go.mod", "go.sum"):
        shutil.copyfile(PINS / name / f, into / f)


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


# -- the pieces ----------------------------------------------------------------------------------


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


def _build_cli(work: Path, bin_dir: Path, step: Step) -> None:
    _copy_module("pulumi", work)
    (work / "tools.go").write_text((PINS / "pulumi" / "tools.go").read_text())
    step.go_build(
        f"the Pulumi CLI {PULUMI_VERSION}", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", bin_dir / "pulumi", work,
        PULUMI_VERSION_SYMBOL, PULUMI_VERSION,
    )  # fmt: skip


def _build_kubernetes_provider(work: Path, bin_dir: Path, step: Step) -> None:
    """pulumi-resource-kubernetes: the provider module's command, built against sdk/v4 from the proxy."""
    version = KUBERNETES_PROVIDER_VERSION
    _copy_module("pulumi-kubernetes", work)
    shutil.copyfile(PINS / "pulumi-kubernetes" / "tools.go", work / "tools.go")
    provider = _module_dir("github.com/pulumi/pulumi-kubernetes/provider/v4", work)
    command = work / "cmd" / "pulumi-resource-kubernetes"
    command.mkdir(parents=True)
    for name in ("main.go", "generate.go", "schema.json", "terraform-mapping.json"):
        shutil.copyfile(provider / "cmd" / "pulumi-resource-kubernetes" / name, command / name)
        (command / name).chmod(0o644)
    step.run("embedding the schema", [_go(), "run", "./generate.go"], command, {**_go_env(), "VERSION": version})
    step.go_build(
        f"pulumi-resource-kubernetes {version}", "./cmd/pulumi-resource-kubernetes",
        bin_dir / "pulumi-resource-kubernetes", work,
        "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version", version,
    )  # fmt: skip


def _kube_command(name: str) -> Callable[[Path, Path, Step], None]:
    """etcd, kube-apiserver or kube-controller-manager: a few-line main over the upstream package."""

    def build(work: Path, bin_dir: Path, step: Step) -> None:
        _copy_module("kube", work)
        shutil.copytree(PINS / "kube" / "cmd" / name, work / "cmd" / name)
        step.go_build(name, f"./cmd/{name}", bin_dir / name, work)

    return build


def _build_cert_manager(work: Path, bin_dir: Path, step: Step) -> None:
    """cert-manager's controller: a main of our own over the served root module's controllers."""
    _copy_module("cert-manager", work)
    shutil.copytree(PINS / "cert-manager" / "cmd", work / "cmd")
    step.go_build(
        f"the cert-manager controller {CERT_MANAGER_VERSION}", "./cmd/cert-manager-controller",
        bin_dir / "cert-manager-controller", work,
    )  # fmt: skip


def _build_trust_manager(work: Path, bin_dir: Path, step: Step) -> None:
    _copy_module("trust-manager", work)
    shutil.copyfile(PINS / "trust-manager" / "tools.go", work / "tools.go")
    step.go_build(
        f"trust-manager {TRUST_MANAGER_VERSION}", "github.com/cert-manager/trust-manager/cmd/trust-manager",
        bin_dir / "trust-manager", work,
    )  # fmt: skip


PIECES = (
    Piece("pulumi", PULUMI_VERSION, PINS / "pulumi", _build_cli),
    Piece(
        "pulumi-resource-kubernetes",
        KUBERNETES_PROVIDER_VERSION,
        PINS / "pulumi-kubernetes",
        _build_kubernetes_provider,
    ),
)

# The local cluster of the L2.5 tests: a real API server and the controllers that act on what
# the program applies. No kubelet, so no pods: cert-manager and trust-manager run as processes.
CLUSTER_PIECES = (
    Piece("etcd", ETCD_VERSION, PINS / "kube", _kube_command("etcd")),
    Piece("kube-apiserver", KUBERNETES_VERSION, PINS / "kube", _kube_command("kube-apiserver")),
    Piece("kube-controller-manager", KUBERNETES_VERSION, PINS / "kube", _kube_command("kube-controller-manager")),
    Piece("kubectl", KUBERNETES_VERSION, PINS / "kube", _kube_command("kubectl")),
    Piece("cert-manager-controller", CERT_MANAGER_VERSION, PINS / "cert-manager", _build_cert_manager),
    Piece("trust-manager", TRUST_MANAGER_VERSION, PINS / "trust-manager", _build_trust_manager),
)


# -- the engine ----------------------------------------------------------------------------------


def file_backend_url(directory: Path | str) -> str:
    """A file:// backend that writes no metadata files beside the state.

    The blob library under Pulumi's file backend rewrites a state file's ``.attrs`` metadata in place (truncate,
    then write), so a program reading its stack's last outputs while the engine saves state can find it empty
    ("failed to load checkpoint: EOF"). Pulumi needs none of that metadata: ``metadata=skip`` writes none.
    """
    return f"file://{directory}?metadata=skip"


@dataclass(frozen=True)
class Engine:
    bin_dir: Path  # prepended to PATH: the CLI, and the plugins it finds there
    pulumi: Path
    version: str
    report: tuple[str, ...]  # per piece: found, cached, or built in N s
    built: bool  # True when the CLI is ours (built here), False when it was on PATH

    def env(self, backend_dir: Path | None = None) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        if self.built:
            # Plugins come from PATH only: a missing one is an error, never a download.
            env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
        if backend_dir is not None:
            env["PULUMI_HOME"] = str(backend_dir / "home")
            env["PULUMI_BACKEND_URL"] = file_backend_url(backend_dir)
            env["PULUMI_CONFIG_PASSPHRASE"] = "integration-tests-only"
        return env

    def command(self):
        """The Automation API's handle on this CLI (it expects <root>/bin/pulumi)."""
        from pulumi import automation as auto

        if self.pulumi.parent.name == "bin":
            return auto.PulumiCommand(root=str(self.pulumi.parent.parent))
        return auto.PulumiCommand()


def _version_of(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    text = out.stdout.strip()
    return text if re.match(r"^v\d+\.\d+\.\d+", text) else None


def usable_version(version: str | None) -> bool:
    if not version:
        return False
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    return parts >= MIN_PULUMI


def _on_path() -> Engine | None:
    found = shutil.which("pulumi")
    if os.environ.get("LVP_ENGINE", "auto") == "build" or not found:
        return None
    path = Path(found)
    version = _version_of(path)
    if not usable_version(version):
        return None
    return Engine(path.parent, path, version or "", (f"pulumi {version}: found at {path}",), built=False)


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


def probe() -> str:
    """Where the engine would come from, without building anything; EngineUnavailable if from nowhere."""
    found = _on_path()
    if found is not None:
        return found.report[0]
    cache = cache_dir()
    if all(_is_current(cache, p) for p in PIECES):
        return f"the engine built earlier, in {cache / 'bin'}"
    on_path = shutil.which("pulumi")
    too_old = ""
    if on_path and os.environ.get("LVP_ENGINE", "auto") != "build":
        seen = _version_of(Path(on_path)) or "of unknown version"
        too_old = f"the Pulumi CLI at {on_path} is {seen}, older than 3.170; "
    go = shutil.which("go")
    if go is None:
        raise EngineUnavailable(
            too_old + "no Pulumi CLI >= 3.170 on PATH and no Go toolchain to build one: install the Pulumi CLI, "
            "or Go >= 1.26 (the engine is then built from the Go module proxy)"
        )
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
    if tuple(int(n) for n in re.findall(r"\d+", version)[:2]) < (1, 26):
        raise EngineUnavailable(too_old + f"Go {version or '(unknown)'} cannot build the engine; Go >= 1.26 is needed")
    return too_old + f"to be built with {version} into {cache / 'bin'} (once; the first build takes 10-20 minutes)"


def find_or_build(log: Log = _stderr_log) -> Engine:
    """The engine on PATH if there is one, else the cached build, else a build now."""
    found = _on_path()
    if found is not None:
        return found
    cache = cache_dir()
    report = ensure_built(cache, PIECES, log)
    pulumi = cache / "bin" / "pulumi"
    version = _version_of(pulumi)
    if version != PULUMI_VERSION:
        raise EngineUnavailable(f"the CLI at {pulumi} reports {version!r}, not {PULUMI_VERSION}")
    return Engine(cache / "bin", pulumi, version, tuple(report), built=True)


def cluster_binaries(log: Log = _stderr_log) -> dict[str, Path]:
    """The L2.5 cluster's programs, built once into the engine cache: name -> path."""
    cache = cache_dir()
    for line in ensure_built(cache, CLUSTER_PIECES, log):
        log(line)
    return {piece.name: cache / "bin" / piece.name for piece in CLUSTER_PIECES}


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


def main(argv: list[str]) -> int:
    """``python -m toolchain.engine [--probe | --shell | --cluster]``: find or build the engine.

    Without flags, say per piece what was found, reused or built. With ``--probe``,
    say where it would come from, building nothing. With ``--shell``, print the
    ``export`` lines that put it first on PATH (what ``scripts/stack`` evals). With
    ``--cluster``, build the L2.5 tests' local cluster programs.
    Progress and errors go to stderr.
    """
    try:
        if argv[:1] == ["--probe"]:
            print(probe())
            return 0
        if argv[:1] == ["--cluster"]:
            for name, path in cluster_binaries().items():
                print(f"{name}: {path}")
            return 0
        engine = find_or_build()
    except EngineUnavailable as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 2
    if argv[:1] == ["--shell"]:
        own = {k: v for k, v in engine.env().items() if k != "PATH"}
        print(f'export PATH={shlex.quote(str(engine.bin_dir))}:"$PATH"')
        for key, value in own.items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    for line in engine.report:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
