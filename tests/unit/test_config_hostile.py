"""L0: hostile values, and the bugs a sweep of them found. Offline, under mocks, in seconds.

The sweep tries every setting with every value of HOSTILE, in a mode of the
program that uses that setting, and accepts two outcomes only: the value is
accepted (and the program then renders under mocks without an error), or the
configuration is refused with every problem naming that key. A crash, a
traceback, or a problem about another key (a follow-on of a stand-in default)
fails it.
"""

from __future__ import annotations

import pytest

from stack import config, settings
from tests.harness import MODES, SECRET_KEYS, cfg, mode_stacks, render
from tests.harness import config_problems as problems

HOSTILE = (
    "",
    " ",
    "\x00",
    "a\nb",
    "\t",
    "x" * 5000,
    "null",
    "~",
    "-1",
    "0",
    "1e309",
    "nan",
    "true",
    "[]",
    "{}",
    "[{}]",
    "{a: b}",
    "[null]",
    "\U0001f600",
    "../../etc/passwd",
    "http://",
    "https://user:pw@vault.example.com",
    "'; DROP TABLE x; --",
    "${HOME}",
    "%s%n",
    "\u202eevil",
    "99999999999999999999",
)

# Base configurations, one per way the program is used; a setting is tried in each that uses it.
BASES = {
    **{name: MODES[name] for name in MODES},
    "token": {"credential": "token"},
    "vault-only+token": {**MODES["vault-only+external"], "credential": "token"},
    "provided+token": {
        **{k: v for k, v in MODES["cluster-only+provided"].items() if not k.startswith("approle")},
        "credential": "token",
        "issuerToken": "handed-over-token",
    },
    "k3d+clusters": {"clusters": "[{name: east, clusterMode: k3d, k3dApiPort: 6551}]"},
}


def bases_using(setting: settings.Setting) -> list[str]:
    found = [name for name, raw in BASES.items() if setting.used(raw)]
    return found[:2]  # two ways of using it are enough to meet each rule and keep the sweep in seconds


def names_the_key(problem: str, key: str) -> bool:
    return problem.startswith((f"{key}:", f"{key}.", f"{key}[", f"clusters[0].{key}:"))


CASES = [(s.key, base, value) for s in settings.SETTINGS for base in bases_using(s) for value in HOSTILE]


def test_every_setting_is_swept_in_a_mode_that_uses_it():
    assert {key for key, _, _ in CASES} == set(settings.BY_KEY)


@pytest.mark.parametrize(("key", "base"), sorted({(k, b) for k, b, _ in CASES}))
def test_a_hostile_value_is_accepted_or_refused_naming_its_key(key, base, caplog):
    surprises = []
    for value in HOSTILE:
        caplog.clear()
        raw = {**BASES[base], key: value}
        if base.startswith(("cluster-only", "provided")) or raw.get("vaultSide", "create") != "create":
            parsed = lambda r=raw: config.parse(r, secret_keys=SECRET_KEYS)  # noqa: E731 (no vaultToken added)
        else:
            parsed = lambda r=raw: cfg(**r)  # noqa: E731
        try:
            stack = parsed()
        except config.ConfigError as err:
            if not err.problems or not all(names_the_key(p, key) for p in err.problems):
                surprises.append(f"{value!r}: {err.problems}")
            continue
        except Exception as exc:  # a crash: never acceptable
            surprises.append(f"{value!r}: crashed with {exc!r}")
            continue
        try:
            render(stack, stacks=mode_stacks(base))
        except config.ConfigError as err:
            if not all(names_the_key(p, key) for p in err.problems):
                surprises.append(f"{value!r}: accepted, then refused at run time: {err.problems}")
        except Exception as exc:
            # The engine's own refusal (a stack that does not exist), which the program explains naming the key.
            if not any(names_the_key(r.getMessage(), key) for r in caplog.records if r.levelname == "ERROR"):
                surprises.append(f"{value!r}: accepted, then the program failed: {exc!r}")
    assert surprises == []


# --- the bugs the sweep (and a read of the code) found --------------------------------------------


def test_docker_network_is_the_stacks_with_listed_clusters_too():
    """It was read per entry, where no entry may set it: `dockerNetwork: my-net` rendered pki-network."""
    listed = "[{name: east, clusterMode: k3d, k3dApiPort: 6551}]"
    network = render(cfg(dockerNetwork="my-net", clusters=listed)).one("docker:index/network:Network")
    assert network.inputs["name"] == "my-net"
    assert problems(dockerNetwork="bridge", clusters=listed) == [
        "dockerNetwork: bridge is one of Docker's own networks; name a network of this stack's own"
    ]


def test_a_bad_value_is_not_cross_checked_as_its_default():
    assert problems(issuerDuration="2 days", anchorTtl="24h", pkiMaxLeaseTtl="24h") == [
        "issuerDuration: '2 days' is not a duration; write whole hours, minutes and seconds such as 48h, "
        "90m, 1h30m or 3600s"
    ]
    found = problems(k3dApiPort="8200x", vaultHostPort="6550")
    assert found == ["k3dApiPort: '8200x' is not a whole number from 1024 to 65535"]


def test_a_bare_clusters_key_is_refused_not_a_crash():
    assert problems(clusters="null") == [
        "clusters: is empty; list the clusters, or remove the key for the stack's one cluster"
    ]


@pytest.mark.parametrize("value", ["ab\x00c", "ab\nc", "tok\ten", "\x7f", "a b", "\u202eevil", "t" * 4097])
def test_a_token_that_is_not_printable_ascii_is_refused(value):
    found = problems(vaultToken=value)
    assert len(found) == 1 and found[0].startswith("vaultToken: is not printable ASCII"), found


@pytest.mark.parametrize("image", ["0", "true", "rancher/k3s", "rancher/k3s:" + "v" * 5000, "a" * 300 + ":v1"])
def test_an_unpinned_or_oversized_k3s_image_is_refused(image):
    found = problems(k3sImage=image)
    assert len(found) == 1 and found[0].startswith("k3sImage:") and "pinned" in found[0], found


@pytest.mark.parametrize(
    "image",
    [
        "rancher/k3s:v1.33.4-k3s1",
        "registry.example.com:5000/mirror/rancher/k3s:v1.33.4-k3s1",
        "rancher/k3s@sha256:" + "0" * 64,
        "rancher/k3s:v1.33.4-k3s1@sha256:" + "a" * 64,
    ],
)
def test_pinned_k3s_images_are_accepted(image):
    assert problems(k3sImage=image) == []


def test_a_common_name_longer_than_rfc_5280_allows_is_refused():
    assert problems(anchorCommonName="a" * 64) == []
    found = problems(anchorCommonName="a" * 65)
    assert len(found) == 1 and "at most 64 characters" in found[0], found
