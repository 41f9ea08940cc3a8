"""What a setting's value may be: each setting of stack/settings.py has one kind, which reads its value (every
problem recorded by key, stack/config/reader.py) and says in the docs table what it accepts.

A kind is data: ``Choice`` (the values, each with what it means), ``Pattern`` (a regex and its words),
``Whole`` (a range), and the plain ones (``DURATION``, ``BOOLEAN``, ``URL``, ``TEXT``, ``SECRET``,
``STRUCTURED``). It calls the reader it is handed; it imports nothing of the config, so the table of settings
can hold it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The names the settings take.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")
DNS_NAME = re.compile(r"^(?=.{1,64}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MOUNT_PATH = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
# Lowercase: Vault lowercases policy names, and the signing policy is named after the mount.
LOWER_MOUNT_PATH = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")
ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# RFC 5280's upper bound on a common name.
MAX_COMMON_NAME = 64
# A pinned image: a tag, a digest or both (an untagged name is whatever `latest` is that day). A registry
# host may carry a port. Docker caps a reference at 255 characters.
PINNED_IMAGE = re.compile(
    r"^(?=.{1,255}$)([a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$"
)
# A token audience: printable, no space or comma (a URL or a plain name).
AUDIENCE = re.compile(r"^[!-+\--~]{1,256}$")


class Kind:
    """How a setting's value is read (``read(reader, key)``), and what the docs table says it accepts."""

    def read(self, r: Any, key: str) -> Any:
        raise NotImplementedError

    def accepted(self) -> str:
        return ""


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few words, each with what it means ("" where the word says it)."""

    meanings: tuple[tuple[str, str], ...]
    why: str = ""  # said with a refused value

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.meanings)

    def read(self, r: Any, key: str) -> str:
        return r.choice(key, self.values, self.why)

    def accepted(self) -> str:
        return ", ".join(f"`{value}`" + (f" ({meaning})" if meaning else "") for value, meaning in self.meanings)


def choice(*values: str | tuple[str, str], why: str = "") -> Choice:
    """``choice("a", ("b", "what b means"))``."""
    return Choice(tuple((v, "") if isinstance(v, str) else v for v in values), why)


@dataclass(frozen=True)
class Pattern(Kind):
    regex: re.Pattern[str]
    what: str  # "a lowercase DNS label of at most 32 characters": the docs' words and the refusal's

    def read(self, r: Any, key: str) -> str:
        return r.pattern(key, self.regex, self.what)

    def accepted(self) -> str:
        return self.what


@dataclass(frozen=True)
class Whole(Kind):
    low: int
    high: int

    def read(self, r: Any, key: str) -> int:
        return r.integer(key, self.low, self.high)

    def accepted(self) -> str:
        return f"a whole number from {self.low} to {self.high}"


@dataclass(frozen=True)
class Plain(Kind):
    """A kind the reader has a method for: ``reads`` names it; ``says`` is the docs' words."""

    reads: str
    says: str = ""

    def read(self, r: Any, key: str) -> Any:
        return getattr(r, self.reads)(key)

    def accepted(self) -> str:
        return self.says


DURATION = Plain("duration", "a duration (`48h`, `90m`, `1h30m`, `3600s`)")
BOOLEAN = Plain("boolean", "`true`, `false`")
URL = Plain("url", "scheme, host and port only (`https://vault.example.com`)")
TEXT = Plain("text")
SECRET = Plain("secret", "**secret**")
STRUCTURED = Plain("structured")
