"""What a deployed stack knows its resources by does not change under it.

A resource's URN is its type token, its parents' type tokens and its name: change any, and the next `up` of a
deployed stack deletes the resource and makes another (for the anchor, a new root of trust). This test holds
every mode's URNs, and a stack of listed clusters', to the record in ``urns.json``, taken from the program as
deployed stacks have it. A change that moves code must leave it as it is (or give the moved resource an alias);
a new resource is added to the record on purpose: ``python -m tests.unit.test_urns --write``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.harness import EXISTING_KUBECONFIG, MODES, cfg, render, render_mode

RECORD = Path(__file__).with_name("urns.json")
LISTED = [
    {"name": "east", "clusterMode": "k3d", "k3dApiPort": 6551},
    {
        "name": "prod",
        "clusterMode": "existing",
        "kubeconfig": EXISTING_KUBECONFIG,
        "vaultClusterAddress": "http://192.168.1.20:8200",
    },
]


def current() -> dict[str, list[str]]:
    found = {mode: sorted(r.urn for r in render_mode(mode).resources) for mode in MODES}
    found["listed clusters"] = sorted(r.urn for r in render(cfg(clusters=json.dumps(LISTED))).resources)
    return found


def test_every_resource_keeps_its_urn():
    record = json.loads(RECORD.read_text())
    now = current()
    assert sorted(now) == sorted(record)
    for mode, urns in record.items():
        gone = sorted(set(urns) - set(now[mode]))
        new = sorted(set(now[mode]) - set(urns))
        assert (gone, new) == ([], []), f"{mode}: a deployed stack would replace {gone} with {new}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        RECORD.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
