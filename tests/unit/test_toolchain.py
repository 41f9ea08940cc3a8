"""The engine bootstrap: pieces are built once, rebuilt when their pins change, never twice at once."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import tomllib
from pathlib import Path

import pytest

from tests.toolchain import build, engine

ROOT = Path(__file__).resolve().parents[2]


def pins(tmp_path: Path) -> Path:
    folder = tmp_path / "pins"
    folder.mkdir()
    (folder / "go.mod").write_text("module example/fake\n\ngo 1.26\n")
    (folder / "go.sum").write_text("")
    return folder


def fake_piece(pin_dir: Path, builds: list[str], seconds: float = 0.0, fail: bool = False) -> engine.Piece:
    def build(work: Path, bin_dir: Path, step: engine.Step) -> None:
        builds.append(threading.current_thread().name)
        time.sleep(seconds)
        if fail:
            step.run("a step that fails", ["sh", "-c", "echo 'compile error: x.go:1'; exit 3"], work)
        (bin_dir / "fake-tool").write_text("#!/bin/sh\n")

    return engine.Piece("fake-tool", "1.0.0", pin_dir, build)


def test_a_piece_is_built_once_then_reused(tmp_path):
    builds: list[str] = []
    piece = fake_piece(pins(tmp_path), builds)
    first = engine.ensure_built(tmp_path / "cache", (piece,), lambda _line: None)
    second = engine.ensure_built(tmp_path / "cache", (piece,), lambda _line: None)
    assert len(builds) == 1
    assert "built in" in first[0] and "cached in" in second[0]
    assert (tmp_path / "cache" / "bin" / "fake-tool").is_file()


def test_a_changed_pin_rebuilds_the_piece(tmp_path):
    builds: list[str] = []
    pin_dir = pins(tmp_path)
    piece = fake_piece(pin_dir, builds)
    engine.ensure_built(tmp_path / "cache", (piece,), lambda _line: None)
    (pin_dir / "go.sum").write_text("example.com/dep v1.0.0 h1:abc=\n")
    engine.ensure_built(tmp_path / "cache", (piece,), lambda _line: None)
    assert len(builds) == 2


def test_a_second_run_waits_for_the_first_instead_of_building_twice(tmp_path):
    builds: list[str] = []
    logs: list[str] = []
    piece = fake_piece(pins(tmp_path), builds, seconds=1.0)
    runs = [
        threading.Thread(target=engine.ensure_built, args=(tmp_path / "cache", (piece,), logs.append), name=f"run{i}")
        for i in range(2)
    ]
    for run in runs:
        run.start()
        time.sleep(0.2)
    for run in runs:
        run.join(timeout=10)
    assert len(builds) == 1, builds
    assert any("waiting for it instead of building twice" in line for line in logs), logs


def test_a_failed_step_is_named_with_its_output_and_leaves_no_binary(tmp_path):
    piece = fake_piece(pins(tmp_path), [], fail=True)
    with pytest.raises(engine.EngineUnavailable) as err:
        engine.ensure_built(tmp_path / "cache", (piece,), lambda _line: None)
    assert "fake-tool: a step that fails failed (exit 3)" in str(err.value)
    assert "compile error: x.go:1" in str(err.value)
    assert not (tmp_path / "cache" / "bin" / "fake-tool").exists()
    assert not (tmp_path / "cache" / "stamps" / "fake-tool").exists()


def test_a_long_step_reports_progress(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "HEARTBEAT_SECONDS", 0.2)
    logs: list[str] = []
    engine.Step("piece", logs.append).run("sleeping", ["sleep", "0.7"], tmp_path)
    assert logs[0] == "piece: sleeping"
    assert any(line.startswith("piece: sleeping: 0m00s so far") for line in logs[1:]), logs


def test_the_built_engine_never_downloads_a_plugin_or_checks_for_updates(tmp_path):
    built = engine.Engine(tmp_path, tmp_path / "pulumi", engine.PULUMI_VERSION, (), built=True)
    env = built.env(tmp_path / "state")
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'state'}?metadata=skip"
    assert env["PATH"].startswith(f"{tmp_path}:")


def test_every_piece_is_pinned_by_a_go_sum_in_the_repo():
    for piece in engine.PIECES:
        assert piece.pins.is_relative_to(ROOT), piece
        go_mod = (piece.pins / "go.mod").read_text()
        assert (piece.pins / "go.sum").stat().st_size > 10_000, f"{piece.pins}/go.sum is not a full pin"
        assert "\ngo 1.26" in go_mod


def test_nothing_is_built_from_outside_the_registries():
    """Every piece is a Go module the proxy serves, or a few lines of main of ours over one: no source trees.

    Every tracked file is read: no script, go.mod, fixture or workflow step may unpack or clone an upstream
    tree. (The words are assembled here so that this file does not match itself.)
    """
    words = ["shared/" + "sources", "LVP_" + "SOURCES_DIR", "git " + "clone", "extract" + "all(", "import " + "tarfile"]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in tracked:
        path = ROOT / name
        if path.is_file() and path.suffix not in (".sum",):
            text = path.read_text(errors="replace")
            found += [f"{name}: {w}" for w in words if w in text]
    assert found == []
    for piece in (*engine.PIECES, *engine.CLUSTER_PIECES):
        go_mod = (piece.pins / "go.mod").read_text()
        # A replace to a local folder would build a tree that no registry served.
        assert not re.search(r"=>\s*\.{0,2}/", go_mod), f"{piece.pins}/go.mod replaces a module with a folder"
    for main in (ROOT / "tests" / "toolchain").rglob("main.go"):
        assert len(main.read_text().splitlines()) < 120, f"{main} is more than a few lines of main"


def test_the_built_providers_are_the_versions_the_python_sdks_pin():
    """A plugin of another version than its SDK's runs with a warning, and may not match the SDK's schema."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(dep.split("==") for dep in project["dependencies"])
    assert pins["pulumi-kubernetes"] == engine.KUBERNETES_PROVIDER_VERSION
    # The Python SDK may be older than the CLI, never newer.
    sdk = tuple(int(n) for n in pins["pulumi"].split("."))
    cli = tuple(int(n) for n in engine.PULUMI_VERSION.lstrip("v").split("."))
    assert sdk <= cli
