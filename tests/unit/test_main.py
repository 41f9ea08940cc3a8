"""__main__.py, as the language host runs it: config from the environment, then the program."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from stack import config
from tests.harness import PROJECT, Rendered, render_program

MAIN = str(Path(__file__).resolve().parents[2] / "__main__.py")


def run_main(monkeypatch, settings: dict[str, str], secret_keys: list[str], into: Rendered | None = None) -> Rendered:
    from pulumi.runtime import config as runtime_config

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{PROJECT}:{k}": v for k, v in settings.items()}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps([f"{PROJECT}:{k}" for k in secret_keys]))
    runtime_config.set_all_config({}, secret_keys=[])

    def main() -> None:
        runpy.run_path(MAIN, run_name="__main__")

    return render_program(main, partial=into)


def test_main_builds_the_stack_from_stack_config(monkeypatch):
    rendered = run_main(monkeypatch, {"vaultToken": "t", "credential": "token"}, ["vaultToken"])
    assert rendered.of_type("vault:index/token:Token")
    assert rendered.of_type("kubernetes:helm.sh/v3:Release")
    assert "vaultToken" in rendered.secret_outputs


def test_main_stops_on_bad_config_before_registering_anything(monkeypatch):
    seen = Rendered()
    with pytest.raises(config.ConfigError, match="clusterMode: 'kind' is not one of k3d, existing, none"):
        run_main(monkeypatch, {"vaultToken": "t", "clusterMode": "kind"}, ["vaultToken"], into=seen)
    assert seen.resources == []
