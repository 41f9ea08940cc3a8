"""Reading raw config values: every problem recorded (never the first only), each naming its key."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from linkerd_vault_pki.problems import Problem
from linkerd_vault_pki.values import Duration, Secret, parse_duration
from stack import settings
from stack.config.model import BOOLEANS
from stack.config.rules import GO_MAX_DURATION_SECONDS, TOKEN, TOKEN_KEYS, address_problem


class Reader:
    """Reads raw values, recording every problem instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str | None], secret_keys: set[str]):
        self.problems: list[str] = []
        self.failed: set[str] = set()  # the keys a problem was reported for
        self.raw = {}
        for key, value in raw.items():
            if value is None:
                continue
            if str(value).strip() == "" and key in settings.BY_KEY:
                default = settings.BY_KEY[key].default
                self.fail(
                    f"{key}",
                    f"is empty; remove it (`pulumi config rm {key}`)"
                    + (f" for the default, {default}" if default else "")
                    + " or give it a value",
                )
                continue
            self.raw[key] = value
        self.secret_keys = secret_keys

    undecided = False  # a mode key is bad: what is required is not known
    misspelt: frozenset[str] = frozenset()  # the settings that unknown keys were reported as meaning

    def fail(self, key: str | Problem, text: str = "") -> None:
        """Record a problem: ``fail(key, text)``, or ``fail(problem)`` for one a rule made."""
        problem = key if isinstance(key, Problem) else Problem(key, text)
        self.problems.append(problem)
        self.failed.add(problem.key.rsplit(".", 1)[-1])

    def sound(self, *keys: str) -> bool:
        """None of ``keys`` failed: a check across them judges values somebody set, not stand-in defaults."""
        return not self.failed.intersection(keys)

    def require(self, key: str, text: str) -> None:
        """A key the modes require is missing: a problem only once the modes are known, and not when a misspelt
        key was reported as meaning it (`vaultAdress`: one problem, not a second that vaultAddress is missing)."""
        if not self.undecided and key not in self.misspelt:
            self.fail(key, text)

    def get(self, key: str) -> Any:
        """The key's value, read as its kind in stack/settings.py says (a problem recorded by key, and the
        default in its place); None for an unset key without a default."""
        return settings.BY_KEY[key].kind.read(self, key)

    def text(self, key: str, default: str | None = None) -> str | None:
        return self.raw.get(key, default)

    def structured(self, key: str) -> Any:
        """A structured config value: a list or object in Pulumi.<stack>.yaml or set with `--path` (the engine
        hands it over as JSON), or YAML/JSON text set as a string (`[a1, a2]`); None when unreadable."""
        import yaml

        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            return value
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            self.fail(f"{key}", "is not a list; write it as YAML in Pulumi.<stack>.yaml or set entries with `--path`")
            return None

    @staticmethod
    def default(key: str) -> str:
        """The key's default, from the table of settings (stack/settings.py): the one place it is written."""
        value = settings.BY_KEY[key].default
        assert value is not None, f"{key} has no default in stack/settings.py"
        return value

    def choice(self, key: str, choices: tuple[str, ...], why: str = "") -> str:
        default = self.default(key)
        value = self.raw.get(key, default)
        if value not in choices:
            self.fail(f"{key}", f"{value!r} is not one of {', '.join(choices)}" + (f" ({why})" if why else ""))
            return default
        return value

    def duration(self, key: str) -> Duration:
        default = self.default(key)
        text = self.raw.get(key, default)
        parsed = parse_duration(text)
        if parsed is None:
            self.fail(
                f"{key}",
                f"{text!r} is not a duration; write whole hours, minutes and seconds such as 48h, 90m, 1h30m or 3600s",
            )
            return parse_duration(default)  # type: ignore[return-value]
        if parsed.seconds > GO_MAX_DURATION_SECONDS:
            self.fail(
                f"{key}", f"{text} is longer than Go's largest duration (2562047h), which Vault and cert-manager use"
            )
            return parse_duration(default)  # type: ignore[return-value]
        return parsed

    def integer(self, key: str, low: int, high: int) -> int:
        default = int(self.default(key))
        text = self.raw.get(key, str(default))
        try:
            value = int(text)
        except ValueError:
            self.fail(f"{key}", f"{text!r} is not a whole number from {low} to {high}")
            return default
        if not low <= value <= high:
            self.fail(f"{key}", f"{value} is not a whole number from {low} to {high}")
            return default
        return value

    def boolean(self, key: str) -> bool:
        default = BOOLEANS[self.default(key)]
        text = self.raw.get(key)
        if text is None:
            return default
        if str(text).lower() not in BOOLEANS:
            self.fail(f"{key}", f"{text!r} is not one of true, false")
            return default
        return BOOLEANS[str(text).lower()]

    def pattern(self, key: str, regex: re.Pattern[str], what: str) -> str:
        default = self.default(key)
        value = self.raw.get(key, default)
        if not regex.match(value):
            self.fail(f"{key}", f"{value!r} is not {what}")
            return default
        return value

    def url(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        problem = address_problem(value)
        if problem:
            self.fail(
                f"{key}",
                f"{value!r} {problem}; write scheme, host and optional port only, "
                "such as https://vault.example.com or http://10.0.0.5:8200",
            )
            return None
        return value.rstrip("/")

    def token_problem(self, key: str, value: str) -> bool:
        if key in TOKEN_KEYS and not TOKEN.match(value):
            self.fail(
                f"{key}",
                "is not printable ASCII of at most 4096 characters (it holds a space, newline, NUL or "
                "other character Vault's tokens and ids never hold); it goes into an HTTP header and a container's "
                "environment: give the value alone (`printf %s ... | pulumi config set --secret`)",
            )
            return True
        return False

    def secret(self, key: str) -> Secret | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if self.token_problem(key, str(value)):
            return None
        if key not in self.secret_keys:
            self.fail(
                f"{key}",
                f"is stored in plain text; set it with "
                f"`pulumi config set --secret {key} ...` (it must stay a Pulumi secret)",
            )
        return Secret(value)


class EntryReader(Reader):
    """A `clusters` entry over the top-level keys: its problems name ``clusters[i].key``."""

    def __init__(self, entry: dict[str, str], inherited: Mapping[str, str], label: str, secret: bool):
        super().__init__({**inherited, **entry}, {"kubeconfig"} if secret else set())
        self.entry = entry
        self.inherited = set(inherited) - set(entry)
        self.label = label

    def fail(self, key: str | Problem, text: str = "") -> None:
        problem = key if isinstance(key, Problem) else Problem(key, text)
        self.failed.add(problem.key)
        # A problem of a top-level value the entry inherits is the top-level key's (reported once).
        self.problems.append(
            problem if problem.key in self.inherited else Problem(f"{self.label}.{problem.key}", problem.text)
        )

    def secret(self, key: str) -> Secret | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if key in self.entry and key not in self.secret_keys:
            self.problems.append(
                Problem(
                    f"{self.label}.{key}",
                    "is stored in plain text; set it with "
                    f"`pulumi config set --secret --path '{self.label}.{key}' ...` (it must stay a Pulumi secret)",
                )
            )
        return Secret(value)


def scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
