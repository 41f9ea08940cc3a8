"""scripts/fetch_reference.py fetches exactly the reference layout the tests read, at the pinned tags."""

from __future__ import annotations

import io
from pathlib import Path

from linkerd_vault_pki import versions
from tests import reference
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
fetch_reference = load_script("fetch_reference")


def test_the_files_it_fetches_are_the_reference_layout_the_tests_read():
    here = reference.reference_dir()
    layout = {p.relative_to(here).as_posix() for p in here.rglob("*") if p.is_file() and p.name != "README.md"}
    assert set(fetch_reference.files()) == layout


def test_every_url_names_the_pinned_tag():
    urls = fetch_reference.files().values()
    for url in urls:
        assert any(
            f"/{tag}/" in url
            for tag in (versions.CERT_MANAGER.version, versions.TRUST_MANAGER.version, fetch_reference.linkerd_tag())
        ), url


def test_a_fetched_tree_serves_the_tests(tmp_path, monkeypatch):
    """Served from the local reference copy by URL: the tests then find what they need in the new folder."""
    by_url = {url: reference.reference_dir() / place for place, url in fetch_reference.files().items()}
    fetched: list[str] = []

    def opener(url, timeout):
        fetched.append(url)
        return io.BytesIO(by_url[url].read_bytes())

    fetch_reference.fetch(tmp_path, opener=opener)
    fetch_reference.fetch(tmp_path, opener=opener)  # a second run fetches nothing again
    assert len(fetched) == len(by_url)
    monkeypatch.setenv("LVP_REFERENCE_DIR", str(tmp_path))
    reference.reference_dir.cache_clear()
    try:
        assert reference.reference_dir() == tmp_path
        crds = sorted((reference.cert_manager_dir() / "crds").glob("*.yaml"))
        assert len(crds) == 6 and all(c.read_text().lstrip("-\n").startswith("apiVersion:") for c in crds)
    finally:
        reference.reference_dir.cache_clear()
